"""Simulated Galaxy Zoo 3D volunteers: polygons and points drawn on a simulated galaxy.

Given the exact truth of a simulated galaxy (:class:`~galseg.sim.truth.GalaxyTruth`),
:func:`simulate_classifications` returns one
:class:`~galseg.labels.classification.VolunteerClassification` per simulated volunteer,
drawn the way GZ3D volunteers drew on the SDSS colour images: blocky polygons of a
few clicked vertices around the arms and the bar, clicks on the centre and on
foreground stars. Vote-fraction maps made from them have the faults of real GZ3D
maps (Walmsley & Spindler 2023; Rey Deutsch et al. 2023):

- step-edged maps from 1-15 overlapping blocky polygons;
- many galaxies with few or no markers, because volunteers skip faint arms
  (only ~24% of GZ3D galaxies have any spiral pixel marked);
- polygons wider than the arms, arms traced only part-way or missed, adjacent
  arms merged into one broad polygon, the inner disc circled instead of arms;
- bars drawn too wide at about the right length; false bars on unbarred
  (mostly inclined) discs; rare spiral polygons on galaxies without arms;
- occasional self-intersecting polygons from a sloppily closed outline (the
  official GZ3D masks drop those; Walmsley & Spindler keep them).

Every probability and scale is a named field of :class:`VolunteerBehaviour` (the
calibration); ``docs/volunteers.md`` says which value comes from which real GZ3D
fact and which is a judgement. The model is geometric and pure numpy: no image is
rasterised, and one galaxy with 15 volunteers takes about a millisecond.

Conventions are galseg's (see :mod:`galseg.sim.truth`): points are ``(x, y)`` in
pixels with ``x`` the column and ``y`` the row of the image, pixel centres on
integers; polygons are float arrays of shape ``(n, 2)``, implicitly closed, with
every vertex inside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.

"Contrast" is the simulator's measure of visibility (peak feature surface
brightness over the per-pixel r-band sky noise, after the PSF). Detection
probabilities are logistic functions of the base-10 logarithm of the contrast a
volunteer *sees*: for arms, the contrast reduced for inclined discs and for arms
that are wide compared with the disc (they blend into it).

One module per concept: :mod:`~galseg.sim.volunteers.behaviour` (the calibration,
:class:`VolunteerBehaviour`), :mod:`~galseg.sim.volunteers.polygons` (polygon
generation), :mod:`~galseg.sim.volunteers.drawing` (what each volunteer draws) and
:mod:`~galseg.sim.volunteers.classifications` (:func:`simulate_classifications`).
"""

from __future__ import annotations

from galseg.sim.volunteers.behaviour import DEFAULT_BEHAVIOUR, VolunteerBehaviour
from galseg.sim.volunteers.classifications import simulate_classifications

__all__ = [
    "DEFAULT_BEHAVIOUR",
    "VolunteerBehaviour",
    "simulate_classifications",
]
