"""Reading and writing GZ3D subject files (galseg.data.gz3d)."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
from astropy.io import fits
from matplotlib.path import Path as MplPath

from _gz3d_files import (
    DEC,
    PIXSCALE,
    RA,
    SIZE,
    polygons_json,
    release_wcs,
    rows,
    write_release_file,
)
from galseg.data.gz3d import (
    N_HDUS,
    GZ3DSubject,
    gz3d_wcs,
    normalise_metadata,
    read_gz3d,
    write_gz3d,
)
from galseg.errors import InputFileError, InputFileWarning
from galseg.labels.classification import VolunteerClassification
from galseg.labels.rasterize import vote_maps

SQUARE = [(10, 10), (20, 10), (20, 20), (10, 20)]
BOWTIE = [(30, 30), (40, 40), (40, 30), (30, 40)]


# --------------------------------------------------------------------------------------
# Reading files written by hand in the release layout
# --------------------------------------------------------------------------------------
@pytest.fixture
def release_file(tmp_path):
    spiral_cells = [
        polygons_json(SQUARE),
        "[]",
        polygons_json([(5, 5)]),  # single vertex
        polygons_json([(5, 5), (9, 9)]),  # two vertices
        polygons_json(BOWTIE, SQUARE),  # self-intersecting + a square
        polygons_json([(1, 1), (math.nan, 3), (8, 1), (8, 8)]),  # one NaN vertex
        polygons_json([(math.nan, math.nan)]),  # nothing finite left: dropped
        "",  # empty string
    ]
    spiral = rows([101, 102, 103, 104, 105, 106, 107, 108], spiral_cells)
    bar = rows([201, 202], [polygons_json([(0, 0), (6, 0), (6, 3)]), "[]"])
    centre = rows([301, 302], ["[[32.0, 31.5]]", "[]"])
    centre = [(*r, "[[5.0, 6.0]]") for r in centre]
    return write_release_file(
        tmp_path / "gz3d_1-167242_127_5679242.fits.gz",
        spiral_rows=spiral,
        bar_rows=bar,
        center_rows=centre,
    )


def test_read_release_layout(release_file):
    subject = read_gz3d(release_file)
    assert subject.path == str(release_file)
    assert subject.image.shape == (SIZE, SIZE, 3) and subject.image.dtype == np.uint8
    assert subject.name == "1-167242"
    assert subject.pixscale_arcsec == pytest.approx(PIXSCALE)
    assert subject.metadata["ra"] == pytest.approx(RA) and subject.metadata["IFUDESIGNSIZE"] == 127
    assert subject.metadata["sample"] == "MPL-5 primary"
    assert subject.wcs.naxis == 2
    assert np.allclose(subject.wcs.wcs.crpix, [SIZE / 2, SIZE / 2])
    assert subject.spiral_mask.shape == (SIZE, SIZE)
    assert len(subject.center_clusters) == 0


def test_read_joins_tasks_by_classification_id(release_file):
    subject = read_gz3d(release_file)
    # The release's three workflows have their own ids: 8 + 2 + 2 classifications.
    ids = [c.classification_id for c in subject.classifications]
    assert ids == [301, 302, 101, 102, 103, 104, 105, 106, 107, 108, 201, 202]
    assert subject.n_spiral_classifications == 8
    assert subject.n_bar_classifications == 2
    assert subject.n_center_star_classifications == 2
    assert subject.n_volunteers == 8
    assert subject.classification_ids("bar") == (201, 202)


def test_read_tolerates_release_oddities(release_file):
    by_id = {c.classification_id: c for c in read_gz3d(release_file).classifications}
    assert np.array_equal(by_id[101].spiral_paths[0], np.array(SQUARE, float))
    assert by_id[102].spiral_paths == ()
    assert by_id[103].spiral_paths[0].shape == (1, 2)
    assert by_id[104].spiral_paths[0].shape == (2, 2)
    assert len(by_id[105].spiral_paths) == 2  # the bowtie is kept
    assert by_id[106].spiral_paths[0].tolist() == [[1, 1], [8, 1], [8, 8]]  # NaN vertex dropped
    assert by_id[107].spiral_paths == ()  # polygon with no finite vertex dropped
    assert by_id[108].spiral_paths == ()  # empty cell
    assert by_id[301].center_points.tolist() == [[32.0, 31.5]]
    assert by_id[301].star_points.tolist() == [[5.0, 6.0]]
    assert by_id[301].time_stamp.endswith("UTC")


@pytest.mark.parametrize("n", [13, 17])
def test_read_any_number_of_classifications(tmp_path, n):
    ids = list(range(1, n + 1))
    path = write_release_file(
        tmp_path / f"gz3d_{n}.fits",
        spiral_rows=rows(ids, [polygons_json(SQUARE)] * n),
        bar_rows=rows(ids),
        center_rows=[(*r, "[]") for r in rows(ids)],
    )
    subject = read_gz3d(path)
    assert len(subject.classifications) == n
    assert subject.n_volunteers == n == subject.n_spiral_classifications
    assert all(c.marked_spiral and not c.marked_bar for c in subject.classifications)


def test_classification_missing_from_one_table(tmp_path):
    # Shared ids (as galseg writes them), but the bar table lacks id 3.
    path = write_release_file(
        tmp_path / "gz3d_partial.fits.gz",
        spiral_rows=rows([1, 2, 3], [polygons_json(SQUARE)] * 3),
        bar_rows=rows([1, 2], [polygons_json(SQUARE), "[]"]),
    )
    subject = read_gz3d(path)
    by_id = {c.classification_id: c for c in subject.classifications}
    assert len(by_id) == 3 and by_id[3].bar_paths == ()
    assert (subject.n_spiral_classifications, subject.n_bar_classifications) == (3, 2)


def test_gzip_detected_from_content_not_name(tmp_path, release_file):
    renamed = tmp_path / "no_suffix"
    renamed.write_bytes(release_file.read_bytes())
    assert read_gz3d(renamed).name == "1-167242"


# --------------------------------------------------------------------------------------
# Bad input -> InputFileError naming the file
# --------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "absent.fits.gz"
    with pytest.raises(InputFileError, match=r"absent.fits.gz: file does not exist") as info:
        read_gz3d(path)
    assert info.value.path == str(path)


def test_broken_json_names_hdu_row_and_column(tmp_path):
    path = write_release_file(
        tmp_path / "broken.fits.gz",
        spiral_rows=rows([1, 2, 3], ["[]", "[]", "[[[1.0, 2.0], [3.0"]),
    )
    with pytest.raises(InputFileError, match=r"broken.fits.gz: HDU 9 row 2 column 'spiral_paths'"):
        read_gz3d(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('{"x": 1}', "holds dict JSON, expected a list"),
        ("[[1.0, 2.0]]", "polygon 0 is not a list of \\[x, y\\] pairs"),
        ("[[[1.0, 2.0, 3.0]]]", "polygon 0 is not a list of \\[x, y\\] pairs"),
    ],
)
def test_malformed_polygon_cells(tmp_path, cell, message):
    path = write_release_file(tmp_path / "bad.fits", spiral_rows=rows([1], [cell]))
    with pytest.raises(InputFileError, match=message):
        read_gz3d(path)


def test_missing_hdu(tmp_path):
    path = write_release_file(tmp_path / "ten.fits.gz", spiral_rows=rows([1]), n_hdus=10)
    with pytest.raises(InputFileError, match=r"ten.fits.gz: has 10 HDUs, a GZ3D file has 11"):
        read_gz3d(path)


def test_truncated_gzip(tmp_path, release_file):
    data = release_file.read_bytes()
    path = tmp_path / "truncated.fits.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"truncated.fits.gz: truncated or corrupt gzip"):
        read_gz3d(path)


@pytest.mark.parametrize("cut", [100, 3000, 20000])
def test_truncated_plain_fits(tmp_path, release_file, cut):
    data = gzip.decompress(release_file.read_bytes())
    path = tmp_path / "truncated.fits"
    path.write_bytes(data[:-cut])
    with pytest.raises(InputFileError, match=r"truncated.fits: "):
        read_gz3d(path)


def test_not_fits(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("hello " * 100)
    with pytest.raises(InputFileError, match=r"notes.fits: not a readable FITS file"):
        read_gz3d(path)


def test_wrong_image_shape(tmp_path):
    path = write_release_file(
        tmp_path / "grey.fits", spiral_rows=rows([1]), image=np.zeros((SIZE, SIZE), np.uint8)
    )
    with pytest.raises(InputFileError, match=r"HDU 0 image has shape \(64, 64\), expected"):
        read_gz3d(path)


def test_mask_shape_must_match_image(tmp_path, release_file):
    with fits.open(release_file) as hdul:
        hdul[3].data = np.zeros((10, 10))
        hdul.writeto(tmp_path / "mask.fits")
    with pytest.raises(InputFileError, match=r"HDU 3 has shape \(10, 10\), expected \(64, 64\)"):
        read_gz3d(tmp_path / "mask.fits")


def test_missing_column(tmp_path, release_file):
    with fits.open(release_file) as hdul:
        hdul[10] = fits.BinTableHDU.from_columns([fits.Column("classification_id", "K", array=[1])])
        hdul.writeto(tmp_path / "nocol.fits")
    with pytest.raises(InputFileError, match=r"HDU 10 lacks column.*time_stamp, bar_paths"):
        read_gz3d(tmp_path / "nocol.fits")


def _centre_star_table_without(release_file, out, *missing):
    """``release_file`` with HDU 8 (centres and stars) lacking the columns ``missing``."""
    with fits.open(release_file) as hdul:
        table = hdul[8]
        kept = [c for c in table.columns if c.name not in missing]
        hdul[8] = fits.BinTableHDU.from_columns(
            [fits.Column(c.name, c.format, array=table.data[c.name]) for c in kept])
        hdul.writeto(out)
    return out


@pytest.mark.parametrize("missing", [("time_stamp",), ("star_points",),
                                     ("time_stamp", "star_points")])
def test_centre_star_table_lacking_columns_warns_and_reads(tmp_path, release_file, missing):
    # galseg labels needs only HDUs 9 and 10: HDU 8 without a column is read without it
    complete = read_gz3d(release_file)
    path = _centre_star_table_without(release_file, tmp_path / "hdu8.fits", *missing)
    with pytest.warns(InputFileWarning, match=rf"hdu8.fits: HDU 8 lacks column\(s\) "
                                              rf"{', '.join(missing)}; read without them"):
        subject = read_gz3d(path)
    assert subject.n_spiral_classifications == complete.n_spiral_classifications
    assert subject.n_bar_classifications == complete.n_bar_classifications
    assert subject.n_center_star_classifications == complete.n_center_star_classifications
    by_id = {c.classification_id: c for c in complete.classifications}
    for drawing in subject.classifications:
        before = by_id[drawing.classification_id]
        for feature in ("spiral_paths", "bar_paths"):
            assert ([p.tolist() for p in getattr(drawing, feature)]
                    == [p.tolist() for p in getattr(before, feature)])
        assert drawing.center_points.tolist() == before.center_points.tolist()
        if "star_points" in missing:
            assert drawing.star_points.shape == (0, 2)
        else:
            assert drawing.star_points.tolist() == before.star_points.tolist()
        # a time stamp comes from the first table that has one; here the centre/star
        # volunteers (301, 302) answered no other task
        only_centre_star = drawing.classification_id in (301, 302)
        expected = "" if "time_stamp" in missing and only_centre_star else before.time_stamp
        assert drawing.time_stamp == expected
    np.testing.assert_array_equal(vote_maps(subject).spiral_count, vote_maps(complete).spiral_count)
    np.testing.assert_array_equal(vote_maps(subject).bar_count, vote_maps(complete).bar_count)


def test_centre_star_table_without_ids_is_left_out(tmp_path, release_file):
    path = _centre_star_table_without(release_file, tmp_path / "noid.fits", "classification_id")
    with pytest.warns(InputFileWarning, match=r"HDU 8 lacks column\(s\) classification_id; "
                                              r"the table is left out"):
        subject = read_gz3d(path)
    assert subject.n_center_star_classifications == 0
    assert subject.n_spiral_classifications == read_gz3d(release_file).n_spiral_classifications


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def _drawings(n=15):
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        spirals = (np.array(SQUARE, float) + rng.uniform(-2, 2, 2),) if i % 3 else ()
        bars = (np.array(BOWTIE, float),) if i == 0 else ()
        out.append(
            VolunteerClassification(
                classification_id=1000 + i,
                time_stamp=f"2024-05-01T12:00:{i:02d}",
                spiral_paths=spirals + ((np.array(SQUARE, float) * 1.5),) * (i == 4),
                bar_paths=bars,
                center_points=np.array([[32.0, 32.0]]) + rng.normal(0, 0.7, (1, 2)),
                star_points=np.array([[8.0, 50.0]]) + rng.normal(0, 0.5, (1 if i < 6 else 0, 2)),
            )
        )
    return out


@pytest.fixture
def built_subject():
    image = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return GZ3DSubject.from_drawings(
        image,
        _drawings(),
        ra_deg=RA,
        dec_deg=DEC,
        pixscale_arcsec=0.262,
        metadata={"MANGAID": "sim-000001", "IFUDESIGNSIZE": 127, "seed": 7, "noisy": True},
    )


def _assert_same_subject(a: GZ3DSubject, b: GZ3DSubject) -> None:
    assert np.array_equal(a.image, b.image)
    assert a.wcs.to_header() == b.wcs.to_header()
    assert a.metadata == b.metadata
    for task in ("center_star", "spiral", "bar"):
        assert a.classification_ids(task) == b.classification_ids(task)
    assert len(a.classifications) == len(b.classifications)
    for ca, cb in zip(a.classifications, b.classifications, strict=True):
        assert (ca.classification_id, ca.time_stamp) == (cb.classification_id, cb.time_stamp)
        for field in ("spiral_paths", "bar_paths"):
            pa, pb = getattr(ca, field), getattr(cb, field)
            assert len(pa) == len(pb)
            assert all(np.array_equal(p, q) for p, q in zip(pa, pb, strict=True))
        assert np.array_equal(ca.center_points.reshape(-1, 2), cb.center_points)
        assert np.array_equal(ca.star_points.reshape(-1, 2), cb.star_points)
    for mask in ("center_mask", "star_mask", "spiral_mask", "bar_mask"):
        assert np.array_equal(getattr(a, mask), getattr(b, mask))
    for kind in ("center", "star"):
        ta, tb = a.cluster_array(kind), b.cluster_array(kind)
        assert ta.dtype.names == tb.dtype.names
        assert all(np.array_equal(ta[n], tb[n]) for n in ta.dtype.names)


@pytest.mark.parametrize("name", ["gz3d_sim.fits.gz", "gz3d_sim.fits"])
def test_round_trip(tmp_path, built_subject, name):
    path = write_gz3d(tmp_path / name, built_subject)
    _assert_same_subject(built_subject, read_gz3d(path))
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_round_trip_of_a_release_file(tmp_path, release_file):
    original = read_gz3d(release_file)
    copy = read_gz3d(write_gz3d(tmp_path / "copy.fits.gz", original))
    _assert_same_subject(original, copy)


def test_written_file_has_release_layout(tmp_path, built_subject):
    path = write_gz3d(tmp_path / "gz3d_sim.fits.gz", built_subject)
    with fits.open(path) as hdul:
        hdul.verify("exception")
        assert len(hdul) == N_HDUS
        assert all("EXTNAME" not in hdu.header for hdu in hdul)
        assert hdul[0].data.shape == (SIZE, SIZE, 3) and hdul[0].data.dtype == np.uint8
        assert all(hdul[i].data.dtype == np.dtype(">f8") for i in range(1, 5))
        assert hdul[1].header["CRPIX1"] == SIZE / 2
        assert hdul[1].header["CTYPE2"] == "DEC--TAN"
        formats = dict(zip(hdul[5].columns.names, hdul[5].columns.formats, strict=True))
        assert formats["ra"] == "E" and formats["MANGAID"] == "11A" and formats["nsa_id"] == "K"
        assert formats["GZ_spiral_votes"] == "I" and formats["sample"] == "70A"
        assert hdul[5].data["seed"][0] == 7 and bool(hdul[5].data["noisy"][0])
        assert hdul[6].columns.names[-1] == "count" and hdul[6].data["count"][0] == 15
        assert hdul[8].columns.names == ["classification_id", "time_stamp", "center_points",
                                         "star_points"]  # fmt: skip
        assert hdul[9].columns.names == ["classification_id", "time_stamp", "spiral_paths"]
        assert hdul[10].columns.names == ["classification_id", "time_stamp", "bar_paths"]
        assert hdul[9].columns["spiral_paths"].format.endswith("A")
        assert hdul[10].data["bar_paths"][1] == "[]"
        assert len(hdul[9].data) == 15


def test_official_polygon_masks(built_subject):
    # The release's rule, done with matplotlib on every pixel centre: sum over
    # all polygons, self-intersecting ones (the bowtie) dropped.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    centres = np.column_stack([xx.ravel(), yy.ravel()]) + 1e-9  # off the edges
    expected = np.zeros((SIZE, SIZE))
    for c in built_subject.classifications:
        for polygon in c.spiral_paths:
            closed = np.vstack([polygon, polygon[:1]])
            expected += MplPath(closed).contains_points(centres).reshape(SIZE, SIZE)
    assert np.array_equal(built_subject.spiral_mask, expected)
    # 10 volunteers drew overlapping squares, volunteer 4 one more: the official
    # mask counts 11 polygons where at most 10 volunteers voted.
    assert built_subject.spiral_mask.max() == 11
    assert not built_subject.bar_mask.any()  # the only bar polygon is a bowtie


def test_centre_and_star_clusters(built_subject):
    centres = built_subject.center_clusters
    assert len(centres) == 1 and centres["count"][0] == 15
    assert centres["x"][0] == pytest.approx(32, abs=0.5)
    assert built_subject.center_mask[32, 32] == 15
    assert set(np.unique(built_subject.center_mask)) <= {0.0, 15.0}
    ra, dec = built_subject.wcs.wcs_pix2world([[centres["x"][0], centres["y"][0]]], 0)[0]
    assert centres["ra"][0] == pytest.approx(ra) and centres["dec"][0] == pytest.approx(dec)
    stars = built_subject.star_clusters
    assert len(stars) == 1 and stars["count"][0] == 6


def test_write_from_parts_equals_from_subject(tmp_path, built_subject):
    parts = write_gz3d(
        tmp_path / "parts.fits.gz",
        image=built_subject.image,
        classifications=built_subject.classifications,
        ra_deg=RA,
        dec_deg=DEC,
        pixscale_arcsec=0.262,
        metadata={"MANGAID": "sim-000001", "IFUDESIGNSIZE": 127, "seed": 7, "noisy": True},
    )
    whole = write_gz3d(tmp_path / "whole.fits.gz", built_subject)
    assert parts.read_bytes() == whole.read_bytes()


def test_write_needs_subject_or_all_parts(tmp_path):
    with pytest.raises(ValueError, match="missing classifications, ra_deg, dec_deg"):
        write_gz3d(tmp_path / "x.fits", image=np.zeros((4, 4, 3), np.uint8))


def test_write_is_atomic_and_respects_overwrite(tmp_path, built_subject):
    path = write_gz3d(tmp_path / "a.fits.gz", built_subject)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_gz3d(path, built_subject, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits.gz"]  # no temporary left


def test_write_rejects_nan_vertices(tmp_path):
    bad = VolunteerClassification(1, "t", spiral_paths=(np.array([[1, 1], [np.nan, 2], [3, 3]]),))
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_gz3d(
            tmp_path / "nan.fits", image=np.zeros((8, 8, 3), np.uint8), classifications=[bad],
            ra_deg=RA, dec_deg=DEC,
        )  # fmt: skip
    assert not (tmp_path / "nan.fits").exists()


def test_gz3d_wcs_matches_release():
    wcs = gz3d_wcs((525, 525), RA, DEC, pixscale_arcsec=0.099)
    assert np.allclose(wcs.wcs.crpix, [262.5, 262.5])
    assert np.allclose(wcs.wcs.cd, np.diag([-1, -1]) * 0.099 / 3600)
    assert (
        release_wcs(SIZE).to_header()
        == gz3d_wcs((SIZE, SIZE), RA, DEC, pixscale_arcsec=PIXSCALE).to_header()
    )
    with pytest.raises(ValueError, match="pixscale_arcsec must be a positive number, got -1"):
        gz3d_wcs((8, 8), RA, DEC, pixscale_arcsec=-1)


def test_normalise_metadata_matches_file_types():
    meta = normalise_metadata({"ra": 150.123456789, "MANGAID": "x" * 20})
    assert meta["ra"] == float(np.float32(150.123456789))
    assert meta["MANGAID"] == "x" * 20  # widened, not cut
    assert meta["nsa_id"] == -1 and meta["IFUDESIGNSIZE"] == -1 and meta["IAUNAME"] == ""
    with pytest.raises(TypeError, match=r"metadata\['tags'\] must be a str, int, float or bool"):
        normalise_metadata({"tags": [1, 2]})


def test_subject_validates_inputs():
    wcs = gz3d_wcs((8, 8), RA, DEC, pixscale_arcsec=0.262)
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\) uint8"):
        GZ3DSubject(np.zeros((8, 8)), [], wcs=wcs)
    one = VolunteerClassification(1, "t")
    with pytest.raises(ValueError, match="classification ids must be unique"):
        GZ3DSubject(np.zeros((8, 8, 3), np.uint8), [one, one], wcs=wcs)
    with pytest.raises(ValueError, match=r"task_classification_ids\['bar'\] names ids"):
        GZ3DSubject(
            np.zeros((8, 8, 3), np.uint8), [one], wcs=wcs, task_classification_ids={"bar": [2]}
        )
