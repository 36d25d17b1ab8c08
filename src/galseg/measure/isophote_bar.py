"""The classical bar finder: isophote ellipse fitting, the baseline beside the network.

Ellipses are fitted to the galaxy's isophotes (``photutils.isophote``, the method of
Jedrzejewski 1987) from the centre outwards, and the bar is read off the radial profiles
of ellipticity and position angle by the usual criteria (Erwin & Sparke 2003;
Menéndez-Delmestre et al. 2007, MD07):

1. inside the bar the ellipticity rises to a peak of at least ``min_ellipticity`` (0.25)
   while the position angle stays within ``max_pa_wander_deg`` (20°) of the peak's;
2. the bar ends where that stops: beyond the peak, within ``end_search_factor`` (2.5)
   times its semi-major axis, the ellipticity falls by at least ``min_drop`` (0.1) or the
   position angle turns by at least ``min_pa_turn_deg`` (10°) from the bar's;
3. the peak lies at least ``min_sma_fraction`` (0.3) of the largest fitted isophote's
   semi-major axis from the centre (a nucleus or a knot a few pixels out is not a bar;
   chosen on galseg's train eye labels and simulations, ``docs/experiments.md``);
4. the bar's semi-major axis is the peak's (``a_epsmax`` of MD07, the usual lower bound
   of the bar's length), its length end to end twice that, its position angle and
   ellipticity those of the peak isophote.

A monotonic stretch keeps every isophote's shape, so the finder works on the colour
image's luminance, whatever its stretch (JPEG or FITS through the survey stretch).
Large images are averaged down to at most ``max_side`` (256) pixels for speed; results
are in the input's pixels. About 0.1-0.5 s a galaxy on one CPU core, so
``galseg segment`` runs it only when asked (``--classical-bar``). Tests:
``tests/test_isophote_bar.py``; scores beside the network's: ``docs/bar_labels.md``.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any

import astropy.units as u
import numpy as np
from astropy.wcs import WCS
from scipy.ndimage import gaussian_filter

from galseg.measure.bar import (
    axis_end_points,
    check_pixscale,
    check_redshift,
    kpc_per_arcsec_or_nan,
    sky_position_angle,
)

DEFAULT_MIN_ELLIPTICITY = 0.25
"""Smallest peak ellipticity of a bar (MD07)."""
DEFAULT_MIN_DROP = 0.1
"""Fall of the ellipticity beyond the peak that ends a bar (MD07)."""
DEFAULT_MIN_PA_TURN_DEG = 10.0
"""Turn of the position angle beyond the peak that ends a bar (Erwin & Sparke 2003)."""
DEFAULT_MAX_PA_WANDER_DEG = 20.0
"""Largest departure of the position angle from the peak's inside the bar (MD07)."""
DEFAULT_MIN_SMA_PX = 3.0
"""Peaks inside this semi-major axis (fitted pixels) are the seeing disc, not a bar."""
DEFAULT_MIN_SMA_FRACTION = 0.3
"""Smallest bar peak semi-major axis as a fraction of the largest fitted isophote's: chosen
on the eye labels' train split and simulations (``docs/experiments.md``, 2026-12-06)."""
DEFAULT_MAX_SIDE = 256
"""Images larger than this are averaged down (integer factor) before fitting."""
LENGTH_RULES = ("peak", "end", "mean")
"""The bar's semi-major axis: the peak isophote's (``a_epsmax``), the first isophote past
the end criterion's, or their mean (Erwin 2005 brackets a bar between the two)."""
DEFAULT_LENGTH_RULE = "peak"
FIT_STEP = 0.12
"""Geometric growth of the semi-major axis from one isophote to the next."""
END_SEARCH_FACTOR = 2.5
"""The drop or turn must come within this many times the peak's semi-major axis."""


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W) mean of an (H, W, 3) colour image (or the image itself if 2-D), float64."""
    array = np.asarray(rgb, dtype=float)
    return array.mean(axis=2) if array.ndim == 3 else array


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    trimmed = image[:height, :width]
    return trimmed.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def _angle_difference_deg(a: np.ndarray | float, b: float) -> np.ndarray:
    """|a - b| for axes (period 180°), in degrees in [0, 90]."""
    diff = (np.asarray(a, dtype=float) - b) % 180.0
    return np.minimum(diff, 180.0 - diff)


class IsophoteBar:
    """A bar found (or not) in a galaxy image by isophote ellipse fitting.

    Small result object: the fit runs on first use of any property.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3)
        The galaxy (any monotonic stretch; colour images are averaged over channels).
        NaN pixels are left out of the fit.
    centre : (x, y), optional, keyword-only
        The galaxy's centre in pixels; default: the brightest point of the smoothed
        image within the central half of the frame.
    pixscale_arcsec, redshift, wcs : keyword-only
        As :class:`galseg.measure.bar.BarMeasurement` (lengths in arcsec and kpc, sky PA).
    min_ellipticity, min_drop, min_pa_turn_deg, max_pa_wander_deg, min_sma_px : keyword-only
        The criteria of the module docstring.
    min_sma_fraction : float, keyword-only
        A bar's peak semi-major axis must be at least this fraction of the largest fitted
        isophote's (the galaxy's extent in the frame): a floor against ellipticity peaks
        of nuclei and knots a few pixels from the centre; 0: none.
    max_side : int, keyword-only
        Fit on an image averaged down to at most this many pixels a side.
    length_rule : {'peak', 'end', 'mean'}, keyword-only
        Which semi-major axis is the bar's (:data:`LENGTH_RULES`).

    Examples
    --------
    >>> from galseg.sim.population import draw_scene     # doctest: +SKIP
    >>> bar = IsophoteBar(image, pixscale_arcsec=0.262)   # doctest: +SKIP
    >>> bar.detected, bar.length_px, bar.ellipticity      # doctest: +SKIP
    """

    def __init__(
        self,
        image: np.ndarray,
        *,
        centre: tuple[float, float] | None = None,
        pixscale_arcsec: float | u.Quantity | None = None,
        redshift: float | None = None,
        wcs: WCS | None = None,
        min_ellipticity: float = DEFAULT_MIN_ELLIPTICITY,
        min_drop: float = DEFAULT_MIN_DROP,
        min_pa_turn_deg: float = DEFAULT_MIN_PA_TURN_DEG,
        max_pa_wander_deg: float = DEFAULT_MAX_PA_WANDER_DEG,
        min_sma_px: float = DEFAULT_MIN_SMA_PX,
        min_sma_fraction: float = DEFAULT_MIN_SMA_FRACTION,
        max_side: int = DEFAULT_MAX_SIDE,
        length_rule: str = DEFAULT_LENGTH_RULE,
    ) -> None:
        if length_rule not in LENGTH_RULES:
            raise ValueError(f"length_rule must be one of {LENGTH_RULES}, got {length_rule!r}")
        self.length_rule = length_rule
        grey = luminance(image)
        if grey.ndim != 2 or min(grey.shape) < 8:
            raise ValueError(f"image must be (H, W) or (H, W, 3) with H, W >= 8, "
                             f"got shape {np.shape(image)}")
        self._image = grey
        self.centre = centre
        self.pixscale_arcsec = check_pixscale(pixscale_arcsec, wcs)
        self.redshift = check_redshift(redshift)
        self.wcs = wcs
        rules = dict(min_ellipticity=min_ellipticity, min_drop=min_drop,
                     min_pa_turn_deg=min_pa_turn_deg, max_pa_wander_deg=max_pa_wander_deg,
                     min_sma_px=min_sma_px, min_sma_fraction=min_sma_fraction)
        for name, value in rules.items():
            setattr(self, name, float(value))
        self.max_side = int(max_side)

    def __repr__(self) -> str:
        return (f"<IsophoteBar detected={self.detected} length_px={self.length_px:.1f} "
                f"ellipticity={self.ellipticity:.2f}>")

    # --- the fit -------------------------------------------------------------------
    @cached_property
    def _scale(self) -> int:
        return max(1, int(np.ceil(max(self._image.shape) / self.max_side)))

    @cached_property
    def profile(self) -> dict[str, np.ndarray]:
        """The fitted isophotes from the centre out: ``sma`` (input pixels), ``eps``,
        ``pa_deg`` (image plane, ccw from +x, [0, 180)), ``x0``, ``y0`` (input pixels).
        Empty arrays when no isophote could be fitted."""
        empty = {k: np.zeros(0) for k in ("sma", "eps", "pa_deg", "x0", "y0")}
        from photutils.isophote import Ellipse, EllipseGeometry

        scale = self._scale
        fitted = _block_mean(self._image, scale) if scale > 1 else self._image.copy()
        finite = np.isfinite(fitted)
        if not finite.any() or np.ptp(fitted[finite]) == 0:
            return empty
        fill = np.median(fitted[finite])
        fitted = np.where(finite, fitted, fill)
        height, width = fitted.shape
        if self.centre is None:
            smooth = gaussian_filter(fitted, 1.5)
            window = np.zeros_like(smooth, dtype=bool)
            window[height // 4: height - height // 4, width // 4: width - width // 4] = True
            row, col = np.unravel_index(np.argmax(np.where(window, smooth, -np.inf)),
                                        smooth.shape)
            x0, y0 = float(col), float(row)
        else:
            x0, y0 = (self.centre[0] - (scale - 1) / 2) / scale, \
                     (self.centre[1] - (scale - 1) / 2) / scale
        max_sma = 0.5 * min(x0, y0, width - 1 - x0, height - 1 - y0, 0.9 * max(height, width))
        max_sma = max(max_sma, 0.3 * min(height, width))
        # a plain array (NaN already filled): photutils runs several times slower on a
        # masked one
        data = fitted
        geometry = EllipseGeometry(x0=x0, y0=y0, sma=min(4.0, max_sma / 2), eps=0.1, pa=0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # photutils warns on every isophote it gives up
            try:
                isolist = Ellipse(data, geometry).fit_image(
                    sma0=min(4.0, max_sma / 2), minsma=1.0, maxsma=max_sma, step=FIT_STEP,
                    maxit=30, maxgerr=1.0, fix_center=False)
            except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError):
                return empty
        if len(isolist) == 0:
            return empty
        keep = np.isin(np.asarray(isolist.stop_code), (0, 1, 2)) & (np.asarray(isolist.sma) > 0)
        order = np.argsort(np.asarray(isolist.sma)[keep])
        pick = lambda values: np.asarray(values, dtype=float)[keep][order]  # noqa: E731
        return {"sma": pick(isolist.sma) * scale, "eps": pick(isolist.eps),
                "pa_deg": np.rad2deg(pick(isolist.pa)) % 180.0,
                "x0": pick(isolist.x0) * scale + (scale - 1) / 2,
                "y0": pick(isolist.y0) * scale + (scale - 1) / 2}

    @cached_property
    def _bar(self) -> tuple[int, float] | None:
        """(index of the bar's peak isophote, index of the first isophote beyond it where
        the ellipticity has dropped or the angle turned enough) or None."""
        sma, eps, pa = self.profile["sma"], self.profile["eps"], self.profile["pa_deg"]
        if len(sma) == 0:
            return None
        smallest = max(self.min_sma_px * self._scale, self.min_sma_fraction * sma.max())
        candidates = np.nonzero((sma >= smallest) & (eps >= self.min_ellipticity))[0]
        # the innermost local maximum that passes every test; a bar is the first
        # elongated structure met going out (an outer peak is the inclined disc)
        for k in candidates:
            if k + 1 < len(eps) and eps[k + 1] > eps[k]:
                continue  # not a local peak
            inside = (sma >= 0.5 * sma[k]) & (sma <= sma[k])
            if np.any(_angle_difference_deg(pa[inside], pa[k]) > self.max_pa_wander_deg):
                continue
            beyond = np.nonzero((sma > sma[k]) & (sma <= END_SEARCH_FACTOR * sma[k]))[0]
            ended = ((eps[k] - eps[beyond] >= self.min_drop)
                     | (_angle_difference_deg(pa[beyond], pa[k]) >= self.min_pa_turn_deg))
            if ended.any():
                return int(k), int(beyond[np.argmax(ended)])
        return None

    # --- results -------------------------------------------------------------------
    @cached_property
    def detected(self) -> bool:
        """True when the profiles show a bar by the criteria of the module docstring."""
        return self._bar is not None

    @cached_property
    def peak_semi_major_px(self) -> float:
        """Semi-major axis of the bar's peak isophote (``a_epsmax``), input pixels (NaN if
        none): a lower bound of the bar's size."""
        return float(self.profile["sma"][self._bar[0]]) if self.detected else np.nan

    @cached_property
    def end_semi_major_px(self) -> float:
        """Semi-major axis of the first isophote beyond the peak where the ellipticity has
        dropped by ``min_drop`` or the angle turned by ``min_pa_turn_deg`` (``a_min`` /
        ``a_10`` of Erwin 2005), input pixels (NaN if none): an upper bound."""
        return float(self.profile["sma"][self._bar[1]]) if self.detected else np.nan

    @cached_property
    def semi_major_px(self) -> float:
        """The bar's semi-major axis by :attr:`length_rule` (NaN if none)."""
        if self.length_rule == "peak":
            return self.peak_semi_major_px
        if self.length_rule == "end":
            return self.end_semi_major_px
        return 0.5 * (self.peak_semi_major_px + self.end_semi_major_px)

    @cached_property
    def length_px(self) -> float:
        """End-to-end bar length, ``2 * semi_major_px`` (NaN if none)."""
        return 2.0 * self.semi_major_px

    @cached_property
    def ellipticity(self) -> float:
        """Ellipticity ``1 - b/a`` of the peak isophote (NaN if none)."""
        return float(self.profile["eps"][self._bar[0]]) if self.detected else np.nan

    @cached_property
    def position_angle_deg(self) -> float:
        """Image-plane angle of the bar, ccw from +x, in [0, 180) (NaN if none)."""
        return float(self.profile["pa_deg"][self._bar[0]]) if self.detected else np.nan

    @cached_property
    def centre_xy(self) -> tuple[float, float]:
        """Centre ``(x, y)`` of the peak isophote (NaN if none)."""
        if not self.detected:
            return (np.nan, np.nan)
        k = self._bar[0]
        return (float(self.profile["x0"][k]), float(self.profile["y0"][k]))

    @cached_property
    def end_points(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)`` of the bar's ends (NaN if none)."""
        if not self.detected:
            return (np.nan,) * 4
        return axis_end_points(self.centre_xy, self.position_angle_deg, self.semi_major_px)

    @cached_property
    def sky_position_angle_deg(self) -> float:
        """Position angle east of north (WCS if given, else the GZ3D orientation)."""
        if not self.detected:
            return np.nan
        return sky_position_angle(self.position_angle_deg, self.centre_xy, self.wcs)

    @cached_property
    def length_arcsec(self) -> float:
        return self.length_px * self.pixscale_arcsec

    @cached_property
    def length_kpc(self) -> float:
        return self.length_arcsec * kpc_per_arcsec_or_nan(self.redshift)

    def to_row(self) -> dict[str, Any]:
        """Catalog columns (``iso_*``, beside the network's ``has_bar``, ``bar_*``)."""
        return {
            "iso_has_bar": self.detected,
            "iso_bar_length_px": float(self.length_px),
            "iso_bar_length_arcsec": float(self.length_arcsec),
            "iso_bar_length_kpc": float(self.length_kpc),
            "iso_bar_pa_deg": float(self.sky_position_angle_deg),
            "iso_bar_ellipticity": float(self.ellipticity),
        }


def find_isophote_bar(image: np.ndarray, **kwargs: Any) -> IsophoteBar:
    """The classical bar of ``image``; keyword arguments as :class:`IsophoteBar`."""
    return IsophoteBar(image, **kwargs)


__all__ = ["DEFAULT_MIN_ELLIPTICITY", "IsophoteBar", "find_isophote_bar", "luminance"]
