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
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from galseg.errors import InputFileError
from galseg.labels.eye import read_eye_labels
from galseg.models.cutout_net import CutoutNet, platt_probability
from galseg.models.weights import ShredMetadata, load_shred_classifier, save_shred_classifier
from galseg.scores import binary_scores, roc_auc
from galseg.training.ensemble import (
    CutoutExamples,
    EnsembleTrainConfig,
    fit_platt,
    predict_logits,
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


def sky_groups(ra_deg: np.ndarray, dec_deg: np.ndarray, *,
               link_arcmin: float = SKY_LINK_ARCMIN) -> list[str]:
    """Name of the sky group of each source (friends of friends, ``link_arcmin``).

    A group is named by its most southern (then western) member's position, rounded
    to about 0.04 arcsec (``'ra,dec'`` in degrees), so the name does not depend on the
    order of the catalog.
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
    # each group's first member in (dec, ra) order names it
    order = np.lexsort((ra_deg, dec_deg))
    _, first = np.unique(group[order], return_index=True)
    names = [f"{ra_deg[a]:.5f},{dec_deg[a]:.5f}" for a in order[first]]
    return [names[g] for g in group]


def sky_split(ra_deg: np.ndarray, dec_deg: np.ndarray, *,
              link_arcmin: float = SKY_LINK_ARCMIN,
              fractions: tuple[float, float, float] = REAL_SPLIT_FRACTIONS) -> list[str]:
    """Train / calibration / test split of real sources by sky position.

    Sources are grouped by :func:`sky_groups`; each group goes to one split, fixed by
    a hash of the group's name, so a source's split does not depend on the order of
    the catalog or on which other groups are in it.

    Parameters
    ----------
    ra_deg, dec_deg : ndarray, shape (N,)
        Positions in degrees.
    link_arcmin : float
        Linking length of the groups.
    fractions : (float, float, float)
        Expected fractions of groups in train, calibration and test.

    Returns
    -------
    list of str, length N
        ``'train'``, ``'calibration'`` or ``'test'`` for each source.
    """
    edges = np.cumsum(fractions) / np.sum(fractions)
    return [REAL_SPLITS[min(int(np.searchsorted(edges, unit_hash(name), side="right")), 2)]
            for name in sky_groups(ra_deg, dec_deg, link_arcmin=link_arcmin)]


def _read_cutouts(paths: list[Path], *, progress: bool, what: Path) -> np.ndarray:
    """(N, S, S, 3) uint8 from colour cutout files of one size."""
    images = None
    for i, path in enumerate(tqdm(paths, desc="reading cutouts", unit="cutout",
                                  disable=not progress)):
        try:
            with Image.open(path) as picture:
                array = np.asarray(picture.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"unreadable cutout ({exc})") from None
        if images is None:
            images = np.empty((len(paths), *array.shape), np.uint8)
        if array.shape != images.shape[1:]:
            raise InputFileError(path, f"cutout shape {array.shape}, expected {images.shape[1:]}")
        images[i] = array
    if images is None:
        raise InputFileError(what, "no rows to read cutouts for")
    return images


def load_real_shred_examples(
    labels: str | PathLike[str], images_dir: str | PathLike[str], *,
    splits: tuple[str, ...] = ("train",), pattern: str = "{id}_grz.png",
    progress: bool = True,
) -> CutoutExamples:
    """Real cutouts with eye labels (``shred`` or ``galaxy``) as training or test examples.

    Parameters
    ----------
    labels : path
        Eye-label CSV (``scripts/label_shreds.py``): ``objID``, ``ra``, ``dec``, ``label``
        (one of :data:`REAL_LABELS`), ``split`` (one of :data:`REAL_SPLITS`).
    images_dir : path
        Folder of the cutouts, ``pattern`` with ``{id}`` the ``objID``.
    splits : tuple of str
        Which splits to read. Rows labelled ``star`` or ``unclear`` are left out.

    Returns
    -------
    CutoutExamples
        ``groups`` are the rows' sky groups (``'sky:<ra>,<dec>'``, computed over every
        row of the file, so folds keep neighbours together); ``kinds`` are
        ``'real shred'`` / ``'real galaxy'``.
    """
    labels = Path(labels)
    rows = read_eye_labels(labels, allowed=REAL_LABELS)
    for column in ("objID", "ra", "dec", "split"):
        if rows and column not in rows[0]:
            raise InputFileError(labels, f"column {column!r} is missing")
    unknown = sorted(set(splits) - set(REAL_SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown}; choose from {REAL_SPLITS}")
    groups = sky_groups(np.array([float(r["ra"]) for r in rows]),
                        np.array([float(r["dec"]) for r in rows]))
    keep = [i for i, r in enumerate(rows)
            if r["split"] in splits and r["label"] in ("shred", "galaxy")]
    if not keep:
        raise InputFileError(labels, f"no shred or galaxy labels in splits {list(splits)}")
    ids = np.array([rows[i]["objID"] for i in keep], dtype=str)
    paths = [Path(images_dir) / pattern.format(id=name) for name in ids]
    images = _read_cutouts(paths, progress=progress, what=labels)
    is_shred = np.array([rows[i]["label"] == "shred" for i in keep])
    return CutoutExamples(ids, np.array([f"sky:{groups[i]}" for i in keep], dtype=str),
                          np.array([f"real {rows[i]['label']}" for i in keep], dtype=str),
                          images, is_shred)


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
    images = _read_cutouts([data_dir / "cutouts" / f"{name}_grz.png" for name in ids],
                           progress=progress, what=catalog_path)
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
    calibrations: dict[str, tuple[float, float]] = field(default_factory=dict)


def ensemble_logits(members: list[CutoutNet], examples: CutoutExamples, *,
                    device: torch.device | str = "cpu") -> np.ndarray:
    """Mean logit of ``members`` for every example (no augmentation)."""
    return np.mean([predict_logits(m, examples, device=device) for m in members], axis=0)


def train_shred_classifier(
    data_dir: str | PathLike[str],
    model_path: str | PathLike[str],
    config: ShredTrainConfig | None = None,
    *,
    real_labels: str | PathLike[str] | None = None,
    real_images: str | PathLike[str] | None = None,
    real_repeat: int = 1,
    run_dir: str | PathLike[str] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> ShredTrainResult:
    """Train a k-fold ensemble on the shred catalog of ``data_dir``; write ``model_path``.

    With ``real_labels`` the real cutouts of the eye-label file's ``train`` split join
    the simulated ones (each ``real_repeat`` times, so that the few real examples weigh
    in every epoch; flips, rotations and grey copies make the repeats differ), and the
    ``calibration`` split calibrates ``p_shred`` for real catalogs. The ``test`` split
    is never read here.

    Parameters
    ----------
    data_dir : path
        ``catalog.csv`` (``id``, ``field``, ``true_is_shred``) and ``cutouts/<id>_grz.png``.
    model_path : path
        Output model file: the k fold networks (fp16), calibrations and training facts.
    config : ShredTrainConfig
        ``config.init_from`` (a model file with k members) fine-tunes those members
        instead of training from scratch.
    real_labels, real_images : path, optional
        Eye labels (:func:`load_real_shred_examples`) and the folder of their cutouts.
    real_repeat : int
        Copies of each real training cutout per epoch.
    run_dir : path, optional
        Per-fold checkpoints and metrics, the cutout cache; default ``<model_path>.run/``.
    device : optional
        ``'cpu'``, ``'cuda'``...; default: CUDA when available.

    Returns
    -------
    ShredTrainResult
        The model file's path and scores. The model stores a ``'simulated'``
        calibration (Platt scaling on the out-of-fold logits of the simulated
        detections) and, with real labels, a ``'real'`` one (on the calibration
        split), which is then the default.
    """
    config = config or ShredTrainConfig()
    if (real_labels is None) != (real_images is None):
        raise ValueError("real_labels and real_images go together")
    if real_repeat < 1:
        raise ValueError(f"real_repeat must be >= 1, got {real_repeat!r}")
    model_path = Path(model_path)
    run_dir = Path(run_dir) if run_dir else model_path.with_name(model_path.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)
    simulated = load_shred_examples(data_dir, cache=run_dir / "examples.npz",
                                    progress=progress)
    examples, n_real = simulated, 0
    if real_labels is not None:
        real = load_real_shred_examples(real_labels, real_images, progress=progress)
        n_real = len(real)
        examples = CutoutExamples.concatenate([simulated] + [real] * real_repeat)
        log(f"{n_real} real train cutouts ({int(real.labels.sum())} shreds) x {real_repeat}")
    init_members = None
    if config.init_from:
        init_members, _ = load_shred_classifier(config.init_from)
    outcome = train_ensemble(examples, config, run_dir, device=device, progress=progress,
                             log=log, what="shreds", init_members=init_members)
    simulated_rows = np.arange(len(simulated))
    calibrations = {"simulated": fit_platt(outcome.out_of_fold_logits[simulated_rows],
                                           simulated.labels)}
    scores = {"auc": roc_auc(outcome.out_of_fold_logits[simulated_rows], simulated.labels),
              **binary_scores(platt_probability(outcome.out_of_fold_logits[simulated_rows],
                                                calibrations["simulated"]) >= 0.5,
                              simulated.labels)}
    training = {"data": str(data_dir), "n_detections": len(simulated),
                "n_fields": len(np.unique(simulated.groups)),
                "shred_fraction": float(simulated.labels.mean()),
                "out_of_fold": scores, "folds": outcome.folds, "device": str(outcome.device),
                "minutes": outcome.minutes, "config": config.to_dict()}
    if real_labels is not None:
        held = load_real_shred_examples(real_labels, real_images, splits=("calibration",),
                                        progress=progress)
        logits = ensemble_logits(outcome.members, held, device=outcome.device)
        calibrations["real"] = fit_platt(logits, held.labels)
        training["real"] = {"labels": str(real_labels), "n_train": n_real,
                            "repeat": real_repeat, "n_calibration": len(held),
                            "calibration_shreds": int(held.labels.sum()),
                            "calibration_auc": roc_auc(logits, held.labels)}
    default = "real" if "real" in calibrations else "simulated"
    metadata = ShredMetadata(
        model=config.model, pixscale_arcsec=SHRED_PIXSCALE_ARCSEC,
        calibration=calibrations[default], threshold=0.5, training=training,
        calibrations=calibrations, calibration_name=default)
    save_shred_classifier(outcome.members, metadata, model_path)
    a, b = calibrations[default]
    log(f"wrote {model_path}: simulated out-of-fold AUC {scores['auc']:.4f}, accuracy "
        f"{scores['accuracy']:.4f}; {default} calibration a={a:.3f} b={b:.3f}"
        + (f"; real calibration-split AUC {training['real']['calibration_auc']:.4f}"
           if "real" in training else ""))
    return ShredTrainResult(model_path, scores["auc"], scores, calibrations[default],
                            outcome.folds, calibrations)
