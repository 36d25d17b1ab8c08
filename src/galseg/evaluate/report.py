"""Summary of a segmenter evaluation: aggregate scores and markdown tables.

:func:`summarize` turns the per-galaxy table of a
:class:`~galseg.evaluate.segmentation.SegmenterEvaluation` into the nested dict behind
``metrics.json``; :func:`summary_markdown` prints that dict as the tables of
``docs/evaluation.md``. :func:`json_ready` makes any evaluation's summary (this one,
the detector's) writable as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from astropy.table import Table

from galseg.evaluate.metrics import (
    BASIC_RULE_FAMILIES,
    COMPARISONS,
    FEATURES,
    MAJORITY_VOTES,
    PEAK_FRACTIONS,
    REPORTED_MAX_VOTES,
    REY_DEUTSCH_VOTES,
    SCORES,
    angle_difference_deg,
    column_votes,
    detection_scores,
    fraction_with_error,
    iou_column,
    length_agreement,
    mean_or_nan,
    median_or_nan,
    presence_column,
    rule_in_grid,
    rule_label,
    std_or_nan,
)
from galseg.measure.arms import DEFAULT_SPIRAL_THRESHOLD


class PerGalaxyScores(Protocol):
    """What the summary reads of an evaluation: its per-galaxy table and the rule
    choices made on it (:class:`galseg.evaluate.segmentation.SegmenterEvaluation`, which
    imports this module to summarise itself, so this module does not import it back)."""

    table: Table
    setup: dict[str, Any]

    def feature_rows(self, feature: str, *, calibration: bool) -> np.ndarray: ...

    def iou_at(self, feature: str, source: str, threshold: float, rows: np.ndarray,
               family: str = ...) -> np.ndarray: ...

    def chosen_rule(self, feature: str, source: str,
                    families: Sequence[str] = ...) -> tuple[str, float | None]: ...

    def chosen_votes(self, feature: str) -> tuple[float | None, float | None]: ...

    def test_ious(self, feature: str, *, model_families: Sequence[str] = ...,
                  consensus_families: Sequence[str] = ...) -> tuple[np.ndarray, np.ndarray]: ...


# --------------------------------------------------------------------------------
# Summary of the per-galaxy table
# --------------------------------------------------------------------------------
def _comparison(model: np.ndarray, consensus: np.ndarray) -> dict[str, Any]:
    """Mean IoUs of two paired arrays and how often the model's is higher."""
    better, error = fraction_with_error(model > consensus)
    return {"mean_iou_model": mean_or_nan(model), "mean_iou_consensus": mean_or_nan(consensus),
            "fraction_model_better": better, "fraction_model_better_error": error,
            "fraction_tied": mean_or_nan(model == consensus)}


def _model_vs_consensus(evaluation: PerGalaxyScores, feature: str) -> dict[str, Any]:
    """The model's mask against the volunteers' consensus mask on the test galaxies.

    The headline compares each at its own best rule, chosen on the calibration galaxies
    among fixed votes, fractions of the map's peak and ``F * peak**G``; ``votes_and_peak``
    restricts both to the first two, ``fixed_votes`` to fixed votes, ``vote_consensus``
    only the consensus (the usual GZ3D consensus mask), and ``majority`` sets the
    consensus at 8 of 15 votes. For the arms, ``default_rule`` sets the model's mask at
    the rule ``galseg segment`` applies with this model (``setup['arm_rule']``: the
    model's own rule, else ``galseg.measure``'s default; chosen on other galaxies, so on
    none of these), the mask users get.
    """
    model_rule, consensus_rule = (evaluation.chosen_rule(feature, source)
                                  for source in ("model", "consensus"))
    model_votes, consensus_votes = evaluation.chosen_votes(feature)
    model, consensus = evaluation.test_ious(feature)
    majority = (evaluation.iou_at(feature, "consensus", MAJORITY_VOTES,
                                  evaluation.feature_rows(feature, calibration=False))
                if len(model) else model)  # no model threshold: nothing to compare
    family, threshold = model_rule
    grid = column_votes(iou_column(feature, "model", family))
    basic_rules = [evaluation.chosen_rule(feature, source, BASIC_RULE_FAMILIES)
                   for source in ("model", "consensus")]
    return {"model_rule": rule_label(*model_rule), "consensus_rule": rule_label(*consensus_rule),
            # the best model threshold is the lowest tried: a lower one might do better
            "model_rule_at_grid_edge": threshold == grid[0],
            "n_calibration": int(evaluation.feature_rows(feature, calibration=True).sum()),
            "n_test": len(model), **_comparison(model, consensus),
            "votes_and_peak": {"model_rule": rule_label(*basic_rules[0]),
                               "consensus_rule": rule_label(*basic_rules[1]),
                               **_comparison(*evaluation.test_ious(
                                   feature, model_families=BASIC_RULE_FAMILIES,
                                   consensus_families=BASIC_RULE_FAMILIES))},
            "fixed_votes": {"model_votes": model_votes, "consensus_votes": consensus_votes,
                            **_comparison(*evaluation.test_ious(
                                feature, model_families=("votes",),
                                consensus_families=("votes",)))},
            "vote_consensus": {"consensus_votes": consensus_votes,
                               **_comparison(*evaluation.test_ious(
                                   feature, consensus_families=("votes",)))},
            "majority": {"consensus_votes": MAJORITY_VOTES, **_comparison(model, majority)},
            "default_rule": _default_rule_comparison(evaluation, feature, consensus_rule)}


