"""Entry point of the ``galseg`` command.

Each subcommand lives in its own module of :mod:`galseg.cli` and provides
``add_parser(subparsers)`` (which registers its arguments and sets
``func``) so this file only lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from galseg import __version__

# Subcommand modules, in the order `galseg --help` lists them (the data flow).
SUBCOMMAND_MODULES = (
    "galseg.cli.simulate",
    "galseg.cli.labels",
    "galseg.cli.train",
    "galseg.cli.gz1",
    "galseg.cli.segment",
    "galseg.cli.detect",
    "galseg.cli.shreds",
    "galseg.cli.survey",
    "galseg.cli.evaluate",
    "galseg.cli.review",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``galseg`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="galseg",
        description=(
            "Galaxy structure from images: spiral-arm and bar maps with measurements "
            "(segment), every galaxy found, outlined and classified (detect), shred flags for "
            "source catalogs (shreds), any of these over catalogs of millions of rows on Dask "
            "(survey), training and evaluation against exact truth (train, "
            "evaluate), blinded expert review of masks in the browser (review), crowd labels "
            "(labels, gz1-masks) and simulated galaxies (simulate)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"galseg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``galseg`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
