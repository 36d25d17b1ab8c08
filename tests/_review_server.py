"""A `galseg review serve` process for tests, and a small HTTP client for it.

The server runs as a real subprocess (so it can be killed with SIGKILL) on 127.0.0.1 and
a free port; :meth:`ReviewServer.stop` (or leaving the ``with`` block) ends it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from galseg.review.app import cookie_name
from galseg.review.store import ReviewStore

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# What `galseg review serve` runs, without the CLI's start-up (`galseg` imports every
# subcommand, some of them torch: seconds on a busy machine).
_SERVE = ("import sys; from galseg.review.app import serve; "
          "serve(sys.argv[1], port=int(sys.argv[2]))")


class ReviewServer:
    """The review web app of ``review_dir`` in a subprocess: ``galseg review serve
    REVIEW_DIR --port P`` with ``cli=True``, else :func:`galseg.review.app.serve` (the
    same server, started faster)."""

    def __init__(self, review_dir: Path, *, cli: bool = False) -> None:
        self.review_dir = Path(review_dir)
        self.cli = cli
        self.cookie = cookie_name(ReviewStore(review_dir))
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 300.0) -> ReviewServer:
        """Start and wait until the server answers (the CLI imports torch among its
        subcommands: on a loaded machine that alone can take a minute)."""
        self.port = free_port()
        command = ([sys.executable, "-m", "galseg", "review", "serve", str(self.review_dir),
                    "--port", str(self.port)] if self.cli
                   else [sys.executable, "-c", _SERVE, str(self.review_dir), str(self.port)])
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()}")
            try:
                status, _, _ = self.request("GET", "/favicon.ico")
            except OSError:
                time.sleep(0.05)
                continue
            if status == 403:  # up, and asking for a token
                return self
        self.stop()
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stderr.close()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process.stderr.close()
            self.process = None

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(self, method: str, path: str, *, token: str | None = None,
                body: bytes | str | dict | None = None, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], bytes]:
        """One request; returns status, headers (lower-case names) and body."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Cookie"] = f"{self.cookie}={token}"
        if isinstance(body, dict):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            connection.close()


class ReviewerClient:
    """What a reviewer's page does: the same-origin token from the page, then the API."""

    def __init__(self, server: ReviewServer, token: str) -> None:
        self.server = server
        self.token = token
        status, _, page = server.request("GET", "/", token=token)
        assert status == 200, status
        marker = b'<meta name="review-token" content="'
        start = page.index(marker) + len(marker)
        self.same_origin_token = page[start:page.index(b'"', start)].decode()

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = self.server.request("GET", path, token=self.token)
        return status, json.loads(body) if body.startswith(b"{") else body

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = self.server.request(
            "POST", path, token=self.token, body=data,
            headers={"X-Review-Token": self.same_origin_token, "Origin": self.server.base})
        return status, json.loads(body)

    def state(self) -> dict[str, Any]:
        status, state = self.get("/api/state")
        assert status == 200
        return state

    def choose(self, choice: str, position: int | None = None) -> tuple[int, Any]:
        position = self.state()["position"] if position is None else position
        return self.post("/api/choice", {"position": position, "choice": choice})

    def undo(self, position: int | None = None) -> tuple[int, Any]:
        if position is None:
            position = self.state()["last"]["position"]
        return self.post("/api/undo", {"position": position})