def _default_rule_comparison(evaluation: PerGalaxyScores, feature: str,
                             consensus_rule: tuple[str, float | None],
                             ) -> dict[str, Any] | None:
    """The model at the arm rule ``galseg segment`` applies with it against the consensus at its
    chosen rule ``consensus_rule`` (family, threshold), on the test galaxies (None for the
    bar, whose length rule is not a mask rule of the IoU curves, or when the default is
    off the grids)."""
    arm_rule = evaluation.setup.get("arm_rule", DEFAULT_SPIRAL_THRESHOLD)
    rule = rule_in_grid(arm_rule) if feature == "spiral" else None
    consensus_family, consensus_threshold = consensus_rule
    if rule is None or consensus_threshold is None:
        return None
    rows = evaluation.feature_rows(feature, calibration=False)
    model = evaluation.iou_at(feature, "model", rule[1], rows, rule[0])
    consensus = evaluation.iou_at(feature, "consensus", consensus_threshold, rows,
                                  consensus_family)
    return {"model_rule": rule_label(*rule),
            "consensus_rule": rule_label(consensus_family, consensus_threshold),
            **_comparison(model, consensus)}


def _rey_deutsch(table: Table) -> dict[str, Any]:
    found_model = np.asarray(table["spiral_pixels_model"]) > 0
    found_volunteers = np.asarray(table["spiral_pixels_volunteers"]) > 0
    truth = np.asarray(table["truth_has_spiral_arms"])[:, None]
    selections = {"model_vs_volunteers": found_model & found_volunteers,
                  "model_vs_truth": found_model & truth,
                  "volunteers_vs_truth": found_volunteers & truth}
    out: dict[str, Any] = {"votes": list(REY_DEUTSCH_VOTES)}
    for comparison, selected in selections.items():
        entry: dict[str, Any] = {"n": selected.sum(axis=0).tolist()}
        for score in SCORES:
            values = np.asarray(table[f"spiral_{comparison}_{score}"])
            columns = [values[selected[:, i], i] for i in range(len(REY_DEUTSCH_VOTES))]
            entry[f"{score}_mean"] = [mean_or_nan(v) for v in columns]
            entry[f"{score}_std"] = [std_or_nan(v) for v in columns]
        out[comparison] = entry
    return out


def _bar_length(table: Table, source: str) -> dict[str, Any]:
    rows = (np.asarray(table["truth_has_bar"]) & np.asarray(table[f"{source}_has_bar"])
            & np.isfinite(table[f"{source}_bar_length_px"]))
    scores = length_agreement(table[f"{source}_bar_length_px"][rows],
                              table["truth_bar_length_px"][rows])
    scores["median_abs_pa_error_deg"] = median_or_nan(angle_difference_deg(
        table[f"{source}_bar_pa_deg"][rows], table["truth_bar_pa_deg"][rows]))
    return scores


