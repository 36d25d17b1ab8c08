"""Classical source extraction (galseg.predict.classical): known answers on tiny images."""

from __future__ import annotations

import numpy as np
import pytest

from galseg.predict.classical import NoDetectionsWarning, extract_sources

SHAPE = (96, 128)
SOURCES = [(20.3, 30.7, 400.0), (90.0, 20.2, 250.0), (64.6, 70.4, 600.0), (110.2, 80.9, 300.0)]


def _gaussians(sources, *, sigma=1.5, noise=1.0, seed=0, shape=SHAPE):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.random.default_rng(seed).normal(0.0, noise, shape)
    for x, y, flux in sources:
        image += flux / (2 * np.pi * sigma**2) * np.exp(
            -((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return image


def _match(catalog, sources):
    """Index of the catalog row nearest to each source, and the distance."""
    xy = np.column_stack([catalog["x"], catalog["y"]])
    out = []
    for x, y, _ in sources:
        d = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        out.append((int(np.argmin(d)), float(d.min())))
    return out


def test_finds_isolated_gaussians_at_their_positions_with_their_flux():
    image = _gaussians(SOURCES) + 10.0  # a sky level the mesh background must remove
    result = extract_sources(image)
    assert len(result.catalog) == len(SOURCES)
    for (row, distance), (_, _, flux) in zip(_match(result.catalog, SOURCES), SOURCES,
                                             strict=True):
        assert distance < 0.15
        # isophotal flux misses the wings below 1.5 sigma
        assert 0.8 * flux < result.catalog["flux"][row] < 1.05 * flux
    assert abs(result.global_rms - 1.0) < 0.1
    assert abs(float(np.median(result.background)) - 10.0) < 0.1
    # each source's segment holds its own label and the centre pixel
    for (row, _), (x, y, _) in zip(_match(result.catalog, SOURCES), SOURCES, strict=True):
        assert result.segmentation[round(y), round(x)] == result.catalog["label"][row]


def test_flux_error_and_snr_follow_the_given_rms():
    result = extract_sources(_gaussians(SOURCES, noise=2.0), background=0.0, background_rms=2.0)
    catalog = result.catalog
    np.testing.assert_allclose(catalog["flux_err"], 2.0 * np.sqrt(catalog["npix"]))
    np.testing.assert_allclose(catalog["snr"], catalog["flux"] / catalog["flux_err"])


def test_nan_pixels_are_masked_and_sources_still_found():
    image = _gaussians(SOURCES)
    image[0:30, 60:80] = np.nan
    image[50, 5] = np.inf
    result = extract_sources(image)
    assert len(result.catalog) == len(SOURCES)
    assert all(d < 0.15 for _, d in _match(result.catalog, SOURCES))
    assert np.all(result.segmentation[0:30, 60:80] == 0)
    assert np.isnan(result.background_rms[10, 70])
    assert np.isfinite(result.global_rms)


def test_mask_hides_a_source():
    mask = np.zeros(SHAPE, bool)
    mask[60:80, 55:75] = True  # the source at (64.6, 70.4)
    result = extract_sources(_gaussians(SOURCES), mask=mask)
    assert len(result.catalog) == len(SOURCES) - 1


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">f4", "float32", "int32"])
def test_any_byte_order_and_dtype(dtype):
    image = np.round(_gaussians(SOURCES, noise=3.0) * 10)  # integer-valued, so int32 is exact
    reference = extract_sources(image)
    result = extract_sources(image.astype(dtype))
    np.testing.assert_allclose(result.catalog["x"], reference.catalog["x"], atol=1e-3)
    np.testing.assert_allclose(result.catalog["flux"], reference.catalog["flux"], rtol=1e-4)


def test_theta_is_counter_clockwise_from_x_towards_y():
    yy, xx = np.mgrid[0:80, 0:80]
    t = np.deg2rad(30.0)
    p = (xx - 40) * np.cos(t) + (yy - 40) * np.sin(t)
    q = -(xx - 40) * np.sin(t) + (yy - 40) * np.cos(t)
    image = 100 * np.exp(-0.5 * (p**2 / 25 + q**2 / 4))
    image += np.random.default_rng(1).normal(0, 1, image.shape)
    row = extract_sources(image, background=0.0, background_rms=1.0).catalog[0]
    assert np.rad2deg(row["theta"]) == pytest.approx(30.0, abs=1.0)
    assert row["a"] > 2 * row["b"]


def test_deblending_splits_touching_sources_unless_switched_off():
    pair = [(40.0, 40.0, 500.0), (47.0, 40.0, 400.0)]
    image = _gaussians(pair, sigma=2.0, shape=(80, 80))
    assert len(extract_sources(image, background=0.0, background_rms=1.0).catalog) == 2
    single = extract_sources(image, background=0.0, background_rms=1.0, deblend_cont=1.0)
    assert len(single.catalog) == 1


def test_empty_image_warns_and_returns_an_empty_catalog():
    with pytest.warns(NoDetectionsWarning, match="threshold_sigma=1.5"):
        result = extract_sources(np.random.default_rng(0).normal(0, 1, (64, 64)),
                                 background=0.0, background_rms=1.0, min_area=50)
    assert len(result) == 0
    assert {"x", "y", "flux", "a", "b", "theta", "npix", "label"} <= set(result.catalog.colnames)
    assert not result.segmentation.any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold_sigma": 0}, "threshold_sigma must be > 0"),
    ({"min_area": 0}, "min_area must be a positive integer"),
    ({"deblend_nthresh": 2.5}, "deblend_nthresh must be a positive integer"),
    ({"deblend_cont": 1.5}, "deblend_cont must be in"),
    ({"mask": np.zeros((3, 3), bool)}, "mask must have the image's shape"),
    ({"background_rms": 0.0, "background": 0.0}, "background_rms must be > 0"),
    ({"background": np.zeros((5, 5))}, "background must be a number or an array of shape"),
])
def test_bad_parameters_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_sources(_gaussians(SOURCES), **kwargs)


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        extract_sources(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="no valid pixels"):
        extract_sources(np.full((8, 8), np.nan))
    with pytest.raises(TypeError, match="numeric"):
        extract_sources(np.full((8, 8), "a"))
