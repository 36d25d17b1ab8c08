"""The example data bundled with galseg (used by `make demo`) is complete and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from galseg.predict.shred_catalog import clean_catalog
from galseg.predict.shreds import ShredClassifier

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_bundled_shred_catalog_runs_through_galseg_shreds(tiny_shred_model_path, tmp_path):
    catalog = EXAMPLES / "shreds" / "catalog.csv"
    classifier = ShredClassifier.from_file(tiny_shred_model_path, device="cpu")
    out = tmp_path / "clean.csv"
    result = clean_catalog(catalog, out, classifier=classifier,
                           images_dir=EXAMPLES / "shreds" / "cutouts", progress=False)
    original, cleaned = Table.read(catalog), Table.read(out)
    assert result.flag_counts == {"ok": len(original)} and len(original) == 29
    assert cleaned.colnames == [*original.colnames, "p_shred", "is_shred", "shred_flag"]
    assert list(cleaned["id"]) == list(original["id"])
    assert np.all(np.isfinite(cleaned["p_shred"]))
    # the truth column is not the output column
    assert int(np.sum(original["true_is_shred"])) == 15