def summarize(evaluation: PerGalaxyScores) -> dict[str, Any]:
    """Aggregate scores of an evaluation (:attr:`SegmenterEvaluation.summary`)."""
    table = evaluation.table
    summary: dict[str, Any] = {"setup": {
        **evaluation.setup, "n_galaxies": len(table),
        "n_calibration": int(np.sum(table["calibration"])),
        "n_truth_spiral": int(np.sum(table["truth_has_spiral_arms"])),
        "n_truth_bar": int(np.sum(table["truth_has_bar"]))}}
    summary["vote_fraction_l1"] = {
        feature: {"marked": mean_or_nan(table[f"{feature}_l1"][table[f"{feature}_marked"]]),
                  "n_marked": int(np.sum(table[f"{feature}_marked"])),
                  "all": mean_or_nan(table[f"{feature}_l1"]), "n": len(table)}
        for feature in FEATURES}
    summary["iou_with_truth"] = {}
    for feature in FEATURES:
        rows = np.asarray(table[f"truth_{presence_column(feature)}"])
        entry: dict[str, Any] = {"n": int(rows.sum())}
        for source in ("model", "consensus"):
            votes = [v for v in column_votes(f"{feature}_iou_{source}")
                     if v <= REPORTED_MAX_VOTES]
            entry[f"{source}_votes"] = votes
            entry[source] = [mean_or_nan(evaluation.iou_at(feature, source, v, rows))
                             for v in votes]
            entry[f"{source}_peak"] = [
                mean_or_nan(evaluation.iou_at(feature, source, f, rows, "peak"))
                for f in PEAK_FRACTIONS]
        entry["peak_fractions"] = list(PEAK_FRACTIONS)
        summary["iou_with_truth"][feature] = entry
    summary["rey_deutsch_spiral"] = _rey_deutsch(table)
    summary["model_vs_consensus"] = {f: _model_vs_consensus(evaluation, f) for f in FEATURES}
    summary["detection"] = {
        feature: {source: detection_scores(table[f"{source}_{presence_column(feature)}"],
                                           table[f"truth_{presence_column(feature)}"])
                  for source in ("model", "volunteers")}
        for feature in FEATURES}
    summary["bar_length"] = {source: _bar_length(table, source)
                             for source in ("model", "volunteers")}
    return summary


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists, NaN and inf as None.

    Dict keys become strings and tuples lists, recursively, so that
    ``json.dumps(json_ready(value))`` writes strict JSON (no ``NaN``).
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


# --------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _votes(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _iou_rows(iou_by_votes: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows k | spiral model | spiral consensus | bar model | bar consensus ('-': not tried)."""
    columns = [dict(zip(iou_by_votes[f][f"{s}_votes"], iou_by_votes[f][s], strict=True))
               for f in FEATURES for s in ("model", "consensus")]
    votes = sorted({v for column in columns for v in column})
    return [(f"{v:g}", *(column.get(v) for column in columns)) for v in votes]


def _better(entry: dict[str, Any]) -> str:
    return f"{_fmt(entry['fraction_model_better'])} ± {_fmt(entry['fraction_model_better_error'])}"


def _versus_table(versus: dict[str, Any]) -> str:
    rows = [(feature, (v["model_rule"] or "-") + ("*" if v["model_rule_at_grid_edge"] else ""),
             v["consensus_rule"] or "-", v["n_test"], v["mean_iou_model"],
             v["mean_iou_consensus"], _better(v), v["fraction_tied"])
            for feature, v in versus.items()]
    table = _markdown_table(["feature", "model rule", "consensus rule", "N", "model IoU",
                             "consensus IoU", "model better", "tied"], rows)
    if any(v["model_rule_at_grid_edge"] for v in versus.values()):
        table += "\n\n\\* the lowest threshold tried; a lower one might suit the model better."
    rows = []
    for feature, v in versus.items():
        basic, fixed, votes, majority = (v["votes_and_peak"], v["fixed_votes"],
                                         v["vote_consensus"], v["majority"])
        default = v.get("default_rule")
        if default:
            rows.append((feature, "model at the rule galseg segment applies",
                         default["model_rule"], default["consensus_rule"],
                         default["mean_iou_model"], default["mean_iou_consensus"],
                         _better(default)))
        rows += [(feature, "both at fixed votes or a fraction of the peak (G = 1)",
                  basic["model_rule"] or "-", basic["consensus_rule"] or "-",
                  basic["mean_iou_model"], basic["mean_iou_consensus"], _better(basic)),
                 (feature, "both at fixed votes", _votes(fixed["model_votes"]) + " votes",
                  _votes(fixed["consensus_votes"]) + " votes", fixed["mean_iou_model"],
                  fixed["mean_iou_consensus"], _better(fixed)),
                 (feature, "consensus at fixed votes", v["model_rule"] or "-",
                  _votes(votes["consensus_votes"]) + " votes", votes["mean_iou_model"],
                  votes["mean_iou_consensus"], _better(votes)),
                 (feature, "majority consensus", v["model_rule"] or "-",
                  f"{majority['consensus_votes']} votes", majority["mean_iou_model"],
                  majority["mean_iou_consensus"], _better(majority))]
    return table + "\n\nThe same test galaxies with the rules restricted:\n\n" + _markdown_table(
        ["feature", "comparison", "model rule", "consensus rule", "model IoU", "consensus IoU",
         "model better"], rows)


