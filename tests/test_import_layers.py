"""The package stands in layers without import circles (import-linter, grimp).

The contracts are in pyproject.toml (``[tool.importlinter]``): the layers of
docs/architecture.md, top to bottom, and no circle between sibling modules or
packages at any depth. ``lint-imports`` prints which imports break them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter import cli as importlinter_cli

ROOT = Path(__file__).resolve().parents[1]


def test_layers_and_no_import_circles(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = importlinter_cli.lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert "2 kept, 0 broken" in report
