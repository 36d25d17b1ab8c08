"""The segmenter against exact truth: simulated galaxies, their volunteers and their masks.

:func:`evaluate_segmenter` runs a :class:`~galseg.predict.segment.Segmenter` on a data set
made by ``galseg simulate`` and compares, galaxy by galaxy, three things on the same pixel
grid: the model's predicted vote fractions, the simulated volunteers' vote fractions and
the simulator's exact truth masks. :class:`SegmenterEvaluation` holds one table row per
galaxy and a JSON-ready ``summary``; what each number means and how thresholds are chosen
is in ``docs/evaluation.md``.

Masks from vote fractions are written in votes out of :data:`N_VOLUNTEERS` (15):

* IoU curves: the consensus mask ``fraction * 15 >= k`` for k = 1..15 votes, the model's
  at the same k and at fractions of one vote (:data:`~galseg.evaluate.metrics.MODEL_VOTES`);
  and for both, per-map masks ``fraction >= F * peak``
  (:data:`~galseg.evaluate.metrics.PEAK_FRACTIONS`) and ``fraction >= F * peak**G``
  (:data:`~galseg.evaluate.metrics.PEAK_EXPONENTS`).
* Rey Deutsch et al. (2023) masks: the model's as :meth:`SegmentationResult.mask`
  (``fraction * 15 >= th - 0.5``), the volunteers' ``votes >= th``, th = 1..6.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from tqdm import tqdm

from galseg.data._atomic import write_bytes_atomic
from galseg.data.gz3d import read_gz3d
from galseg.data.images import image_from_array
from galseg.errors import InputFileError
from galseg.evaluate.metrics import (
    FEATURES,
    N_VOLUNTEERS,
    REY_DEUTSCH_VOTES,
    RULE_FAMILIES,
    SCORES,
    VOTE_TOLERANCE,
    best_threshold,
    column_votes,
    family_exponent,
    iou_column,
    iou_curve,
    peak_iou_curve,
    pixel_scores,
    presence_column,
)
from galseg.evaluate.report import json_ready, summarize, summary_markdown
from galseg.labels.rasterize import VoteMaps, vote_maps
from galseg.measure import measure_maps
from galseg.measure.arms import DEFAULT_SPIRAL_THRESHOLD
from galseg.predict.segment import SegmentationResult, Segmenter


# --------------------------------------------------------------------------------
# Data: a simulated galaxy with its volunteers and truth
# --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TruthGalaxy:
    """One galaxy of a simulated data set.

    Attributes
    ----------
    name : str
    image : ndarray, shape (H, W, 3), uint8
        The colour image the volunteers saw.
    votes : VoteMaps
        The volunteers' vote maps on the image grid.
    truth_spiral, truth_bar : ndarray of bool, shape (H, W)
        Exact truth masks on the image grid.
    wcs : astropy.wcs.WCS
    pixscale_arcsec, redshift : float
    """

    name: str
    image: np.ndarray
    votes: VoteMaps
    truth_spiral: np.ndarray
    truth_bar: np.ndarray
    wcs: WCS
    pixscale_arcsec: float
    redshift: float

    def truth(self, feature: str) -> np.ndarray:
        return self.truth_spiral if feature == "spiral" else self.truth_bar


def read_catalog(data_dir: str | PathLike[str]) -> Table:
    """The truth catalog of a simulated data set, booleans as bool and blanks as NaN."""
    path = Path(data_dir) / "catalog.csv"
    if not path.is_file():
        raise InputFileError(path, "no such file; --data must be a folder made by "
                                   "`galseg simulate` (catalog.csv, gz3d/, truth/)")
    catalog = Table.read(path, format="ascii.csv")
    for column in ("name", "file", "truth_file", "has_spiral_arms", "has_bar"):
        if column not in catalog.colnames:
            raise InputFileError(path, f"has no {column!r} column; not a galseg simulation")
    for column in ("has_spiral_arms", "has_bar"):
        catalog[column] = np.array([str(v) == "True" for v in catalog[column]])
    for column in ("bar_length_px", "bar_pa_deg", "redshift"):
        if column in catalog.colnames:
            catalog[column] = np.ma.filled(np.ma.asarray(catalog[column], float), np.nan)
    return catalog


def read_truth_galaxy(data_dir: str | PathLike[str], row: Any) -> TruthGalaxy:
    """Read the GZ3D file and the truth masks of one catalog row."""
    subject = read_gz3d(Path(data_dir) / str(row["file"]))
    truth_path = Path(data_dir) / str(row["truth_file"])
    try:
        with fits.open(truth_path) as hdus:
            spiral = hdus["SPIRAL_TRUTH"].data.astype(bool)
            bar = hdus["BAR_TRUTH"].data.astype(bool)
    except (OSError, KeyError) as error:
        raise InputFileError(truth_path, f"not a readable truth file ({error})") from None
    if spiral.shape != subject.shape:
        raise InputFileError(truth_path, f"truth shape {spiral.shape} differs from the GZ3D "
                                         f"image {subject.shape}")
    redshift = float(row["redshift"]) if "redshift" in row.colnames else np.nan
    return TruthGalaxy(str(row["name"]), subject.image, vote_maps(subject), spiral, bar,
                       subject.wcs, subject.pixscale_arcsec, redshift)


def predict(segmenter: Segmenter, galaxies: Sequence[TruthGalaxy]) -> list[SegmentationResult]:
    """The segmenter's results on the galaxies' colour images (one batch)."""
    images = [image_from_array(g.image, name=g.name, wcs=g.wcs,
                               pixscale_arcsec=g.pixscale_arcsec) for g in galaxies]
    return segmenter.results(images, [g.redshift if g.redshift > 0 else None
                                      for g in galaxies])


# --------------------------------------------------------------------------------
# One galaxy -> one table row
# --------------------------------------------------------------------------------
def _measured(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{key}": row[key]
            for key in ("has_spiral_arms", "has_bar", "bar_length_px", "bar_pa_deg")}


def galaxy_row(galaxy: TruthGalaxy, result: SegmentationResult) -> dict[str, Any]:
    """Every per-galaxy quantity of the evaluation (the columns of the table)."""
    row: dict[str, Any] = {"name": galaxy.name}
    for feature in FEATURES:
        predicted = result.vote_fraction(feature)
        volunteers = galaxy.votes.vote_fraction(feature)
        truth = galaxy.truth(feature)
        row[f"{feature}_marked"] = bool(volunteers.max() > 0)
        row[f"{feature}_l1"] = float(np.mean(np.abs(predicted - volunteers)))
        has_truth = bool(truth.any())
        for source, fraction in (("model", predicted), ("consensus", volunteers)):
            for family in RULE_FAMILIES:
                column = iou_column(feature, source, family)
                thresholds, exponent = column_votes(column), family_exponent(family)
                if not has_truth:
                    row[column] = np.full(len(thresholds), np.nan)
                elif exponent is None:
                    row[column] = iou_curve(fraction * N_VOLUNTEERS, truth, thresholds)
                else:
                    row[column] = peak_iou_curve(fraction, truth, thresholds, exponent)
    model_masks = [result.mask("spiral", th) for th in REY_DEUTSCH_VOTES]
    volunteer_masks = [galaxy.votes.spiral_vote_fraction * N_VOLUNTEERS >= th - VOTE_TOLERANCE
                       for th in REY_DEUTSCH_VOTES]
    row["spiral_pixels_model"] = np.array([m.sum() for m in model_masks])
    row["spiral_pixels_volunteers"] = np.array([m.sum() for m in volunteer_masks])
    pairs = {"model_vs_volunteers": zip(model_masks, volunteer_masks, strict=True),
             "model_vs_truth": ((m, galaxy.truth_spiral) for m in model_masks),
             "volunteers_vs_truth": ((m, galaxy.truth_spiral) for m in volunteer_masks)}
    for comparison, masks in pairs.items():
        scores = np.array([pixel_scores(mask, reference) for mask, reference in masks])
        for i, score in enumerate(SCORES):
            row[f"spiral_{comparison}_{score}"] = scores[:, i]
    row.update(_measured("model", result.measurements))
    row.update(_measured("volunteers", measure_maps(
        galaxy.votes.spiral_vote_fraction, galaxy.votes.bar_vote_fraction,
        pixscale_arcsec=galaxy.pixscale_arcsec, wcs=galaxy.wcs)))
    return row


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def evaluate_segmenter(
    data_dir: str | PathLike[str],
    segmenter: Segmenter,
    *,
    names: Sequence[str] | None = None,
    limit: int | None = None,
    calibration_names: Iterable[str] | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> SegmenterEvaluation:
    """Evaluate ``segmenter`` on a simulated data set against the volunteers and the truth.

    Parameters
    ----------
    data_dir : path
        A folder made by ``galseg simulate`` (``catalog.csv``, ``gz3d/``, ``truth/``).
    segmenter : Segmenter
        The model, with its scale rule and test-time augmentation setting.
    names : sequence of str, optional, keyword-only
        Galaxies to evaluate (default: all in the catalog).
    limit : int, optional, keyword-only
        Evaluate only the first ``limit`` galaxies (names sorted).
    calibration_names : iterable of str, optional, keyword-only
        Galaxies on which the model's and the consensus thresholds are chosen; the
        model-versus-consensus comparison uses the others. Default: the first half of
        the evaluated names, sorted.
    batch_size : int, keyword-only
        Galaxies read and predicted together.
    progress : bool, keyword-only
        Show a progress bar on stderr.

    Returns
    -------
    SegmenterEvaluation
    """
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive number of galaxies or None, got {limit!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    catalog = read_catalog(data_dir)
    by_name = {str(name): i for i, name in enumerate(catalog["name"])}
    wanted = sorted(by_name) if names is None else sorted(set(map(str, names)))
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"names not in {Path(data_dir) / 'catalog.csv'}: {unknown[:5]}"
                         + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    wanted = wanted[:limit] if limit is not None else wanted
    if not wanted:
        raise ValueError("no galaxies to evaluate (names is empty)")
    calibration = (set(wanted[:len(wanted) // 2]) if calibration_names is None
                   else set(map(str, calibration_names)))
    rows = []
    with tqdm(total=len(wanted), desc="evaluate", unit="galaxy", disable=not progress) as bar:
        for chunk in _chunks(wanted, batch_size):
            galaxies = [read_truth_galaxy(data_dir, catalog[by_name[n]]) for n in chunk]
            for galaxy, result in zip(galaxies, predict(segmenter, galaxies), strict=True):
                rows.append(galaxy_row(galaxy, result))
            bar.update(len(chunk))
    table = Table({key: np.array([row[key] for row in rows]) for key in rows[0]})
    truth = catalog[[by_name[n] for n in wanted]]
    table.add_column(np.array([n in calibration for n in wanted]), index=1, name="calibration")
    for i, column in enumerate(("has_spiral_arms", "has_bar", "bar_length_px", "bar_pa_deg")):
        table.add_column(np.asarray(truth[column]), index=2 + i, name=f"truth_{column}")
    setup = {"data_dir": str(data_dir), "scale": getattr(segmenter, "scale", None),
             "views": getattr(segmenter, "views", None),
             # the arm rule `galseg segment` applies with this model (its own, or the default)
             "arm_rule": segmenter.measure_rules.get("spiral_threshold",
                                                     DEFAULT_SPIRAL_THRESHOLD)}
    return SegmenterEvaluation(table, setup=setup)


# --------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------
class SegmenterEvaluation:
    """Per-galaxy scores of a segmenter and their summary.

    Parameters
    ----------
    table : astropy.table.Table
        One row per galaxy (columns in ``docs/evaluation.md``); IoU and Rey Deutsch
        columns are 2-D: one value per vote threshold (:func:`column_votes`).
    setup : dict, optional
        How the evaluation was run (data folder, model, scale rule, test-time
        augmentation); copied into ``summary['setup']``, so set entries before the
        summary is first used.
    """

    def __init__(self, table: Table, *, setup: dict[str, Any] | None = None) -> None:
        self.table = table
        self.setup = dict(setup or {})

    def __repr__(self) -> str:
        return (f"<SegmenterEvaluation of {len(self.table)} galaxies from "
                f"{self.setup.get('data_dir')}>")

    def flat_table(self) -> Table:
        """The table with each 2-D column split into ``<column>_th<votes>`` columns (CSV)."""
        flat = Table()
        for name in self.table.colnames:
            column = self.table[name]
            if column.ndim == 1:
                flat[name] = column
                continue
            for i, votes in enumerate(column_votes(name)):
                flat[f"{name}_th{votes:g}"] = column[:, i]
        return flat

    def write(self, out_dir: str | PathLike[str]) -> tuple[Path, Path]:
        """Write ``metrics.json`` (the summary) and ``per_galaxy.csv``; returns their paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics = write_bytes_atomic(out_dir / "metrics.json",
                                     (json.dumps(self.summary, indent=2) + "\n").encode())
        buffer = io.StringIO()
        self.flat_table().write(buffer, format="ascii.csv")
        return metrics, write_bytes_atomic(out_dir / "per_galaxy.csv", buffer.getvalue().encode())

    def feature_rows(self, feature: str, *, calibration: bool) -> np.ndarray:
        """Calibration (or test) galaxies whose truth has ``feature``."""
        return ((np.asarray(self.table["calibration"]) == calibration)
                & np.asarray(self.table[f"truth_{presence_column(feature)}"]))

    def iou_at(self, feature: str, source: str, threshold: float, rows: np.ndarray,
               family: str = "votes") -> np.ndarray:
        """IoU with truth of ``source``'s ('model' or 'consensus') mask at ``threshold``
        (votes of 15, or with a ``'peak'`` or ``'peak^G'`` family the fraction F of the
        rule ``F * peak**G``)."""
        name = iou_column(feature, source, family)
        return np.asarray(self.table[name][rows, column_votes(name).index(threshold)])

    def chosen_rule(self, feature: str, source: str,
                    families: Sequence[str] = RULE_FAMILIES) -> tuple[str, float | None]:
        """``source``'s mask rule chosen on the calibration galaxies: the (family, threshold)
        with the highest mean IoU with truth there, among ``families`` (of
        :data:`~galseg.evaluate.metrics.RULE_FAMILIES`);
        the threshold is None without such galaxies."""
        rows = self.feature_rows(feature, calibration=True)
        best: tuple[float, str, float | None] = (-np.inf, families[0], None)
        for family in families:
            name = iou_column(feature, source, family)
            curves = np.asarray(self.table[name][rows])
            threshold = best_threshold(curves, column_votes(name))
            if threshold is not None:
                score = float(np.mean(self.iou_at(feature, source, threshold, rows, family)))
                best = max(best, (score, family, threshold), key=lambda b: b[0])
        return best[1], best[2]

    def chosen_votes(self, feature: str) -> tuple[float | None, float | None]:
        """Model and consensus thresholds in votes of 15 (fixed-vote masks only) chosen on
        the calibration galaxies (None without such galaxies)."""
        return (self.chosen_rule(feature, "model", ("votes",))[1],
                self.chosen_rule(feature, "consensus", ("votes",))[1])

    def test_ious(self, feature: str, *, model_families: Sequence[str] = RULE_FAMILIES,
                  consensus_families: Sequence[str] = RULE_FAMILIES,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """IoU with truth of the model and of the consensus, each with its rule chosen on the
        calibration galaxies among its ``*_families``, on the test galaxies (not
        calibration) whose truth has ``feature``."""
        model_family, model_threshold = self.chosen_rule(feature, "model", model_families)
        consensus_family, consensus_threshold = self.chosen_rule(feature, "consensus",
                                                                 consensus_families)
        if model_threshold is None or consensus_threshold is None:
            return np.array([]), np.array([])
        rows = self.feature_rows(feature, calibration=False)
        return (self.iou_at(feature, "model", model_threshold, rows, model_family),
                self.iou_at(feature, "consensus", consensus_threshold, rows, consensus_family))

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Every aggregate score, JSON-serialisable (NaN written as null)."""
        return json_ready(summarize(self))

    def to_markdown(self) -> str:
        """The summary as markdown tables (for ``docs/evaluation.md`` and the CLI)."""
        return summary_markdown(self.summary)
