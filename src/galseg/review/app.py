"""The review web app (Starlette): token links, the reviewer's page and its JSON API.

Security model (docs/review.md):

* **Nothing without a token.** A reviewer's link ``/r/<token>`` sets an HttpOnly cookie
  (:func:`cookie_name`) holding the token and redirects to the page; every other request
  (page, script, style, images, API; unknown paths too) needs that cookie to name a
  reviewer, else 403 and a one-line text body. Only the token's SHA-256 is in the database.
* **Own choices only.** Every query is scoped to the reviewer the cookie names. Pairs are
  addressed by position in the reviewer's own order, so no id in a request reaches
  another reviewer's choices, and nothing served says which source is on which side
  or what others chose.
* **Posts checked.** A post must be JSON, come from this origin (``Origin`` header) and
  carry the page's same-origin token (an HMAC of the reviewer's token hash under the
  review's secret) in ``X-Review-Token``.
* **Limits.** Bodies over :data:`MAX_BODY_BYTES` get 413, headers over
  :data:`MAX_HEADER_BYTES` 431 (the server also caps what it buffers). Responses forbid
  framing, sniffing, referrers and scripts from anywhere else (Content-Security-Policy).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from importlib.resources import files
from os import PathLike
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galseg.review.store import CHOICES, ReviewConflict, Reviewer, ReviewStore

COOKIE_PREFIX = "galseg_review_"
COOKIE_MAX_AGE_S = 60 * 24 * 3600
"""The link's cookie lasts 60 days, so a reviewer can stop and come back."""
MAX_BODY_BYTES = 1024
"""Largest request body accepted (a choice is about 40 bytes)."""
MAX_HEADER_BYTES = 8192
"""Largest total size of a request's header names and values (431 beyond)."""
TOKEN_HEADER = "x-review-token"
QUESTIONS = {"spiral": "Which outline marks the spiral arms better?",
             "bar": "Which outline marks the bar better?"}

_STATIC = {"review.js": "text/javascript; charset=utf-8",
           "review.css": "text/css; charset=utf-8"}
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def _asset(name: str) -> str:
    return files("galseg.review").joinpath("static", name).read_text(encoding="utf-8")


