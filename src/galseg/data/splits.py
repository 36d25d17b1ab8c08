"""Fixed splits and folds by name.

A galaxy's split (train, validation, test) or cross-validation fold depends only on a
hash of its name, never on file order or on how many galaxies a data set holds, so
adding galaxies never moves an old one from test to train. Every split in galseg (the
segmenter's examples, the Galaxy Zoo 1 train/test split, the detector's validation
share, the ensembles' folds) draws its number from :func:`unit_hash`.
"""

from __future__ import annotations

import hashlib


def unit_hash(name: str) -> float:
    """A fixed number in [0, 1) from ``name`` (SHA-256): splits and folds that depend
    only on the name, never on file order or data set size."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
