"""The simulator's bar families (Ferrers bars, ansae, inner rings, old-star colours) and
the lenses and ovals that look like bars but are not."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from skimage.measure import label, regionprops

from galseg.cli.main import main
from galseg.sim import profiles
from galseg.sim.dataset import SimulationConfig, simulate_dataset
from galseg.sim.galaxy import Bar, GalaxyModel, InnerRing, Lens, render_galaxy
from galseg.sim.population import BAR_FAMILIES, LENS_FRACTION, PopulationMix, draw_scene
from galseg.sim.scene import ObservingConditions, SceneSpec, render_cutout

DISC = dict(bulge_flux=(20.0, 40.0, 60.0), bulge_half_light_radius_arcsec=1.0,
            bulge_sersic_n=2.0, bulge_axis_ratio=0.9, disc_flux=(150.0, 250.0, 330.0),
            disc_scale_length_arcsec=5.0, disc_angle_deg=20.0)


def _render(**model_kwargs):
    return render_galaxy(GalaxyModel(**{**DISC, **model_kwargs}), shape=(128, 128),
                         centre_xy=(63.5, 63.5), pixscale_arcsec=0.262)


@pytest.mark.parametrize("index", [0.5, 1.0, 1.5])
def test_ferrers_bar_halves_at_its_half_length_and_peaks_at_the_centre(index):
    p = np.linspace(0, 20, 2001)
    light = profiles.ferrers_bar(p, np.zeros_like(p), half_length=8.0, half_width=2.0,
                                 index=index)
    assert light[0] == pytest.approx(1.0)
    assert np.interp(8.0, p, light) == pytest.approx(0.5, abs=1e-3)
    # concentrated: falls all the way, unlike the flat bar's plateau
    assert np.interp(4.0, p, light) < 0.95
    assert light[-1] == 0.0
    with pytest.raises(ValueError, match="index"):
        profiles.ferrers_bar(p, p, half_length=8.0, half_width=2.0, index=0.0)


@pytest.mark.parametrize("profile", ["flat", "ferrers"])
def test_bar_truth_mask_length_holds_for_every_profile(profile):
    bar = Bar(half_length_arcsec=6.0, axis_ratio=0.3, angle_deg=30.0,
              relative_brightness=1.2 if profile == "flat" else 2.5, profile=profile)
    spec = SceneSpec(name="b", shape=(128, 128), galaxy=GalaxyModel(**DISC, bar=bar),
                     galaxy_centre_xy=(63.5, 63.5), galaxy_class="lenticular",
                     arm_structure="none", redshift=0.03, ra_deg=150.0, dec_deg=2.0,
                     conditions=ObservingConditions(), noise_seed=3)
    cutout = render_cutout(spec)
    row = cutout.truth_row()
    assert row["has_bar"]
    regions = regionprops(label(cutout.truth.bar_mask))
    assert len(regions) == 1
    psf_px = spec.conditions.psf_fwhm_arcsec[1] / spec.conditions.pixscale_arcsec
    assert regions[0].feret_diameter_max == pytest.approx(row["bar_length_px"], abs=psf_px)


def test_ansae_brighten_the_bar_ends_only():
    bar = Bar(half_length_arcsec=6.0, axis_ratio=0.3, angle_deg=0.0, relative_brightness=1.0)
    plain = _render(bar=bar).bar[1]
    with_ansae = _render(bar=replace(bar, ansae_brightness=0.6)).bar[1]
    # bar along the line of nodes (disc angle 20 deg), face-on: its end at 0.85 x 6 arcsec
    end = np.deg2rad(20.0)
    end_col = round(63.5 + 0.85 * 6.0 / 0.262 * np.cos(end))
    end_row = round(63.5 + 0.85 * 6.0 / 0.262 * np.sin(end))
    assert with_ansae[end_row, end_col] > 1.3 * plain[end_row, end_col]
    assert with_ansae[63, 63] == pytest.approx(plain[63, 63], rel=0.02)
    with pytest.raises(ValueError, match="ansae"):
        Bar(half_length_arcsec=6.0, axis_ratio=0.3, angle_deg=0.0, relative_brightness=1.0,
            ansae_brightness=-1.0)
    with pytest.raises(ValueError, match="profile"):
        Bar(half_length_arcsec=6.0, axis_ratio=0.3, angle_deg=0.0, relative_brightness=1.0,
            profile="boxy")


def test_inner_ring_brightens_the_disc_at_its_radius_and_is_neither_arm_nor_bar():
    ring = InnerRing(radius_arcsec=8.0, width_arcsec=2.0, amplitude=1.0)
    plain, ringed = _render(), _render(inner_ring=ring)
    ratio = ringed.disc[1] / plain.disc[1]
    ys, xs = np.mgrid[0:128, 0:128]
    radius_arcsec = np.hypot(xs - 63.5, ys - 63.5) * 0.262
    on_ring = np.abs(radius_arcsec - 8.0) < 0.2
    far = radius_arcsec > 14.0
    assert np.median(ratio[on_ring]) == pytest.approx(2.0, rel=0.05)
    assert np.median(ratio[far]) == pytest.approx(1.0, abs=0.01)
    assert not ringed.arms.any() and not ringed.bar.any()


def test_bar_families_mix_draws_every_family_and_red_bars():
    profiles_seen, ansae, rings, red = set(), 0, 0, 0
    n_barred = 0
    for i in range(150):
        spec = draw_scene(np.random.default_rng([21, i]), name=f"g{i}", size=96,
                          galaxy_class="spiral", mix=BAR_FAMILIES)
        model = spec.galaxy
        if model.bar is None:
            assert model.inner_ring is None
            continue
        n_barred += 1
        profiles_seen.add(model.bar.profile)
        ansae += model.bar.ansae_brightness > 0
        rings += model.inner_ring is not None
        disc_g_over_r = model.disc_flux[0] / model.disc_flux[1]
        red += model.bar_colour[0] < disc_g_over_r  # redder in g - r than its disc
    assert n_barred > 30
    assert profiles_seen == {"flat", "ferrers"}
    assert 0 < ansae < n_barred and 0 < rings < n_barred
    assert red > 0.6 * n_barred


def test_default_mix_keeps_flat_bluish_bars():
    assert not PopulationMix().has_bar_families and BAR_FAMILIES.has_bar_families
    for i in range(80):
        model = draw_scene(np.random.default_rng([22, i]), name=f"g{i}", size=96,
                           galaxy_class="spiral").galaxy
        assert model.inner_ring is None
        assert model.bar_colour == GalaxyModel.bar_colour
        if model.bar is not None:
            assert model.bar.profile == "flat" and model.bar.ansae_brightness == 0


def test_bar_families_are_recorded_in_the_manifest(tmp_path):
    simulate_dataset(tmp_path / "bf", SimulationConfig(n=3, size=48, seed=4, bar_families=True),
                     workers=1, progress=False)
    assert json.loads((tmp_path / "bf" / "simulation.json").read_text())["bar_families"]
    # the default leaves the manifest as it was before the option, so old folders resume
    simulate_dataset(tmp_path / "plain", SimulationConfig(n=3, size=48, seed=4), workers=1,
                     progress=False)
    assert "bar_families" not in json.loads((tmp_path / "plain" / "simulation.json").read_text())
    with pytest.raises(ValueError, match="other parameters"):
        simulate_dataset(tmp_path / "plain", SimulationConfig(n=3, size=48, seed=4,
                                                              bar_families=True),
                         workers=1, progress=False)


def test_cli_refuses_bar_families_for_fields(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "d"), "--n", "1", "--detection-fields",
                 "--bar-families", "--quiet"]) == 2
    assert "--bar-families" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "c"), "--n", "2", "--size", "48", "--bar-families",
                 "--quiet", "--workers", "1"]) == 0
    assert json.loads((tmp_path / "c" / "simulation.json").read_text())["bar_families"]


def test_a_lens_is_disc_light_neither_arm_nor_bar():
    lens = Lens(semi_major_arcsec=6.0, axis_ratio=0.6, angle_deg=0.0, relative_brightness=0.5)
    plain, with_lens = _render(), _render(lens=lens)
    added = with_lens.disc - plain.disc
    assert added[1].max() > 0 and not with_lens.bar.any() and not with_lens.arms.any()
    # disc-coloured
    np.testing.assert_allclose(added[:, 63, 63] / added[1, 63, 63],
                               np.array(DISC["disc_flux"]) / DISC["disc_flux"][1], rtol=1e-4)
    # along its axis (the line of nodes, 20 deg; face-on): a plateau that ends at 6 arcsec
    def at(radius_arcsec):
        col = 63.5 + radius_arcsec / 0.262 * np.cos(np.deg2rad(20.0))
        row = 63.5 + radius_arcsec / 0.262 * np.sin(np.deg2rad(20.0))
        return added[1, round(row), round(col)] / added[1].max()
    assert at(3.0) > 0.8 and 0.25 < at(6.0) < 0.5 and at(9.0) < 0.05
    spec = SceneSpec(name="l", shape=(128, 128), galaxy=GalaxyModel(**DISC, lens=lens),
                     galaxy_centre_xy=(63.5, 63.5), galaxy_class="spiral", arm_structure="none",
                     redshift=0.03, ra_deg=150.0, dec_deg=2.0, conditions=ObservingConditions(),
                     noise_seed=3)
    row = render_cutout(spec).truth_row()
    assert not row["has_bar"] and not row["has_spiral_arms"]


def test_lenses_option_draws_lenses_and_ovals_in_discs_only():
    config = SimulationConfig(n=1, lenses=True)
    assert config.mix.lens_fraction == LENS_FRACTION and not config.mix.has_bar_families
    assert SimulationConfig(n=1, lenses=True, bar_families=True).mix.has_bar_families
    axis_ratios, with_lens = [], 0
    for i in range(120):
        spec = draw_scene(np.random.default_rng([23, i]), name=f"g{i}", size=96,
                          mix=config.mix)
        lens = spec.galaxy.lens
        if spec.galaxy_class in ("elliptical", "edge_on"):
            assert lens is None
        elif lens is not None:
            with_lens += 1
            axis_ratios.append(lens.axis_ratio)
    assert 10 < with_lens < 60
    assert min(axis_ratios) < 0.75 < max(axis_ratios)  # ovals and lenses
    for i in range(40):
        assert draw_scene(np.random.default_rng([23, i]), name="g", size=96).galaxy.lens is None


def test_cli_lenses_are_recorded_and_refused_for_fields(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "s"), "--n", "1", "--shred-fields", "--lenses",
                 "--quiet"]) == 2
    assert "--lenses" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "c"), "--n", "2", "--size", "48", "--lenses",
                 "--quiet", "--workers", "1"]) == 0
    manifest = json.loads((tmp_path / "c" / "simulation.json").read_text())
    assert manifest["lenses"] and "bar_families" not in manifest
