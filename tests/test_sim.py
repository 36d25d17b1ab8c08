"""The galaxy simulator: profiles, rendering, truth consistency and determinism."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label, regionprops

from galseg.data.colour import legacy_rgb
from galseg.physical import kpc_per_arcsec, redshift_at_kpc_per_arcsec
from galseg.sim import profiles
from galseg.sim.galaxy import Bar, GalaxyModel, SpiralArm, render_galaxy
from galseg.sim.population import draw_scene
from galseg.sim.scene import (
    ObservingConditions,
    SceneSpec,
    image_angle_to_position_angle,
    render_cutout,
)


def test_sersic_has_unit_flux_and_half_light_radius():
    step = 0.05
    x, y = np.meshgrid(np.arange(-40, 40, step), np.arange(-40, 40, step))
    image = profiles.sersic(x, y, half_light_radius=2.0, n=1.5, axis_ratio=1.0, angle_deg=0)
    assert image.sum() * step**2 == pytest.approx(1.0, rel=1e-2)
    inside = image[np.hypot(x, y) <= 2.0].sum() * step**2
    assert inside == pytest.approx(0.5, abs=0.01)


def test_moffat_kernel_is_normalised_with_the_requested_fwhm():
    kernel = profiles.moffat_kernel(5.0, oversample=8)
    assert kernel.sum() == pytest.approx(1.0, rel=1e-5)
    assert kernel.shape[0] % 2 == 1
    centre = kernel.shape[0] // 2
    row = kernel[centre]
    above = np.flatnonzero(row >= row.max() / 2)
    # pixel-integrated profile: width of the half-max run is the FWHM to within a pixel
    assert abs((above[-1] - above[0] + 1) - 5.0) <= 1.0
    with pytest.raises(ValueError, match="fwhm_px"):
        profiles.moffat_kernel(0.0)


def test_colour_stretch_background_is_survey_grey():
    rgb = legacy_rgb(np.zeros((3, 4, 4)))
    # a blank sky maps to the survey's dark grey (about 32/255), equal in all channels
    assert rgb.dtype == np.uint8
    assert np.all(rgb == rgb[0, 0, 0])
    assert 30 <= rgb[0, 0, 0] <= 34
    bright = legacy_rgb(np.full((3, 2, 2), 100.0))
    assert bright.max() == 255
    with pytest.raises(ValueError, match="shape"):
        legacy_rgb(np.zeros((2, 4, 4)))


def test_position_angle_convention_is_east_of_north():
    # GZ3D convention: north towards decreasing row (image angle 270), east towards -x (180)
    assert image_angle_to_position_angle(270.0) == pytest.approx(0.0, abs=1e-9)
    assert image_angle_to_position_angle(180.0) == pytest.approx(90.0)
    assert image_angle_to_position_angle(0.0) == pytest.approx(90.0)
    assert image_angle_to_position_angle(225.0) == pytest.approx(45.0)


def test_redshift_inverts_the_angular_scale():
    z = redshift_at_kpc_per_arcsec(float(kpc_per_arcsec(0.05).value))
    assert z == pytest.approx(0.05, rel=1e-4)


def _barred_face_on(half_length_arcsec=6.0, inclination=0.0, bar_angle=30.0) -> SceneSpec:
    model = GalaxyModel(
        bulge_flux=(20.0, 40.0, 60.0), bulge_half_light_radius_arcsec=1.0, bulge_sersic_n=2.0,
        bulge_axis_ratio=0.9, disc_flux=(150.0, 250.0, 330.0), disc_scale_length_arcsec=5.0,
        inclination_deg=inclination, disc_angle_deg=20.0,
        bar=Bar(half_length_arcsec=half_length_arcsec, axis_ratio=0.3, angle_deg=bar_angle,
                relative_brightness=1.2),
        arms=tuple(SpiralArm(start_angle_deg=a, start_radius_arcsec=half_length_arcsec,
                             end_radius_arcsec=16.0, pitch_angle_deg=18.0, width_arcsec=1.5,
                             amplitude=2.5) for a in (0.0, 180.0)))
    return SceneSpec(name="bar", shape=(128, 128), galaxy=model, galaxy_centre_xy=(63.5, 63.5),
                     galaxy_class="spiral", arm_structure="grand_design", redshift=0.03,
                     ra_deg=150.0, dec_deg=2.0, conditions=ObservingConditions(), noise_seed=3)


@pytest.mark.parametrize(("inclination", "bar_angle"), [(0.0, 30.0), (50.0, 70.0)])
def test_bar_truth_mask_matches_bar_length(inclination, bar_angle):
    cutout = render_cutout(_barred_face_on(inclination=inclination, bar_angle=bar_angle))
    row = cutout.truth_row()
    assert row["has_bar"] and row["has_spiral_arms"]
    regions = regionprops(label(cutout.truth.bar_mask))
    assert len(regions) == 1
    psf_px = cutout.spec.conditions.psf_fwhm_arcsec[1] / cutout.spec.conditions.pixscale_arcsec
    # the mask ends where the flat-ended bar's light halves, so its Feret length is the
    # truth length to within about a PSF width
    assert regions[0].feret_diameter_max == pytest.approx(row["bar_length_px"], abs=psf_px)
    if inclination == 0.0:
        assert row["bar_length_arcsec"] == pytest.approx(12.0)
    else:
        assert row["bar_length_arcsec"] < 12.0  # foreshortened
    assert row["bar_length_kpc"] == pytest.approx(
        row["bar_length_arcsec"] * float(kpc_per_arcsec(0.03).value))
    # bar angle in the image agrees with the mask's orientation
    orientation = np.rad2deg(regions[0].orientation)  # angle of major axis from the row axis
    mask_angle = (90.0 - orientation) % 180.0  # -> angle from +x towards +y
    diff = abs((mask_angle - cutout.truth.bar.angle_deg + 90) % 180 - 90)
    assert diff < 6.0


def test_spiral_truth_follows_arm_ridges():
    cutout = render_cutout(_barred_face_on())
    mask = cutout.truth.spiral_mask
    assert mask.sum() > 200
    for arm in cutout.truth.arms:
        cols = np.clip(np.rint(arm.ridge_xy[:, 0]).astype(int), 0, 127)
        rows = np.clip(np.rint(arm.ridge_xy[:, 1]).astype(int), 0, 127)
        # most of the visible ridge lies in the truth mask
        assert mask[rows, cols].mean() > 0.6
        assert arm.contrast > 5


def test_elliptical_has_no_arms_or_bar():
    spec = draw_scene(np.random.default_rng(1), name="e", size=64, galaxy_class="elliptical")
    cutout = render_cutout(spec)
    row = cutout.truth_row()
    assert not row["has_spiral_arms"] and not row["has_bar"]
    assert np.isnan(row["bar_length_px"]) and row["n_arms"] == 0
    assert not cutout.truth.spiral_mask.any() and not cutout.truth.bar_mask.any()


def test_rendering_conserves_flux_of_a_galaxy_inside_the_frame():
    model = GalaxyModel(bulge_flux=(1.0, 2.0, 3.0), bulge_half_light_radius_arcsec=1.0,
                        bulge_sersic_n=1.0, bulge_axis_ratio=0.8,
                        disc_flux=(4.0, 5.0, 6.0), disc_scale_length_arcsec=1.5,
                        inclination_deg=40.0)
    rendered = render_galaxy(model, shape=(160, 160), centre_xy=(79.5, 79.5),
                             pixscale_arcsec=0.262)
    totals = rendered.total.sum(axis=(1, 2))
    np.testing.assert_allclose(totals, [5.0, 7.0, 9.0], rtol=0.02)


def test_same_seed_same_cutout_and_different_seed_differs():
    a = render_cutout(draw_scene(np.random.default_rng([5, 1]), name="a", size=64))
    b = render_cutout(draw_scene(np.random.default_rng([5, 1]), name="a", size=64))
    c = render_cutout(draw_scene(np.random.default_rng([5, 2]), name="a", size=64))
    np.testing.assert_array_equal(a.bands, b.bands)
    np.testing.assert_array_equal(a.truth.spiral_mask, b.truth.spiral_mask)
    assert _rows_equal_with_nan(a.truth_row(), b.truth_row())
    assert not np.array_equal(a.bands, c.bands)


def _rows_equal_with_nan(r1: dict, r2: dict) -> bool:
    return all((v1 == r2[k]) or (isinstance(v1, float) and np.isnan(v1) and np.isnan(r2[k]))
               for k, v1 in r1.items())


def test_population_holds_every_class_and_consistent_physical_sizes():
    classes = set()
    for i in range(60):
        spec = draw_scene(np.random.default_rng([11, i]), name=f"g{i}", size=96)
        classes.add(spec.galaxy_class)
        assert 0.005 <= spec.redshift <= 0.15
        if spec.galaxy.has_disc:
            assert spec.galaxy.disc_scale_length_arcsec * 3.5 < 96 * 0.262 / 2 * 1.01
    assert classes == {"elliptical", "lenticular", "spiral", "edge_on"}


def test_draw_scene_rejects_bad_parameters():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size"):
        draw_scene(rng, name="x", size=8)
    with pytest.raises(ValueError, match="pixscale_arcsec"):
        draw_scene(rng, name="x", pixscale_arcsec=0)
    with pytest.raises(ValueError, match="galaxy_class"):
        draw_scene(rng, name="x", galaxy_class="irregular")
    with pytest.raises(ValueError, match="handedness"):
        GalaxyModel(bulge_flux=(1, 1, 1), bulge_half_light_radius_arcsec=1, bulge_sersic_n=1,
                    bulge_axis_ratio=1, handedness=0)
