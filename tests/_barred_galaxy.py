"""A synthetic galaxy with a known bar, for the classical bar finder's tests."""

from __future__ import annotations

import numpy as np


def galaxy(size: int = 96, *, bar_a: float = 0.0, bar_pa_deg: float = 30.0,
           disc_q: float = 1.0, noise: float = 0.002, seed: int = 0) -> np.ndarray:
    """A face-on (or inclined, ``disc_q``) exponential disc with a bulge and an optional
    elongated bar of semi-major axis ``bar_a`` px (flat profile with soft ends)."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    radius = np.hypot(x, y / disc_q)
    image = np.exp(-radius / (size / 10)) + 2.0 * np.exp(-np.hypot(x, y) / 1.5)
    if bar_a > 0:
        angle = np.deg2rad(bar_pa_deg)
        along = x * np.cos(angle) + y * np.sin(angle)
        across = -x * np.sin(angle) + y * np.cos(angle)
        m = np.hypot(along / bar_a, across / (0.3 * bar_a))
        image += 0.8 * np.clip(1 - m**2, 0, None) ** 0.5  # nearly flat (a Ferrers bar)
    image += np.random.default_rng(seed).normal(0, noise, image.shape)
    return image
