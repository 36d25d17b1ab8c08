"""Screenshots of the `galseg review` page and a report figure, for docs/review.md.

    python benchmarks/review_screenshots.py REVIEW_DIR --out docs/images [--show NAME]

Serves REVIEW_DIR (a review made with `galseg review prepare`; use a throwaway copy: this
script adds reviewers and choices to it) on 127.0.0.1, opens it in headless chromium
(Debian's, through Playwright) at a laptop size (1366 x 768) and a phone size
(390 x 844, 2x pixels), and writes ``review_laptop.jpg``, ``review_phone.jpg`` and
``review_zoom.jpg`` (JPEG: screenshots of star fields are megabytes as PNG). With
``--show NAME`` the screenshot reviewer first answers "both good" to the pairs before
galaxy NAME, so that NAME is on screen.

Before that, ``--scripted N`` scripted reviewers (default 3) answer every pair at random,
with the probabilities of ``--weights`` for (A better, B better, both good, both bad),
and the report figure of these scripted choices is written as ``review_report.png``: it
shows the layout of a report, not what experts think.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn
from playwright.sync_api import sync_playwright

from galseg.review.app import create_app, review_url
from galseg.review.report import OUTCOMES, choice_for, review_report
from galseg.review.store import ReviewStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(review_dir: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(review_dir), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _wait_for_images(page) -> None:
    for _ in range(200):
        if page.evaluate("Array.from(document.querySelectorAll('.panel img'))"
                         ".every(i => i.complete && i.naturalWidth > 0)"):
            return
        page.wait_for_timeout(50)
    raise RuntimeError("the images did not load")


def screenshots(review_dir: Path, out: Path, *, show: str | None, chromium: str) -> None:
    store = ReviewStore(review_dir)
    taken = {r["name"] for r in store.reviewers()}
    name = next(n for n in (f"A. Reviewer{'' if k == 0 else f' {k}'}" for k in range(1000))
                if n not in taken)
    token = store.add_reviewer(name)
    reviewer = store.reviewer_for_token(token)
    if show is not None:
        images = {p["image_file"]: p["name"] for p in store.pairs()}
        if show not in images.values():
            raise SystemExit(f"no pair of galaxy {show!r} in {review_dir}")
        position = 1
        while images[store.item(reviewer, position)["image_file"]] != show:
            store.record_choice(reviewer, position, "both_good")
            position += 1
    server, thread, base = _serve(review_dir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            sizes = {"laptop": ({"width": 1366, "height": 768}, {}),
                     "phone": ({"width": 390, "height": 844},
                               {"is_mobile": True, "has_touch": True, "device_scale_factor": 2})}
            for label, (viewport, options) in sizes.items():
                context = browser.new_context(viewport=viewport, **options)
                page = context.new_page()
                page.goto(review_url(base, token))
                page.wait_for_selector("#review:not([hidden])")
                _wait_for_images(page)
                page.screenshot(path=str(out / f"review_{label}.jpg"), quality=88)
                if label == "laptop":
                    frame = page.locator(".panel[data-side=A] .frame")
                    box = frame.bounding_box()
                    frame.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.45})
                    page.wait_for_timeout(300)
                    page.screenshot(path=str(out / "review_zoom.jpg"), quality=88)
                context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def scripted_report(review_dir: Path, out: Path, *, n_reviewers: int, weights: list[float],
                    seed: int) -> None:
    store = ReviewStore(review_dir)
    rng = np.random.default_rng(seed)
    left_of = {p["image_file"]: p["left_source"] for p in store.pairs()}
    p = np.asarray(weights, float) / np.sum(weights)
    for k in range(n_reviewers):
        reviewer = store.reviewer_for_token(store.add_reviewer(f"scripted reviewer {k + 1}"))
        for position in range(1, store.n_pairs() + 1):
            wanted = str(rng.choice(OUTCOMES, p=p))
            shown_left = left_of[store.item(reviewer, position)["image_file"]]
            store.record_choice(reviewer, position, choice_for(wanted, shown_left))
    report = review_report(review_dir)
    with tempfile.TemporaryDirectory() as folder:
        report.write(folder)
        shutil.copy(Path(folder) / "report.png", out / "review_report.png")
    print("\n".join(report.lines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("review_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--show", help="galaxy name to have on screen")
    parser.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    parser.add_argument("--scripted", type=int, default=3, metavar="N")
    parser.add_argument("--weights", type=float, nargs=4, default=[0.5, 0.2, 0.2, 0.1])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scripted:  # first, so that the screenshot reviewer's answers are not in it
        scripted_report(args.review_dir, args.out, n_reviewers=args.scripted,
                        weights=args.weights, seed=args.seed)
    screenshots(args.review_dir, args.out, show=args.show, chromium=args.chromium)


if __name__ == "__main__":
    main()