async def _send_plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *_SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware in front of every route: size limits, the token, security headers.

    Requests with headers over :data:`MAX_HEADER_BYTES` get 431, and those whose
    ``Content-Length`` exceeds :data:`MAX_BODY_BYTES` 413, before anything else; a body
    streamed past it is cut off the same way. Every path but ``/r/<token>`` needs the
    cookie of a valid link (else 403); the reviewer it names is put in
    ``scope['state']['reviewer']``.
    """

    def __init__(self, app: ASGIApp, store: ReviewStore) -> None:
        self.app = app
        self.store = store
        self.cookie = cookie_name(store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            await _send_plain(send, 431, "request headers too large")
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _send_plain(send, 413, "request too large")
            return
        if not scope["path"].startswith("/r/"):
            reviewer = await to_thread.run_sync(self.store.reviewer_for_token,
                                                _cookie_token(headers.get(b"cookie"),
                                                              self.cookie))
            if reviewer is None:
                await _send_plain(send, 403, "forbidden: open the page with your review link")
                return
            scope.setdefault("state", {})["reviewer"] = reviewer

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise _TooLarge
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  *_SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            if not started:
                await _send_plain(send, 413, "request too large")


def cookie_name(store: ReviewStore) -> str:
    """The review's cookie: ``galseg_review_`` and an id of the review, so that two reviews
    served from one host (cookies do not tell ports apart) keep their own links."""
    digest = hashlib.sha256(f"cookie:{store.meta['secret']}".encode()).hexdigest()
    return COOKIE_PREFIX + digest[:12]


def _cookie_token(raw: bytes | None, name: str) -> str | None:
    if not raw:
        return None
    cookie = SimpleCookie()
    try:
        cookie.load(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = cookie.get(name)
    return morsel.value if morsel is not None else None


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


def _error(status: int, message: str) -> JSONResponse:
    return _no_store(JSONResponse({"error": message}, status_code=status))


def create_app(review_dir: str | PathLike[str]) -> Starlette:
    """The web app of one review folder (``galseg review serve`` runs it with uvicorn)."""
    store = ReviewStore(review_dir)
    root = store.review_dir.resolve()
    feature = store.meta["feature"]
    cookie = cookie_name(store)

    def reviewer_of(request: Request) -> Reviewer:
        return request.state.reviewer

    async def run(function: Callable[..., Any], *args: Any) -> Any:
        return await to_thread.run_sync(function, *args)

    async def enter(request: Request) -> Response:
        token = request.path_params["token"]
        if await run(store.reviewer_for_token, token) is None:
            return _no_store(Response("forbidden: this review link is not valid",
                                      status_code=403, media_type="text/plain"))
        response = RedirectResponse("/", status_code=303)
        # Lax, not Strict: a link opened from a mail program must reach the page; posts
        # are protected by the same-origin token instead.
        response.set_cookie(cookie, token, max_age=COOKIE_MAX_AGE_S, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https", path="/")
        return _no_store(response)

    async def page(request: Request) -> Response:
        reviewer = reviewer_of(request)
        token = await run(store.same_origin_token, reviewer)
        text = (_asset("index.html")
                .replace("{{question}}", html.escape(QUESTIONS[feature]))
                .replace("{{reviewer}}", html.escape(reviewer.name))
                .replace("{{token}}", html.escape(token)))
        return _no_store(Response(text, media_type="text/html; charset=utf-8"))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _error(404, "not found")
        response = Response(_asset(name), media_type=_STATIC[name])
        response.headers["cache-control"] = "private, max-age=300"
        return response

    async def state(request: Request) -> Response:
        return _no_store(JSONResponse(await run(store.state, reviewer_of(request))))

    async def item(request: Request) -> Response:
        position = request.path_params["position"]
        found = await run(store.item, reviewer_of(request), position)
        if found is None:
            return _error(404, "no such pair")
        return _no_store(JSONResponse({
            "position": position, "width": found["width"], "height": found["height"],
            "image": f"/img/{position}.png",
            "outlines": {"A": found["left"], "B": found["right"]}}))

    async def image(request: Request) -> Response:
        found = await run(store.item, reviewer_of(request), request.path_params["position"])
        if found is None:
            return _error(404, "no such pair")
        path = (root / found["image_file"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return _error(404, "image missing from the review folder")
        return FileResponse(path, media_type="image/png",
                            headers={"cache-control": "private, max-age=3600"})

    async def checked_post(request: Request) -> dict[str, Any] | Response:
        """The JSON body of a post that passed the same-origin checks, or an error."""
        reviewer = reviewer_of(request)
        expected = await run(store.same_origin_token, reviewer)
        sent = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode()):
            return _error(403, "missing or wrong same-origin token; reload the page")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is not None and origin != own:
            return _error(403, "cross-origin post refused")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return _error(403, "cross-site post refused")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "posts must be application/json")
        body = b""
        async for chunk in request.stream():
            body += chunk
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body is not JSON")
        position = data.get("position") if isinstance(data, dict) else None
        if isinstance(position, bool) or not isinstance(position, int):
            return _error(400, "position must be an integer")
        return data

    async def choose(request: Request) -> Response:
        data = await checked_post(request)
        if isinstance(data, Response):
            return data
        if data.get("choice") not in CHOICES:
            return _error(400, f"choice must be one of {', '.join(CHOICES)}")
        try:
            result = await run(store.record_choice, reviewer_of(request), data["position"],
                               data["choice"])
        except ReviewConflict as conflict:
            return _error(409, str(conflict))
        return _no_store(JSONResponse(result))

    async def undo(request: Request) -> Response:
        data = await checked_post(request)
        if isinstance(data, Response):
            return data
        try:
            result = await run(store.undo_last, reviewer_of(request), data["position"])
        except ReviewConflict as conflict:
            return _error(409, str(conflict))
        return _no_store(JSONResponse(result))

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method not allowed")

    routes = [
        Route("/r/{token}", enter, methods=["GET"]),
        Route("/", page, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/item/{position:int}", item, methods=["GET"]),
        Route("/img/{position:int}.png", image, methods=["GET"]),
        Route("/api/choice", choose, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/favicon.ico", no_icon, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        404: not_found, 405: not_allowed}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(Guard, store=store)
    return app


def review_url(base: str, token: str) -> str:
    """A reviewer's secret link: ``<base>/r/<token>``."""
    return f"{base.rstrip('/')}/r/{token}"


def serve(review_dir: str | PathLike[str], *, host: str = "127.0.0.1", port: int = 8765,
          log_level: str = "warning") -> None:
    """Serve the review with uvicorn until interrupted.

    The access log is off: it would write the token of every link followed.
    """
    import uvicorn

    app = create_app(Path(review_dir))
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                server_header=False, limit_concurrency=200, timeout_keep_alive=5,
                h11_max_incomplete_event_size=16 * 1024)
