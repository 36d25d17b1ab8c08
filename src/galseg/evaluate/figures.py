"""Figures of a segmenter evaluation (``galseg evaluate segmenter``).

* :func:`examples_figure` - like Walmsley & Spindler (2023) Figure 1: one row per galaxy,
  columns image | volunteers' vote fractions | model | truth masks (spiral arms tinted
  orange with a white outline, bars cyan with a yellow outline).
* :func:`bar_length_figure` - measured against true bar length, with the 1:1 line.
* :func:`iou_figure` - IoU with truth of the model's mask and of the volunteers'
  consensus mask, at the rules chosen on the calibration galaxies.

Figures are built on :class:`matplotlib.figure.Figure` without pyplot: no global state,
no display backend, safe in worker processes. Save them with :func:`save_figure`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from galseg.data._atomic import write_bytes_atomic
from galseg.evaluate.segmentation import (
    SegmenterEvaluation,
    predict,
    read_catalog,
    read_truth_galaxy,
)
from galseg.predict.segment import Segmenter
from galseg.visualize import overlay_maps

COLUMN_TITLES = ("image", "volunteers", "model", "truth")
MODEL_COLOUR = "tab:blue"
VOLUNTEER_COLOUR = "tab:orange"


def pick_examples(evaluation: SegmenterEvaluation, n_galaxies: int = 6, *,
                  seed: int = 0) -> list[str]:
    """Random test galaxies (not calibration) whose truth has arms or a bar, name-sorted.

    Falls back to any evaluated galaxy when too few have a feature.
    """
    if n_galaxies < 1:
        raise ValueError(f"n_galaxies must be >= 1, got {n_galaxies!r}")
    table = evaluation.table
    featured = (np.asarray(table["truth_has_spiral_arms"]) | np.asarray(table["truth_has_bar"]))
    pool = np.asarray(table["name"])[featured & ~np.asarray(table["calibration"])]
    if len(pool) < n_galaxies:
        pool = np.asarray(table["name"])
    rng = np.random.default_rng(seed)
    chosen = rng.choice(pool, size=min(n_galaxies, len(pool)), replace=False)
    return sorted(str(name) for name in chosen)


def examples_figure(data_dir: str | PathLike[str], segmenter: Segmenter,
                    names: Sequence[str]) -> Figure:
    """Rows of galaxies: image | volunteers' vote fractions | model | truth masks.

    Parameters
    ----------
    data_dir : path
        A data set made by ``galseg simulate``.
    segmenter : Segmenter
    names : sequence of str
        Galaxies of ``data_dir``'s catalog, one row each.
    """
    if not names:
        raise ValueError("names must hold at least one galaxy")
    catalog = read_catalog(data_dir)
    by_name = {str(name): i for i, name in enumerate(catalog["name"])}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"names not in the catalog of {data_dir}: {missing}")
    galaxies = [read_truth_galaxy(data_dir, catalog[by_name[n]]) for n in names]
    results = predict(segmenter, galaxies)
    figure = Figure(figsize=(2.2 * len(COLUMN_TITLES), 2.2 * len(galaxies)), layout="constrained")
    axes = figure.subplots(len(galaxies), len(COLUMN_TITLES), squeeze=False)
    for row, (galaxy, result) in enumerate(zip(galaxies, results, strict=True)):
        votes = galaxy.votes
        panels = (
            galaxy.image,
            overlay_maps(galaxy.image, votes.spiral_vote_fraction, votes.bar_vote_fraction),
            overlay_maps(galaxy.image, result.spiral_vote_fraction, result.bar_vote_fraction),
            overlay_maps(galaxy.image, galaxy.truth_spiral.astype(np.float32),
                         galaxy.truth_bar.astype(np.float32)),
        )
        for column, panel in enumerate(panels):
            ax = axes[row, column]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(COLUMN_TITLES[column])
        axes[row, 0].set_ylabel(galaxy.name, fontsize=8)
    return figure


def _length_label(source: str, scores: dict) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None or not np.isfinite(value) else format(value, spec)

    return (f"{source}: N={scores['n']}, r={fmt(scores['pearson_r'], '.3f')}, "
            f"MAE={fmt(scores['mean_abs_error_px'], '.2f')} px")


def bar_length_figure(evaluation: SegmenterEvaluation) -> Figure:
    """Measured against true bar length (pixels) for true bars that were detected.

    The model's bars in colour, the volunteers' (measured the same way on their vote
    fractions) in the background; the 1:1 line; N, Pearson r and mean absolute error in
    the legend.
    """
    table, summary = evaluation.table, evaluation.summary["bar_length"]
    figure = Figure(figsize=(5, 5), layout="constrained")
    ax = figure.subplots()
    upper = 1.0
    for source, colour, size in (("volunteers", VOLUNTEER_COLOUR, 10), ("model", MODEL_COLOUR, 16)):
        rows = (np.asarray(table["truth_has_bar"]) & np.asarray(table[f"{source}_has_bar"])
                & np.isfinite(table[f"{source}_bar_length_px"]))
        true = np.asarray(table["truth_bar_length_px"][rows], float)
        measured = np.asarray(table[f"{source}_bar_length_px"][rows], float)
        ax.scatter(true, measured, s=size, color=colour, alpha=0.7,
                   label=_length_label(source, summary[source]))
        if len(true):
            upper = max(upper, float(true.max()), float(measured.max()))
    upper *= 1.05
    ax.plot([0, upper], [0, upper], color="k", lw=1, label="1:1")
    ax.set(xlim=(0, upper), ylim=(0, upper), aspect="equal",
           xlabel="true bar length (px)", ylabel="measured bar length (px)")
    ax.legend(loc="upper left", fontsize=8)
    return figure


def iou_figure(evaluation: SegmenterEvaluation) -> Figure:
    """Histograms of IoU with truth: model mask and consensus mask, spiral and bar panels.

    Test galaxies only, each mask at its rule chosen on the calibration galaxies.
    """
    versus = evaluation.summary["model_vs_consensus"]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axes = figure.subplots(1, 2)
    bins = np.linspace(0, 1, 21)
    for ax, feature in zip(axes, ("spiral", "bar"), strict=True):
        model, consensus = evaluation.test_ious(feature)
        entry = versus[feature]
        for values, label, colour, rule in (
                (model, "model", MODEL_COLOUR, entry["model_rule"]),
                (consensus, "consensus", VOLUNTEER_COLOUR, entry["consensus_rule"])):
            mean = f"{np.mean(values):.3f}" if len(values) else "-"
            ax.hist(values, bins=bins, histtype="step", lw=1.5, color=colour,
                    label=f"{label} ({rule or '-'}): mean {mean}")
        better = entry["fraction_model_better"]
        ax.set_title(f"{feature}: model better on "
                     f"{'-' if better is None else f'{better:.0%}'} of {entry['n_test']}")
        ax.set(xlabel="IoU with truth", ylabel="galaxies", xlim=(0, 1))
        ax.legend(loc="upper right", fontsize=8)  # IoU of 0.8-1 is rare: the corner is free
    return figure


def save_figure(figure: Figure, path: str | PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return write_bytes_atomic(path, buffer.getvalue())
