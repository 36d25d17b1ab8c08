"""``galseg review``: blinded expert review of two sources of masks in the browser.

``prepare`` makes a review folder of mask pairs, ``invite`` adds a reviewer and prints
their secret link, ``serve`` runs the web app, ``report`` writes the tables and the
figure. A thin layer over :mod:`galseg.review` (docs/review.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from galseg.cli._args import vote_threshold

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg review`` and its four subcommands."""
    parser = subparsers.add_parser(
        "review",
        help="blinded expert review of two sources of masks in the browser",
        description=(
            "Blinded comparison of two sources of spiral-arm or bar masks (two models, or a "
            "model and the volunteers) by expert reviewers in a web browser, as in Walmsley "
            "& Spindler (2023): prepare the pairs, invite reviewers, serve the page, report "
            "which source they preferred. See docs/review.md."
        ),
    )
    commands = parser.add_subparsers(dest="review_command", metavar="STEP")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    prepare = commands.add_parser(
        "prepare", help="pairs of masks of the same galaxies from two sources",
        description=(
            "Pair the masks of the same galaxies from two folders of vote-fraction maps "
            "(<name>_masks.fits from `galseg segment`, <name>_votes.fits from `galseg "
            "labels`), drawn over each galaxy's image, with the side each source is shown "
            "on drawn at random and stored (never shown to reviewers). Files are matched "
            "by name, else by the sky position of their WCS centres."))
    prepare.add_argument("a_dir", type=Path, metavar="A_DIR", help="source A's maps")
    prepare.add_argument("b_dir", type=Path, metavar="B_DIR", help="source B's maps")
    prepare.add_argument("--images", required=True, nargs="+", metavar="IMG",
                         help="the galaxies' images: folders, files or patterns")
    prepare.add_argument("--out", required=True, type=Path, metavar="REVIEW_DIR",
                         help="new review folder")
    prepare.add_argument("--feature", choices=("spiral", "bar"), default="spiral",
                         help="which masks to compare (default: %(default)s)")
    prepare.add_argument("--threshold", type=vote_threshold, default=3, metavar="VOTES",
                         help="votes a pixel needs to be in a mask: out of 15 for a model's "
                              "maps (fraction x 15 >= VOTES - 0.5, as `galseg segment "
                              "--thresholds`), out of the volunteers for `galseg labels` maps "
                              "(default: %(default)s)")
    prepare.add_argument("--n", type=int, default=None, metavar="N",
                         help="pairs to draw at random (default: every matched galaxy)")
    prepare.add_argument("--seed", type=int, default=0, metavar="S",
                         help="seed of the draws of galaxies, sides and each reviewer's "
                              "order (default: %(default)s)")
    prepare.add_argument("--names", nargs=2, metavar=("NAME_A", "NAME_B"),
                         help="the sources' names in the report (default: folder names)")
    prepare.add_argument("--match-radius", type=float, default=1.0, metavar="ARCSEC",
                         help="radius for matching files by sky position (default: 1)")
    prepare.add_argument("--keep-identical", action="store_true",
                         help="keep galaxies whose two masks are the same (left out by "
                              "default: there is nothing to choose)")
    prepare.set_defaults(func=run_prepare)

    invite = commands.add_parser(
        "invite", help="add a reviewer and print their secret link",
        description=(
            "Add a reviewer and print their secret link (http://HOST:PORT/r/<token>). Only "
            "a hash of the token is stored: keep the link, or make a new one with "
            "--new-link (the old link stops working). Send each reviewer only their own."))
    invite.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    invite.add_argument("name", metavar="NAME", help="the reviewer's name (unique)")
    invite.add_argument("--host", default=DEFAULT_HOST,
                        help="host name in the link (default: %(default)s)")
    invite.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port in the link (default: %(default)s)")
    invite.add_argument("--url", metavar="BASE",
                        help="base of the link instead of http://HOST:PORT, e.g. "
                             "https://review.example.org behind a TLS proxy")
    invite.add_argument("--new-link", action="store_true",
                        help="replace an existing reviewer's link (their choices are kept)")
    invite.set_defaults(func=run_invite)

    serve = commands.add_parser(
        "serve", help="run the review web app",
        description=(
            "Serve the review page to the invited reviewers until Ctrl+C. Listens on "
            "127.0.0.1 (this computer only) unless --host says otherwise; plain HTTP, so "
            "for reviewers elsewhere put it behind a TLS proxy or an SSH tunnel. Every "
            "choice is saved in REVIEW_DIR/review.sqlite as it is made."))
    serve.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help="port (default: %(default)s)")
    serve.set_defaults(func=run_serve)

    report = commands.add_parser(
        "report", help="which source the reviewers preferred: tables and a figure",
        description=(
            "Per source, the fraction of decisive choices that preferred it with an exact "
            "binomial 95%% interval and the p-value against 50%%; both-good and both-bad "
            "rates; per reviewer and per galaxy; Fleiss' kappa between reviewers. Writes "
            "summary.csv, summary.ecsv, choices.csv and report.png."))
    report.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    report.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default: REVIEW_DIR/report)")
    report.set_defaults(func=run_report)
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``galseg review prepare``."""
    from tqdm import tqdm

    from galseg.errors import InputFileError
    from galseg.review.prepare import prepare_review

    if args.n is not None and args.n < 1:
        return _fail("--n must be at least 1")
    try:
        result = prepare_review(
            args.a_dir, args.b_dir, args.images, args.out, feature=args.feature,
            threshold_votes=args.threshold, n=args.n, seed=args.seed,
            names=tuple(args.names) if args.names else None, radius_arcsec=args.match_radius,
            keep_identical=args.keep_identical,
            on_error=lambda path, reason: tqdm.write(f"error: {path}: {reason}",
                                                     file=sys.stderr))
    except (InputFileError, FileExistsError, ValueError) as error:
        return _fail(str(error))
    for line in result.unmatched:
        print(f"skipped: {line}", file=sys.stderr)
    meta = result.store.meta
    print(f"galseg review prepare: {result.n_pairs} pairs of {meta['feature']} masks at >= "
          f"{meta['threshold_votes']} votes ({meta['source_a_name']} vs "
          f"{meta['source_b_name']}) from {result.n_matched} matched galaxies -> {args.out}"
          + (f"; {result.n_identical} left out with identical masks" if result.n_identical
             else "")
          + (f"; {len(result.failures)} failed" if result.failures else ""), file=sys.stderr)
    print(f"next: galseg review invite {args.out} NAME", file=sys.stderr)
    return 1 if result.failures else 0


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def run_invite(args: argparse.Namespace) -> int:
    """Run ``galseg review invite``."""
    from galseg.review.app import review_url
    from galseg.review.store import ReviewStore

    try:
        token = ReviewStore(args.review_dir).add_reviewer(args.name, new_link=args.new_link)
    except (FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    base = args.url or f"http://{_url_host(args.host)}:{args.port}"
    print(review_url(base, token))
    print(f"{'new link for' if args.new_link else 'invited'} {args.name!r}: send them this "
          "link and no one else; it is shown only now", file=sys.stderr)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_serve(args: argparse.Namespace) -> int:
    """Run ``galseg review serve``."""
    from galseg.review.app import serve
    from galseg.review.store import ReviewStore

    try:
        store = ReviewStore(args.review_dir)
    except (FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    reviewers = store.reviewers()
    n_pairs = store.n_pairs()
    done = ", ".join(f"{r['name']} {r['n_done']}/{n_pairs}" for r in reviewers)
    print(f"galseg review: {n_pairs} pairs, {len(reviewers)} reviewers"
          + (f" ({done})" if done else ""), file=sys.stderr)
    if not reviewers:
        print(f"no reviewers yet: galseg review invite {args.review_dir} NAME", file=sys.stderr)
    if not _is_loopback(args.host):
        print(f"warning: listening on {args.host}: reachable from other computers over plain "
              "HTTP; use a TLS proxy or an SSH tunnel for reviewers elsewhere", file=sys.stderr)
    print(f"serving on http://{_url_host(args.host)}:{args.port}/ (Ctrl+C to stop)",
          file=sys.stderr, flush=True)
    try:
        serve(args.review_dir, host=args.host, port=args.port)
    except OSError as error:
        return _fail(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Run ``galseg review report``."""
    from galseg.review.report import review_report

    try:
        report = review_report(args.review_dir)
    except (FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    out = args.out or args.review_dir / "report"
    written = report.write(out)
    for line in report.lines():
        print(line)
    print(f"galseg review report: {', '.join(p.name for p in written)} -> {out}",
          file=sys.stderr)
    return 0
