"""The reproduction scripts (scripts/train_default_*.sh) stay true to the CLI: every
``$GALSEG ...`` command they run is one that ``galseg`` accepts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from galseg.cli.main import build_parser

SCRIPTS = sorted((Path(__file__).parents[1] / "scripts").glob("train_default_*.sh"))


def _galseg_commands(script: Path) -> list[list[str]]:
    """The argument lists of the script's ``$GALSEG`` commands, expanded by bash with the
    script's own variable defaults (nothing is run)."""
    text = script.read_text().replace("\\\n", " ")
    lines = text.splitlines()
    settings = [line for line in lines if re.match(r"^[A-Z0-9_]+=", line)]
    commands = [line.replace("$GALSEG", "printf '%s\\0'", 1) + "; printf '\\n'"
                for line in lines if line.startswith("$GALSEG ")]
    output = subprocess.run(["bash", "-c", "\n".join(["set -u", *settings, *commands])],
                            capture_output=True, text=True, check=True).stdout
    return [line.rstrip("\0").split("\0") for line in output.splitlines()]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_reproduction_script_commands_parse(script):
    commands = _galseg_commands(script)
    assert commands, f"{script.name} runs no galseg command"
    parser = build_parser()
    for argv in commands:
        try:
            args = parser.parse_args(argv)
        except SystemExit as error:  # argparse reports a bad option this way
            pytest.fail(f"{script.name}: galseg {' '.join(argv)} is rejected ({error})")
        assert callable(getattr(args, "func", None)), argv
