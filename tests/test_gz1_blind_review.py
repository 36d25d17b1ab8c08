"""benchmarks/gz1_blind_review.py: the blind sheet hides the groups, the score reads them."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gz1_blind_review.py"


def test_blind_sheet_and_score(tmp_path, capsys):
    script = runpy.run_path(str(SCRIPT))
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    # 2 face-on spirals called elliptical, 3 called spiral, 3 ellipticals called elliptical
    for k, (code, p) in enumerate([(1, 0.2), (2, 0.4), (1, 0.9), (2, 0.8), (1, 0.7),
                                   (0, 0.1), (0, 0.2), (0, 0.3)]):
        objid = str(100 + k)
        Image.fromarray(np.full((200, 200, 3), 10 * k, np.uint8)).save(images / f"{objid}.jpeg")
        rows.append((objid, "gz1", "True", code, p))
    rows.append(("999", "sim", "True", 0, 0.1))  # not GZ1: left out
    Table(rows=rows, names=("image", "source", "matched", "gz1_class", "p_spiral")).write(
        tmp_path / "objects.csv", format="ascii.csv")
    out = tmp_path / "review"
    script["make_sheet"](tmp_path / "objects.csv", images, out, 22, 0)
    key = Table.read(out / "key.csv", format="ascii.csv")
    assert len(key) == 6 and sorted(key["group"]) == ["elliptical"] * 2 + ["missed"] * 2 + \
        ["right"] * 2
    assert {str(i) for i in key["objid"][key["group"] == "missed"]} == {"100", "101"}
    with Image.open(out / "blind.png") as sheet:
        assert sheet.size == (11 * 152, 152)
    pairs = zip(key["number"], key["group"], strict=True)
    (out / "ratings.txt").write_text("".join(
        f"{n} {'E' if g == 'missed' else 'S'}\n" for n, g in pairs))
    script["score"](out)
    assert "missed {'S': 0, 'U': 0, 'E': 2}" in capsys.readouterr().out
    review = Table.read(out / "review.csv", format="ascii.csv")
    assert len(review) == 6 and set(review["rating"]) == {"S", "E"}
    (out / "ratings.txt").write_text("1 S\n")
    with pytest.raises(ValueError, match="no rating"):
        script["score"](out)