def summary_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables of a :attr:`SegmenterEvaluation.summary`."""
    setup = summary["setup"]
    parts = [f"{setup['n_galaxies']} galaxies ({setup['n_truth_spiral']} with true arms, "
             f"{setup['n_truth_bar']} with a true bar); thresholds chosen on "
             f"{setup['n_calibration']}, compared on the rest."]
    l1 = summary["vote_fraction_l1"]
    parts.append("**Vote-fraction L1** (mean absolute error per pixel)\n\n" + _markdown_table(
        ["feature", "galaxies with volunteer marks", "N", "all galaxies", "N"],
        [(f, l1[f]["marked"], l1[f]["n_marked"], l1[f]["all"], l1[f]["n"]) for f in FEATURES]))
    iou_by_votes = summary["iou_with_truth"]
    parts.append("**Mean IoU with truth** of the mask fraction >= k/15 (galaxies whose truth "
                 f"has the feature: N = {iou_by_votes['spiral']['n']} spiral, "
                 f"{iou_by_votes['bar']['n']} bar)\n\n" + _markdown_table(
                     ["k", "spiral model", "spiral consensus", "bar model", "bar consensus"],
                     _iou_rows(iou_by_votes)))
    parts.append("**Mean IoU with truth** of the mask fraction >= F x the map's peak (same "
                 "galaxies)\n\n" + _markdown_table(
                     ["F", "spiral model", "spiral consensus", "bar model", "bar consensus"],
                     [(f"{f:g}", *(iou_by_votes[feature][f"{source}_peak"][i]
                                   for feature in FEATURES for source in ("model", "consensus")))
                      for i, f in enumerate(iou_by_votes["spiral"]["peak_fractions"])]))
    rd = summary["rey_deutsch_spiral"]
    rows = []
    for comparison in COMPARISONS:
        for i, th in enumerate(rd["votes"]):
            entry = rd[comparison]
            rows.append((comparison.replace("_", " "), th, entry["n"][i], *(
                f"{_fmt(entry[f'{s}_mean'][i], 2)} ± {_fmt(entry[f'{s}_std'][i], 2)}"
                for s in SCORES)))
    parts.append("**Spiral masks at th votes (Rey Deutsch et al. 2023)**; galaxies where "
                 "both masks are non-empty (truth: where the truth has arms)\n\n"
                 + _markdown_table(["comparison", "th", "N", "accuracy", "precision",
                                    "Jaccard"], rows))
    parts.append("**Model mask vs volunteers' consensus mask**, IoU with truth on the test "
                 "galaxies; each mask's rule (k votes of 15, 'peakF': F times the map's "
                 "peak, or 'peakF^G': F times the peak to the power G) chosen on the "
                 "calibration galaxies\n\n"
                 + _versus_table(summary["model_vs_consensus"]))
    detection = summary["detection"]
    parts.append("**Detection** against truth\n\n" + _markdown_table(
        ["feature", "from", "completeness", "purity", "accuracy", "N true", "N detected"],
        [(f, s, d["completeness"], d["purity"], d["accuracy"], d["n_true"], d["n_detected"])
         for f in FEATURES for s, d in detection[f].items()]))
    lengths = summary["bar_length"]
    parts.append("**Bar length** (true bars that were detected)\n\n" + _markdown_table(
        ["from", "N", "Pearson r", "median abs fractional error", "MAE (px)",
         "median abs PA error (deg)"],
        [(s, v["n"], v["pearson_r"], v["median_abs_fractional_error"],
          v["mean_abs_error_px"], v["median_abs_pa_error_deg"]) for s, v in lengths.items()]))
    return "\n\n".join(parts) + "\n"
