"""``galseg review report``: which source the reviewers preferred, and how sure that is.

Each live choice (undone ones are left out) is turned from what was clicked (left,
right, both good, both bad) into an outcome about the sources through the pair's stored
side: ``a_better``, ``b_better``, ``both_good``, ``both_bad``.

Per source, the fraction of *decisive* choices (A or B better) that preferred it, with
the exact (Clopper-Pearson) binomial 95% interval and the two-sided binomial p-value
against 50% (``scipy.stats.binomtest``; the one-sided p-value, as Walmsley & Spindler
2023 quote, is in ``p_value_greater``). The same for all reviewers together, for each
reviewer, and per galaxy (the majority of each galaxy's decisive choices, ties left out,
as the paper's footnote counts galaxies). Choices of one galaxy by several reviewers are
not independent: the per-galaxy row is the one whose interval assumes least.

Agreement between reviewers: Fleiss' kappa over the four outcomes, on galaxies seen by
at least two reviewers (the form for unequal numbers of raters per item), with a
bootstrap 95% interval over galaxies (``scipy.stats.bootstrap``). scipy has no Fleiss'
kappa; statsmodels' needs equal numbers of raters, so it is written here.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from scipy import stats

from galseg.data._atomic import write_bytes_atomic
from galseg.review.store import ReviewStore

OUTCOMES = ("a_better", "b_better", "both_good", "both_bad")
SCOPE_ALL = "all"
SCOPE_REVIEWER = "reviewer"
SCOPE_GALAXIES = "galaxy-majority"
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def outcome(choice: str, left_source: str) -> str:
    """What a click says about the sources: ``'left'`` with source A on the left is
    ``'a_better'``, and so on; both good / both bad are kept."""
    if choice in ("left", "right"):
        source = left_source if choice == "left" else {"a": "b", "b": "a"}[left_source]
        return f"{source}_better"
    if choice in ("both_good", "both_bad"):
        return choice
    raise ValueError(f"unknown choice {choice!r}")


def choice_for(outcome_name: str, left_source: str) -> str:
    """The click that gives ``outcome_name`` when source ``left_source`` is on the left
    (the inverse of :func:`outcome`; for scripted reviewers in tests and examples).

    >>> choice_for("b_better", "a")
    'right'
    """
    if outcome_name in ("a_better", "b_better"):
        return "left" if outcome_name[0] == left_source else "right"
    if outcome_name in ("both_good", "both_bad"):
        return outcome_name
    raise ValueError(f"unknown outcome {outcome_name!r}")


@dataclass(frozen=True)
class Proportion:
    """``count`` of ``out_of`` with its exact binomial interval and p-values against 50%."""

    count: int
    out_of: int

    @cached_property
    def _test(self) -> Any:
        return stats.binomtest(self.count, self.out_of, 0.5) if self.out_of else None

    @property
    def fraction(self) -> float:
        return self.count / self.out_of if self.out_of else np.nan

    @property
    def interval(self) -> tuple[float, float]:
        if self._test is None:
            return (np.nan, np.nan)
        ci = self._test.proportion_ci(confidence_level=CONFIDENCE, method="exact")
        return (float(ci.low), float(ci.high))

    @property
    def p_value(self) -> float:
        """Two-sided binomial p-value against 50%."""
        return float(self._test.pvalue) if self._test is not None else np.nan

    @property
    def p_value_greater(self) -> float:
        """One-sided: the chance of ``count`` or more out of ``out_of`` at 50%."""
        if not self.out_of:
            return np.nan
        return float(stats.binomtest(self.count, self.out_of, 0.5, alternative="greater").pvalue)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (items, categories) array of rater counts.

    Items rated by fewer than two raters are left out; items may have different numbers
    of raters (each item's agreement is over its own rater pairs). NaN when fewer than
    one item is left or every rating falls in one category (chance agreement is 1).

    >>> round(fleiss_kappa(np.array([[2, 0], [0, 2], [1, 1]])), 3)
    0.333
    """
    counts = np.asarray(counts, dtype=float)
    counts = counts[counts.sum(axis=1) >= 2]
    if len(counts) == 0:
        return np.nan
    n = counts.sum(axis=1)
    agreement = ((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    chance = float((shares**2).sum())
    if np.isclose(chance, 1.0):
        return np.nan
    return float((agreement - chance) / (1 - chance))


@dataclass(frozen=True)
class ReviewReport:
    """The choices of a review and what they say.

    Attributes
    ----------
    choices : astropy.table.Table
        One row per live choice, in the order made: ``reviewer``, ``galaxy``,
        ``shown_left`` (source name), ``clicked`` (left/right/both_good/both_bad),
        ``outcome`` (a_better, ...), ``preferred`` (source name, or '' for both
        good/bad), ``time`` (UTC).
    meta : dict
        The review's feature, threshold, sources and counts.
    """

    choices: Table
    meta: dict[str, Any]

    @property
    def source_names(self) -> tuple[str, str]:
        return (self.meta["source_a"], self.meta["source_b"])

    def _count(self, rows: Table) -> Counter:
        return Counter(str(v) for v in rows["outcome"]) if len(rows) else Counter()

    def preference(self, reviewer: str | None = None) -> tuple[Proportion, Proportion]:
        """Decisive choices preferring source A and source B (one reviewer, or all)."""
        rows = self.choices if reviewer is None else self.choices[
            self.choices["reviewer"] == reviewer]
        counts = self._count(rows)
        decisive = counts["a_better"] + counts["b_better"]
        return (Proportion(counts["a_better"], decisive), Proportion(counts["b_better"], decisive))

    def outcome_shares(self, reviewer: str | None = None) -> dict[str, Proportion]:
        """Each outcome's share of all choices."""
        rows = self.choices if reviewer is None else self.choices[
            self.choices["reviewer"] == reviewer]
        counts = self._count(rows)
        return {name: Proportion(counts[name], len(rows)) for name in OUTCOMES}

    @cached_property
    def _per_galaxy(self) -> dict[str, Counter]:
        per: dict[str, Counter] = defaultdict(Counter)
        for galaxy, result in zip(self.choices["galaxy"], self.choices["outcome"], strict=True):
            per[str(galaxy)][str(result)] += 1
        return per

    def galaxy_preference(self) -> tuple[Proportion, Proportion]:
        """Galaxies whose decisive choices mostly preferred A, and B (ties left out)."""
        wins = Counter()
        for counts in self._per_galaxy.values():
            if counts["a_better"] != counts["b_better"]:
                wins["a" if counts["a_better"] > counts["b_better"] else "b"] += 1
        decisive = wins["a"] + wins["b"]
        return (Proportion(wins["a"], decisive), Proportion(wins["b"], decisive))

    @cached_property
    def _rater_counts(self) -> np.ndarray:
        per = self._per_galaxy
        return np.array([[per[g][o] for o in OUTCOMES] for g in sorted(per)], dtype=float
                        ).reshape(-1, len(OUTCOMES))

    @cached_property
    def kappa(self) -> tuple[float, float, float, int]:
        """Fleiss' kappa, its bootstrap 95% interval, and the galaxies it is computed on."""
        counts = self._rater_counts
        counts = counts[counts.sum(axis=1) >= 2]
        value = fleiss_kappa(counts)
        if len(counts) < 3 or not np.isfinite(value):
            return (value, np.nan, np.nan, len(counts))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate resamples give NaN, not an error
            result = stats.bootstrap(
                (np.arange(len(counts)),), lambda index: fleiss_kappa(counts[index.astype(int)]),
                vectorized=False, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                confidence_level=CONFIDENCE, rng=np.random.default_rng(0))
        return (value, float(result.confidence_interval.low),
                float(result.confidence_interval.high), len(counts))

    @cached_property
    def side_preference(self) -> Proportion:
        """Decisive choices that picked the left panel: a check for a side bias."""
        clicked = [str(c) for c in self.choices["clicked"]]
        return Proportion(clicked.count("left"), clicked.count("left") + clicked.count("right"))

    def reviewers(self) -> list[str]:
        return list(dict.fromkeys(str(r) for r in self.choices["reviewer"]))

    def summary(self) -> Table:
        """One row per scope, outcome and source (the CSV/ECSV table).

        Scopes: ``all`` (every choice), ``reviewer`` (one row group per reviewer) and
        ``galaxy-majority``. Outcomes: ``preferred`` (of the decisive choices, with
        p-values), ``both_good`` and ``both_bad`` (of all choices).
        """
        rows: list[dict[str, Any]] = []

        def add(scope: str, reviewer: str, outcome_name: str, source: str,
                share: Proportion, p: bool) -> None:
            low, high = share.interval
            rows.append({"scope": scope, "reviewer": reviewer, "outcome": outcome_name,
                         "source": source, "count": share.count, "out_of": share.out_of,
                         "fraction": share.fraction, "ci95_low": low, "ci95_high": high,
                         "p_value": share.p_value if p else np.nan,
                         "p_value_greater": share.p_value_greater if p else np.nan})

        def scope_rows(scope: str, reviewer: str | None) -> None:
            for name, share in zip(self.source_names, self.preference(reviewer), strict=True):
                add(scope, reviewer or "", "preferred", name, share, True)
            shares = self.outcome_shares(reviewer)
            for name in ("both_good", "both_bad"):
                add(scope, reviewer or "", name, "", shares[name], False)

        scope_rows(SCOPE_ALL, None)
        for reviewer in self.reviewers():
            scope_rows(SCOPE_REVIEWER, reviewer)
        for name, share in zip(self.source_names, self.galaxy_preference(), strict=True):
            add(SCOPE_GALAXIES, "", "preferred", name, share, True)
        table = Table(rows=rows, names=list(rows[0])) if rows else Table()
        kappa, low, high, n_items = self.kappa
        side = self.side_preference
        table.meta.update({
            **self.meta, "fleiss_kappa": kappa, "fleiss_kappa_ci95": [low, high],
            "fleiss_kappa_galaxies": n_items, "left_preferred_fraction": side.fraction,
            "left_preferred_p_value": side.p_value,
            "intervals": "exact binomial (Clopper-Pearson) 95%",
            "p_value": "two-sided binomial test against 0.5 (scipy.stats.binomtest)"})
        for column in ("fraction", "ci95_low", "ci95_high"):
            table[column].format = ".4f"
        for column in ("p_value", "p_value_greater"):
            table[column].format = ".4g"
        return table

    def lines(self) -> list[str]:
        """A few lines for the terminal."""
        if not len(self.choices):
            return ["no choices yet"]
        a, b = self.source_names
        share_a, _ = self.preference()
        low, high = share_a.interval
        galaxy_a, _ = self.galaxy_preference()
        shares = self.outcome_shares()
        kappa, k_low, k_high, n_items = self.kappa
        lines = [
            f"{len(self.choices)} choices by {len(self.reviewers())} reviewers on "
            f"{len(self._per_galaxy)} of {self.meta['n_pairs']} pairs "
            f"({self.meta['feature']}, >= {self.meta['threshold_votes']} votes)",
            f"{a} preferred over {b} in {share_a.count} of {share_a.out_of} decisive choices: "
            f"{100 * share_a.fraction:.1f}% [{100 * low:.1f}, {100 * high:.1f}] (95%), "
            f"p = {share_a.p_value:.3g} against 50%",
            f"by galaxy (majority): {a} in {galaxy_a.count} of {galaxy_a.out_of}",
            f"both good {100 * shares['both_good'].fraction:.1f}%, both bad "
            f"{100 * shares['both_bad'].fraction:.1f}% of all choices",
            f"Fleiss' kappa {kappa:.3f} [{k_low:.3f}, {k_high:.3f}] on {n_items} galaxies "
            "seen by two or more reviewers",
        ]
        return lines

    def figure(self) -> Any:
        """The report's figure: the share of each outcome (as the paper's Fig. 2a), and
        the preference for source A overall, by galaxy and per reviewer."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        a, b = self.source_names
        reviewers = self.reviewers()
        height = max(3.6, 1.6 + 0.38 * (len(reviewers) + 2))
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, height),
                                          gridspec_kw={"width_ratios": [1, 1.15]})
        shares = self.outcome_shares()
        labels = [f"{a} better", f"{b} better", "both good", "both bad"]
        colours = ["#2f6fb3", "#d9822b", "#3a9a5b", "#b23b3b"]
        values = [shares[o] for o in OUTCOMES]
        y = np.arange(len(values))[::-1]
        fractions = np.array([v.fraction for v in values])
        errors = np.array([[v.fraction - v.interval[0], v.interval[1] - v.fraction]
                           for v in values]).T
        left.barh(y, fractions, color=colours, xerr=errors, capsize=4,
                  error_kw={"elinewidth": 1.2})
        for yy, v in zip(y, values, strict=True):
            left.text(min(v.interval[1] if np.isfinite(v.interval[1]) else 0, 0.98) + 0.02, yy,
                      f"{v.count}/{v.out_of}", va="center", fontsize=9)
        left.set_yticks(y, labels)
        left.set_xlim(0, 1.15)
        left.set_xlabel("fraction of all choices")
        left.set_title(f"{len(self.choices)} choices, {len(reviewers)} reviewers")

        rows = [("all reviewers", self.preference()[0]),
                ("by galaxy (majority)", self.galaxy_preference()[0])]
        rows += [(name, self.preference(name)[0]) for name in reviewers]
        y = np.arange(len(rows))[::-1]
        for k, (yy, (_, share)) in enumerate(zip(y, rows, strict=True)):
            low, high = share.interval
            together = k < 2  # all reviewers, by galaxy; then one row per reviewer
            right.errorbar(share.fraction, yy,
                           xerr=[[share.fraction - low], [high - share.fraction]], fmt="o",
                           color="#2f6fb3" if together else "#6c7a89", capsize=4,
                           markersize=7 if together else 5)
            p = f"p={share.p_value:.2g}" if np.isfinite(share.p_value) else ""
            right.text(1.03, yy, f"{share.count}/{share.out_of} {p}", va="center", fontsize=8.5,
                       transform=right.get_yaxis_transform())
        right.axvline(0.5, color="0.5", linestyle="--", linewidth=1)
        right.set_yticks(y, [name for name, _ in rows])
        right.set_xlim(0, 1)
        right.set_xlabel(f"fraction of decisive choices preferring {a} (95% interval)")
        kappa, k_low, k_high, n_items = self.kappa
        kappa_text = (f"Fleiss' κ = {kappa:.2f} [{k_low:.2f}, {k_high:.2f}], {n_items} galaxies"
                      if np.isfinite(kappa) else "Fleiss' κ: needs galaxies seen by 2+ reviewers")
        right.set_title(f"{a} vs {b}; {kappa_text}", fontsize=10)
        fig.suptitle(f"Blinded review: {self.meta['feature']} masks at >= "
                     f"{self.meta['threshold_votes']} votes", fontsize=12)
        fig.tight_layout()
        return fig

    def write(self, out_dir: str | PathLike[str]) -> list[Path]:
        """Write ``summary.csv``, ``summary.ecsv`` (with the kappa and the review's
        settings in its header), ``choices.csv`` and ``report.png`` into ``out_dir``."""
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        written = []
        for name, table, fmt in (("summary.csv", summary, "ascii.csv"),
                                 ("summary.ecsv", summary, "ascii.ecsv"),
                                 ("choices.csv", self.choices, "ascii.csv")):
            text = io.StringIO()
            table.write(text, format=fmt)
            written.append(write_bytes_atomic(out_dir / name, text.getvalue().encode()))
        figure = self.figure()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=130)
        plt.close(figure)
        written.append(write_bytes_atomic(out_dir / "report.png", buffer.getvalue()))
        return written


def review_report(review_dir: str | PathLike[str]) -> ReviewReport:
    """Read a review's choices and settings (:class:`ReviewReport`)."""
    store = ReviewStore(review_dir)
    meta = store.meta
    names = {"a": meta["source_a_name"], "b": meta["source_b_name"]}
    records = store.choices()
    rows = []
    for record in records:
        result = outcome(record["choice"], record["left_source"])
        rows.append((record["reviewer"], record["pair"], names[record["left_source"]],
                     record["choice"], result,
                     names[result[0]] if result in ("a_better", "b_better") else "",
                     record["created_at"]))
    columns = ["reviewer", "galaxy", "shown_left", "clicked", "outcome", "preferred", "time"]
    choices = (Table(rows=rows, names=columns) if rows
               else Table(names=columns, dtype=[str] * len(columns)))
    n_undone = len(store.choices(include_undone=True)) - len(records)
    return ReviewReport(choices, {
        "feature": meta["feature"], "threshold_votes": int(meta["threshold_votes"]),
        "source_a": names["a"], "source_b": names["b"],
        "source_a_dir": meta["source_a_dir"], "source_b_dir": meta["source_b_dir"],
        "n_pairs": store.n_pairs(), "n_reviewers_invited": len(store.reviewers()),
        "n_choices": len(rows), "n_undone": n_undone,
    })
