"""A small Galaxy Zoo 1 SDSS folder (labels.csv, images/) of noise pictures, for tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

FIRST_OBJID = 587722981733826700


def gz1_folder(path: Path, codes: Sequence[int], size: int = 60) -> Path:
    """Write ``path/labels.csv`` (objid, gz1_class, gz1_label) with one row per code and a
    ``size`` px noise JPEG per row; objIDs count up from :data:`FIRST_OBJID`."""
    (path / "images").mkdir(parents=True)
    rows = ["objid,gz1_class,gz1_label"]
    rng = np.random.default_rng(0)
    for i, code in enumerate(codes):
        objid = FIRST_OBJID + i
        rows.append(f"{objid},{code},x")
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            path / "images" / f"{objid}.jpeg")
    (path / "labels.csv").write_text("\n".join(rows) + "\n")
    return path
