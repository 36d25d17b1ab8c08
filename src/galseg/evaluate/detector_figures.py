"""Figures of a detector evaluation (``galseg evaluate detector``).

* :func:`confusion_figure` - truth class x predicted class (with ``missed``), counts and
  row fractions (like Farias et al. 2020, Fig. 11);
* :func:`noise_figure` - accuracy, detected-and-right fraction and mAP@0.5 against the
  Gaussian noise sigma, with the paper's point (Fig. 18);
* :func:`centroid_figure` - histograms of the centroid offsets per axis (Fig. 16);
* :func:`overlay_figure` - one simulated field: galseg's masks and the classical
  baseline's segments side by side, true centres marked found or missed.

Built on :class:`matplotlib.figure.Figure` without pyplot (no global state, no display).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from galseg.evaluate.detection_metrics import GALAXY_CLASSES
from galseg.evaluate.detector import PAPER, DetectorEvaluation
from galseg.evaluate.figures import save_figure

CLASS_COLOURS = {"spiral": "tab:blue", "elliptical": "tab:orange", "star": "tab:cyan"}
FOUND_COLOUR, MISSED_COLOUR = "lime", "red"


def confusion_figure(evaluation: DetectorEvaluation) -> Figure:
    """Truth class (rows) against the class of the matched detection (columns, ``missed``
    where none); each cell shows the count and the fraction of its row."""
    confusion = evaluation.classification()["confusion"]
    counts = np.asarray(confusion["counts"], dtype=float).reshape(len(confusion["rows"]),
                                                                  len(confusion["columns"]))
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    figure = Figure(figsize=(1.3 * len(confusion["columns"]) + 1.5,
                             1.0 * len(confusion["rows"]) + 1.4), layout="constrained")
    ax = figure.subplots()
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, f"{count:.0f}\n{fractions[i, j]:.1%}", ha="center", va="center",
                fontsize=8, color="white" if fractions[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(confusion["columns"])), confusion["columns"])
    ax.set_yticks(range(len(confusion["rows"])), confusion["rows"])
    accuracy = evaluation.classification()["accuracy"]
    ax.set(xlabel="predicted", ylabel="truth",
           title="accuracy of matched galaxies: "
                 + ("-" if not np.isfinite(accuracy) else f"{accuracy:.3f}"))
    return figure


def noise_figure(evaluation: DetectorEvaluation) -> Figure:
    """Scores against the sigma of the added Gaussian noise (8-bit counts)."""
    if evaluation.noise is None or len(evaluation.noise) == 0:
        raise ValueError("the evaluation has no noise curve; run it with noise_scales")
    noise = evaluation.noise
    figure = Figure(figsize=(5, 3.8), layout="constrained")
    ax = figure.subplots()
    scale = np.asarray(noise["scale"], float)
    for column, label in (("accuracy", "accuracy (matched galaxies)"),
                          ("detected_correct", "detected and classified right"),
                          ("map50", "mAP@0.5 (masks)")):
        ax.plot(scale, np.asarray(noise[column], float), "o-", label=label)
    ax.plot([76.5], [PAPER["accuracy_at_noise_76.5"]], "k*", ms=10,
            label="Farias et al. 2020 (one image)")
    ax.set(xlabel="Gaussian noise sigma (counts of 255)", ylabel="score", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return figure


def centroid_figure(evaluation: DetectorEvaluation, *, half_width_px: float = 3.0) -> Figure:
    """Histograms of predicted minus true centroid of matched galaxies, x and y (pixels),
    with the median and MAD in each title, and (outlined) of the centroid minus the
    truth mask's own centroid in the same light, the model's own error; offsets beyond
    ``half_width_px`` are piled into the edge bins."""
    table = evaluation.table
    sel = (np.asarray(table["matched"])
           & np.isin(np.asarray(table["class"], str), GALAXY_CLASSES))
    stats = evaluation.centroids()
    figure = Figure(figsize=(8, 3.4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    bins = np.linspace(-half_width_px, half_width_px, 49)
    for ax, axis, mad_paper in zip(axes, ("x", "y"), (PAPER["centroid_mad_x_px"],
                                                      PAPER["centroid_mad_y_px"]), strict=True):
        offsets = np.asarray(table[f"d{axis}_px"], float)[sel]
        offsets = np.clip(offsets[np.isfinite(offsets)], bins[0], bins[-1])
        ax.hist(offsets, bins=bins, color="tab:blue", alpha=0.8, label="- true centre")
        against_mask = np.asarray(table[f"d{axis}_mask_px"], float)[sel]
        against_mask = np.clip(against_mask[np.isfinite(against_mask)], bins[0], bins[-1])
        ax.hist(against_mask, bins=bins, histtype="step", color="tab:orange", lw=1.2,
                label="- truth mask's centroid")
        ax.axvline(0, color="k", lw=0.8)
        median, mad = stats[f"median_d{axis}_px"], stats[f"mad_d{axis}_px"]
        own = stats["against_truth_mask"]
        title = (f"{axis}: median {median:+.2f} px, MAD {mad:.2f} px (paper MAD {mad_paper})"
                 if np.isfinite(median) else f"{axis}: -")
        if np.isfinite(own[f"median_d{axis}_px"]):
            title += (f"\nfrom the mask's centroid: {own[f'median_d{axis}_px']:+.2f} px, "
                      f"MAD {own[f'mad_d{axis}_px']:.2f} px")
        ax.set_title(title, fontsize=9)
        ax.set(xlabel=f"centroid {axis} - true {axis} (px)")
    axes[0].set_ylabel(f"matched galaxies (N={stats['n']})")
    axes[0].legend(fontsize=7, loc="upper left", title="centroid", title_fontsize=7)
    return figure


def _boundaries(segmentation: np.ndarray) -> np.ndarray:
    edge = np.zeros(segmentation.shape, bool)
    edge[:-1] |= segmentation[:-1] != segmentation[1:]
    edge[:, :-1] |= segmentation[:, :-1] != segmentation[:, 1:]
    return edge & (segmentation > 0)


def overlay_figure(evaluation: DetectorEvaluation) -> Figure:
    """galseg against the classical baseline on the fully labelled field with the most
    objects: galseg's masks outlined in the colour of their class, the baseline's segments
    outlined in white; true centres circled green where found, crossed red where missed
    (the completeness rule of :func:`~galseg.evaluate.detection_metrics.match_centroids`)."""
    overlay = evaluation.overlay
    if overlay is None:
        raise ValueError("the evaluation kept no field for the overlay: it needs a fully "
                         "labelled example with a FITS file and baseline=True")
    figure = Figure(figsize=(11, 5.8), layout="constrained")
    axes = figure.subplots(1, 2, sharex=True, sharey=True)
    detections, truth = overlay.detections, overlay.truth
    for ax, found, title in ((axes[0], overlay.found_galseg, f"galseg: {len(detections)}"),
                             (axes[1], overlay.found_classical,
                              f"classical (sep, r band): {len(overlay.extraction)}")):
        ax.imshow(overlay.rgb, interpolation="nearest")
        ok = found >= 0
        ax.plot(truth.xy[ok, 0], truth.xy[ok, 1], "o", mfc="none", mec=FOUND_COLOUR, ms=9)
        ax.plot(truth.xy[~ok, 0], truth.xy[~ok, 1], "x", color=MISSED_COLOUR, ms=8, mew=2)
        ax.set_title(f"{title} detections, {ok.sum()} of {len(found)} objects found",
                     fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for mask, label in zip(detections.masks, detections.labels, strict=True):
        if mask.any():
            axes[0].contour(mask.astype(float), levels=[0.5],
                            colors=[CLASS_COLOURS.get(label, "white")], linewidths=1)
    edge = _boundaries(overlay.extraction.segmentation)
    rgba = np.zeros((*edge.shape, 4))
    rgba[edge] = (1, 1, 1, 0.9)
    axes[1].imshow(rgba, interpolation="nearest")
    catalog = overlay.extraction.catalog
    axes[1].plot(np.asarray(catalog["x"], float), np.asarray(catalog["y"], float), "+",
                 color="yellow", ms=6)
    handles = [Line2D([], [], color=c, label=name) for name, c in CLASS_COLOURS.items()]
    handles += [Line2D([], [], ls="none", marker="o", mfc="none", mec=FOUND_COLOUR,
                       label="true centre, found"),
                Line2D([], [], ls="none", marker="x", color=MISSED_COLOUR,
                       label="true centre, missed")]
    axes[0].legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.7)
    figure.suptitle(overlay.name)
    return figure


def write_figures(evaluation: DetectorEvaluation, out_dir: str | PathLike[str]) -> list[Path]:
    """``confusion.png``, ``centroids.png``, and where the evaluation has what they need,
    ``noise.png`` and ``overlay.png``, in ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    figures = {"confusion.png": confusion_figure(evaluation),
               "centroids.png": centroid_figure(evaluation)}
    if evaluation.noise is not None and len(evaluation.noise):
        figures["noise.png"] = noise_figure(evaluation)
    if evaluation.overlay is not None:
        figures["overlay.png"] = overlay_figure(evaluation)
    return [save_figure(figure, out_dir / name) for name, figure in figures.items()]
