"""Train the shred classifier with k-fold cross-validation (``galseg train shreds``).

* Data: a folder made by ``galseg simulate --shred-fields`` (or any folder laid
  out the same way): ``catalog.csv`` with ``id``, ``field`` and the truth label
  ``true_is_shred``, and one colour cutout ``cutouts/<id>_grz.png`` per row.
* Folds are by **field**, not by detection: shreds of one host look alike.
* Training, resuming and calibration are those of every galseg cutout classifier
  (:mod:`galseg.training.ensemble`): one network per fold with early stopping on
  the held-out fold (Di Teodoro et al. 2023: 5 folds, patience 5), Platt scaling
  of the mean logit on the out-of-fold logits.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from galseg.errors import InputFileError
from galseg.models.weights import ShredMetadata, save_shred_classifier
from galseg.training.ensemble import (
    CutoutExamples,
    EnsembleTrainConfig,
    train_ensemble,
)
from galseg.training.examples import unit_hash

CACHE_VERSION = 2
TRUTH_COLUMN = "true_is_shred"
"""Catalog column with the truth label (1 shred, 0 not); not ``is_shred``, which is
what ``galseg shreds`` adds, so a labelled catalog can be run through it."""
SHRED_PIXSCALE_ARCSEC = 0.469
"""Pixel scale of the shred cutouts (as the paper's Legacy Surveys cutouts)."""
REAL_LABELS = ("shred", "galaxy", "star", "unclear")
"""Eye labels of real catalog sources (protocol in docs/shreds.md)."""
REAL_LABEL_CODES = {"s": "shred", "g": "galaxy", "*": "star", "u": "unclear"}
"""One-character codes for :data:`REAL_LABELS` (what a labeller types)."""
REAL_SPLITS = ("train", "calibration", "test")
REAL_SPLIT_FRACTIONS = (0.45, 0.2, 0.35)
SKY_LINK_ARCMIN = 10.0
"""Sources closer than this (friends of friends) share a split: neighbours can be
pieces of one host galaxy, and a host in two splits would leak."""


def sky_split(ra_deg: np.ndarray, dec_deg: np.ndarray, *,
              link_arcmin: float = SKY_LINK_ARCMIN,
              fractions: tuple[float, float, float] = REAL_SPLIT_FRACTIONS) -> list[str]:
    """Train / calibration / test split of real sources by sky position.

    Sources are grouped friends-of-friends with linking length ``link_arcmin``; each
    group goes to one split, fixed by a hash of the group's first position (rounded
    to 0.1 arcsec), so a source's split does not depend on the order of the catalog or
    on which other groups are in it.

    Parameters
    ----------
    ra_deg, dec_deg : ndarray, shape (N,)
        Positions in degrees.
    link_arcmin : float
        Linking length.
    fractions : (float, float, float)
        Expected fractions of groups in train, calibration and test.

    Returns
    -------
    list of str, length N
        ``'train'``, ``'calibration'`` or ``'test'`` for each source.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ra_deg = np.asarray(ra_deg, float)
    dec_deg = np.asarray(dec_deg, float)
    n = len(ra_deg)
    if n == 0:
        return []
    coords = SkyCoord(ra_deg, dec_deg, unit="deg")
    first, second, _, _ = search_around_sky(coords, coords, link_arcmin * u.arcmin)
    _, group = connected_components(
        coo_matrix((np.ones(len(first)), (first, second)), shape=(n, n)))
    edges = np.cumsum(fractions) / np.sum(fractions)
    split_of_group: dict[int, str] = {}
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        # the group's most southern-western member names it: order-free
        anchor = members[np.lexsort((ra_deg[members], dec_deg[members]))[0]]
        name = f"{ra_deg[anchor]:.5f},{dec_deg[anchor]:.5f}"
        split_of_group[int(g)] = REAL_SPLITS[
            min(int(np.searchsorted(edges, unit_hash(name), side="right")), 2)]
    return [split_of_group[int(g)] for g in group]


def load_shred_examples(
    data_dir: str | PathLike[str], *, cache: str | PathLike[str] | None = None,
    progress: bool = True,
) -> CutoutExamples:
    """Read ``data_dir/catalog.csv`` and every ``data_dir/cutouts/<id>_grz.png``.

    ``cache`` (an ``.npz`` file) keeps the arrays for the next run; it is rebuilt when
    the catalog changes.
    """
    data_dir = Path(data_dir)
    catalog_path = data_dir / "catalog.csv"
    if not catalog_path.is_file():
        raise InputFileError(catalog_path, "no shred catalog here (make one with "
                                           "'galseg simulate --shred-fields')")
    # plain csv: ids stay text exactly as written (no type guessing)
    with catalog_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    for column in ("id", "field", TRUTH_COLUMN):
        if column not in columns:
            raise InputFileError(catalog_path, f"column {column!r} is missing")
    catalog = {c: np.array([row[c] for row in rows], dtype=str) for c in columns}
    stamp = {"version": CACHE_VERSION, "catalog_bytes": catalog_path.stat().st_size,
             "catalog_mtime_ns": catalog_path.stat().st_mtime_ns, "n": len(rows)}
    if cache is not None and (cached := CutoutExamples.load(cache, stamp)) is not None:
        return cached
    ids = catalog["id"]
    images = None
    for i, name in enumerate(tqdm(ids, desc="reading cutouts", unit="cutout",
                                  disable=not progress)):
        path = data_dir / "cutouts" / f"{name}_grz.png"
        try:
            with Image.open(path) as picture:
                array = np.asarray(picture.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"unreadable cutout ({exc})") from None
        if images is None:
            images = np.empty((len(ids), *array.shape), np.uint8)
        if array.shape != images.shape[1:]:
            raise InputFileError(path, f"cutout shape {array.shape}, expected {images.shape[1:]}")
        images[i] = array
    if images is None:
        raise InputFileError(catalog_path, "the catalog has no rows")
    kinds = catalog.get("kind", np.full(len(ids), ""))
    is_shred = np.isin(np.char.lower(catalog[TRUTH_COLUMN]), ("1", "true", "t", "yes"))
    examples = CutoutExamples(ids, catalog["field"], kinds, images, is_shred)
    if cache is not None:
        examples.save(cache, stamp)
    return examples


ShredTrainConfig = EnsembleTrainConfig
"""Hyper-parameters of a shred-classifier run: :class:`~galseg.training.ensemble.
EnsembleTrainConfig` (its defaults are the shred classifier's)."""


@dataclass
class ShredTrainResult:
    """Outcome of :func:`train_shred_classifier`."""

    model_path: Path
    out_of_fold_auc: float
    out_of_fold_scores: dict[str, float]
    calibration: tuple[float, float]
    folds: list[dict[str, Any]]


def train_shred_classifier(
    data_dir: str | PathLike[str],
    model_path: str | PathLike[str],
    config: ShredTrainConfig | None = None,
    *,
    run_dir: str | PathLike[str] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> ShredTrainResult:
    """Train a k-fold ensemble on the shred catalog of ``data_dir``; write ``model_path``.

    Parameters
    ----------
    data_dir : path
        ``catalog.csv`` (``id``, ``field``, ``true_is_shred``) and ``cutouts/<id>_grz.png``.
    model_path : path
        Output model file: the k fold networks (fp16), calibration and training facts.
    config : ShredTrainConfig
    run_dir : path, optional
        Per-fold checkpoints and metrics, the cutout cache; default ``<model_path>.run/``.
    device : optional
        ``'cpu'``, ``'cuda'``...; default: CUDA when available.
    """
    config = config or ShredTrainConfig()
    model_path = Path(model_path)
    run_dir = Path(run_dir) if run_dir else model_path.with_name(model_path.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)
    examples = load_shred_examples(data_dir, cache=run_dir / "examples.npz", progress=progress)
    outcome = train_ensemble(examples, config, run_dir, device=device, progress=progress,
                             log=log, what="shreds")
    scores, calibration, infos = (outcome.out_of_fold_scores, outcome.calibration,
                                  outcome.folds)
    threshold = 0.5
    metadata = ShredMetadata(
        model=config.model, pixscale_arcsec=SHRED_PIXSCALE_ARCSEC, calibration=calibration,
        threshold=threshold,
        training={"data": str(data_dir), "n_detections": len(examples),
                  "n_fields": len(np.unique(examples.groups)),
                  "shred_fraction": float(examples.labels.mean()),
                  "out_of_fold": scores, "folds": infos, "device": str(outcome.device),
                  "minutes": outcome.minutes, "config": config.to_dict()})
    save_shred_classifier(outcome.members, metadata, model_path)
    log(f"wrote {model_path}: out-of-fold AUC {scores['auc']:.4f}, accuracy "
        f"{scores['accuracy']:.4f}, completeness {scores['completeness']:.3f}, purity "
        f"{scores['purity']:.3f}; calibration a={calibration[0]:.3f} b={calibration[1]:.3f}")
    return ShredTrainResult(model_path, scores["auc"], scores, calibration, infos)
