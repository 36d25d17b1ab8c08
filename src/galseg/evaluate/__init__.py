"""Evaluation of galseg's models against exact truth (simulated galaxies).

:func:`evaluate_segmenter` scores the spiral-arm/bar segmenter against the simulated
volunteers and the simulator's truth masks; :mod:`galseg.evaluate.figures` draws the
figures; ``docs/evaluation.md`` explains every number.
"""

from galseg.evaluate.segmentation import (
    SegmenterEvaluation,
    TruthGalaxy,
    evaluate_segmenter,
    read_catalog,
    read_truth_galaxy,
)

__all__ = [
    "SegmenterEvaluation",
    "TruthGalaxy",
    "evaluate_segmenter",
    "read_catalog",
    "read_truth_galaxy",
]
