"""Square cutouts around positions in a larger image, at a chosen pixel scale.

One piece of code cuts every cutout galseg makes: the simulated shred training
set, ``galseg shreds --field`` on a user's FITS field, and the real M51 frame.
Cutouts are taken from a colour image (``InputImage.rgb``, values in [0, 1]) so
the stretch is the one the models were trained on.

Geometry: the position ``(x, y)`` (0-based input pixels, x = column) lands on
output pixel ``(size // 2, size // 2)``, as in the Legacy Surveys cutout
service. With ``zoom == 1`` (same pixel scale) pixels are copied, never
interpolated, so the noise keeps its texture; the position is rounded to the
nearest pixel. Otherwise output pixel centres are sampled bilinearly, after a
box average over ``zoom`` input pixels when shrinking (no aliasing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True, eq=False)
class Cutout:
    """One cutout.

    Attributes
    ----------
    rgb : ndarray, shape (size, size, 3), float32
        Colour values in [0, 1]; pixels outside the image (or invalid) hold the
        per-channel median of the covered pixels (sky, for a source cutout).
    coverage : float
        Fraction of cutout pixels that come from valid image pixels (0..1).
    centre_xy : tuple of float
        The requested position in input pixels.
    zoom : float
        Input pixels per output pixel (output scale / input scale).
    """

    rgb: np.ndarray
    coverage: float
    centre_xy: tuple[float, float]
    zoom: float


def cutout_rgb(
    rgb: np.ndarray,
    x: float,
    y: float,
    *,
    size: int = 128,
    zoom: float = 1.0,
    valid: np.ndarray | None = None,
) -> Cutout:
    """Cut a ``size`` x ``size`` colour cutout centred on ``(x, y)``.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Colour image in [0, 1].
    x, y : float
        Centre in 0-based input pixels (x = column).
    size : int
        Output side in pixels.
    zoom : float
        Input pixels per output pixel: ``output_pixscale / input_pixscale``.
    valid : ndarray of bool, shape (H, W), optional
        False where the image has no data; counted as not covered.

    Returns
    -------
    Cutout
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"cutout centre must be finite, got ({x!r}, {y!r})")
    if size < 1 or not zoom > 0:
        raise ValueError(f"size must be >= 1 and zoom > 0, got {size!r}, {zoom!r}")
    height, width = rgb.shape[:2]
    valid = np.ones((height, width), bool) if valid is None else np.asarray(valid, bool)

    offsets = (np.arange(size) - size // 2) * zoom
    if zoom == 1.0:
        cols = int(np.floor(x + 0.5)) + np.arange(size) - size // 2
        rows = int(np.floor(y + 0.5)) + np.arange(size) - size // 2
        inside_c = (cols >= 0) & (cols < width)
        inside_r = (rows >= 0) & (rows < height)
        out = np.zeros((size, size, 3), np.float32)
        covered = np.zeros((size, size), bool)
        if inside_c.any() and inside_r.any():
            r_sel, c_sel = rows[inside_r], cols[inside_c]
            block = np.ix_(np.flatnonzero(inside_r), np.flatnonzero(inside_c))
            out[block] = rgb[r_sel[0]:r_sel[-1] + 1, c_sel[0]:c_sel[-1] + 1]
            covered[block] = valid[r_sel[0]:r_sel[-1] + 1, c_sel[0]:c_sel[-1] + 1]
    else:
        # work on the input window the cutout spans, plus a margin for the filter
        margin = int(np.ceil(zoom)) + 2
        x0 = max(int(np.floor(x + offsets[0])) - margin, 0)
        x1 = min(int(np.ceil(x + offsets[-1])) + margin + 1, width)
        y0 = max(int(np.floor(y + offsets[0])) - margin, 0)
        y1 = min(int(np.ceil(y + offsets[-1])) + margin + 1, height)
        out = np.zeros((size, size, 3), np.float32)
        covered = np.zeros((size, size), bool)
        if x1 > x0 and y1 > y0:
            window = rgb[y0:y1, x0:x1]
            window_valid = valid[y0:y1, x0:x1].astype(np.float32)
            shift = 0.0
            if zoom > 1.0:
                box = max(round(float(zoom)), 1)
                window = ndimage.uniform_filter(window, size=(box, box, 1), mode="nearest")
                window_valid = ndimage.uniform_filter(window_valid, size=box, mode="nearest")
                # an even box ends on pixel i + box/2 - 1: its average sits half a pixel
                # before i, so it is sampled half a pixel later
                shift = 0.5 if box % 2 == 0 else 0.0
            grid_y, grid_x = np.meshgrid(y + offsets - y0, x + offsets - x0, indexing="ij")
            inside = ((grid_x >= -0.5) & (grid_x <= x1 - x0 - 0.5)
                      & (grid_y >= -0.5) & (grid_y <= y1 - y0 - 0.5))
            coords = np.stack([grid_y, grid_x]) + shift
            for channel in range(3):
                out[..., channel] = ndimage.map_coordinates(window[..., channel], coords,
                                                            order=1, mode="nearest")
            sampled_valid = ndimage.map_coordinates(window_valid, coords, order=1,
                                                    mode="nearest")
            covered = inside & (sampled_valid > 0.5)
            # keep the window inside the true image: x0/y0 clipping only trims margins
            covered &= ((x + offsets)[None, :] >= -0.5) & ((x + offsets)[None, :] <= width - 0.5)
            covered &= ((y + offsets)[:, None] >= -0.5) & ((y + offsets)[:, None] <= height - 0.5)

    coverage = float(covered.mean())
    if coverage < 1.0:
        fill = (np.median(out[covered], axis=0) if covered.any()
                else np.zeros(3, np.float32))
        out[~covered] = fill
    return Cutout(rgb=np.clip(out, 0.0, 1.0), coverage=coverage,
                  centre_xy=(float(x), float(y)), zoom=float(zoom))
