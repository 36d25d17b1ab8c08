"""The survey pipelines' geometric shred rule: the baseline the shred classifier must beat.

A catalog source is called a shred when its position falls inside the isophote
of a brighter source whose centre is elsewhere: the source is then a piece of
that source (a knot, an arm segment, a patch of halo) rather than a galaxy of
its own. :func:`isophote_shred_rule` applies this to one cutout centred on the
catalog position, with SExtractor's algorithm (:func:`~galseg.predict.classical.
extract_sources`, through ``sep``):

1. Sources are extracted twice from the cutout's summed bands: deblended
   (SExtractor's defaults, the catalog a pipeline makes) and not deblended (the
   "parent" isophotes at the same threshold).
2. The isophote holding the position is the parent segment at the centre pixel;
   the host is the brightest deblended source whose centre lies inside it.
3. If the host's centre is more than ``match_radius_px`` from the position and the
   host holds more light than the position itself (the background-subtracted
   light within ``match_radius_px``), the position is a shred of the host.

The score for ranking (and ROC curves) is ``log10(host flux / light at the
position)`` where the rule fires and 0 where it does not.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from galseg.predict.classical import NoDetectionsWarning, extract_sources


@dataclass(frozen=True)
class IsophoteShred:
    """What the isophote rule found at one catalog position.

    Attributes
    ----------
    is_shred : bool
        The position lies inside a brighter source's isophote whose centre is elsewhere.
    score : float
        ``log10(host flux / light at the position)`` when ``is_shred``, else 0.
    host_offset_px : float
        Distance from the position to the host's centre (NaN: no isophote holds the
        position).
    """

    is_shred: bool
    score: float
    host_offset_px: float


def isophote_shred_rule(cutout: np.ndarray, *, match_radius_px: float = 4.0,
                        threshold_sigma: float = 1.5) -> IsophoteShred:
    """Apply the survey pipelines' shred rule to a cutout centred on the catalog position.

    Parameters
    ----------
    cutout : ndarray, shape (S, S, 3) or (S, S)
        Colour (uint8 or float) or one-band cutout; the position is pixel
        ``(S // 2, S // 2)``, as in the cutout services.
    match_radius_px : float
        Centres closer than this to the position are the source itself.
    threshold_sigma : float
        Detection threshold in background rms.

    Returns
    -------
    IsophoteShred
    """
    image = np.asarray(cutout, dtype=np.float32)
    if image.ndim == 3:
        image = image.sum(axis=2)
    if image.ndim != 2:
        raise ValueError(f"cutout must be (S, S, 3) or (S, S), got {np.shape(cutout)}")
    cy, cx = image.shape[0] // 2, image.shape[1] // 2
    nothing = IsophoteShred(False, 0.0, float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        try:
            children = extract_sources(image, threshold_sigma=threshold_sigma)
            # the same background and noise: only the deblending differs
            parents = extract_sources(image, threshold_sigma=threshold_sigma,
                                      deblend_cont=1.0, background=children.background,
                                      background_rms=children.background_rms)
        except ValueError:  # no valid pixel
            return nothing
    parent = int(parents.segmentation[cy, cx])
    if len(children) == 0 or parent == 0:
        return nothing
    x = np.asarray(children.catalog["x"], float)
    y = np.asarray(children.catalog["y"], float)
    flux = np.asarray(children.catalog["flux"], float)
    # the deblended sources whose centre pixel lies in the isophote holding the position
    col = np.clip(np.round(x).astype(int), 0, image.shape[1] - 1)
    row = np.clip(np.round(y).astype(int), 0, image.shape[0] - 1)
    members = np.flatnonzero(parents.segmentation[row, col] == parent)
    if len(members) == 0:
        return nothing
    host = int(members[np.argmax(flux[members])])
    offset = float(np.hypot(x[host] - cx, y[host] - cy))
    if offset <= match_radius_px:
        return IsophoteShred(False, 0.0, offset)
    # the light at the position itself: what the catalog source holds, whether or not
    # the re-extraction deblended it
    yy, xx = np.ogrid[:image.shape[0], :image.shape[1]]
    aperture = (xx - cx) ** 2 + (yy - cy) ** 2 <= match_radius_px**2
    subtracted = image - children.background
    source_flux = float(np.clip(subtracted[aperture], 0, None).sum())
    if flux[host] <= source_flux:
        return IsophoteShred(False, 0.0, offset)
    ratio = flux[host] / max(source_flux, 1e-6 * flux[host])
    return IsophoteShred(True, float(np.log10(ratio)), offset)


__all__ = ["IsophoteShred", "isophote_shred_rule"]
