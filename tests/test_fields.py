"""Big FITS fields in bounded memory: windows of a memory-mapped field equal the whole
image's, tile-wise detection equals whole-field detection, the segmentation map is
written strip by strip, and bad fields give clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PIL import Image

from galseg.data.fields import FitsField, fits_field_shape
from galseg.data.images import read_image
from galseg.errors import InputFileError
from galseg.models.cutout_net import CutoutNet
from galseg.models.geometry import resize, resize_window
from galseg.models.weights import MorphologyMetadata, save_morphology_classifier
from galseg.predict import detect_run
from galseg.predict.detect import Detector, _WindowGrid
from galseg.predict.detect_run import run_detect
from galseg.predict.morphology import MorphologyClassifier
from test_detector import TINY, _disc_picture, _tiny_detector
from test_morphology import TINY_MORPH

SHAPE = (600, 500)
FEW = replace(TINY, detections_per_image=8)  # per tile: a quick test


def _detector():
    return _tiny_detector(FEW, tile_size=192, tile_overlap=64)


def _wcs(pixscale: float = 0.396) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [250, 300]
    wcs.wcs.cdelt = [-pixscale / 3600, pixscale / 3600]
    return wcs


def _field(path, *, bunit=None, pixscale=0.396, one_band=False, nan=True, seed=0):
    """A 600 x 500 px g, r, z field of discs on a noisy sky (raw counts unless ``bunit``)."""
    centres = [(60 + 97 * (i % 5), 50 + 83 * (i // 5)) for i in range(35)]
    rgb, _ = _disc_picture(SHAPE, centres, 9, seed=seed)
    bands = np.stack([rgb[..., i].astype(np.float32) for i in (2, 1, 0)]) * 3 + 1000
    if nan:
        bands[:, 100:103, 200:260] = np.nan  # a bad column block
    header = _wcs(pixscale).to_header()
    header["BANDS"] = "grz"
    if bunit:
        header["BUNIT"] = bunit
        bands = (bands - 1000) / 300
    fits.PrimaryHDU(bands[1] if one_band else bands, header=header).writeto(path)
    return path


@pytest.mark.parametrize("bunit,one_band", [(None, False), ("nanomaggy", False), (None, True)])
def test_field_windows_equal_the_whole_image(tmp_path, bunit, one_band):
    path = _field(tmp_path / "f.fits", bunit=bunit, one_band=one_band)
    whole = read_image(path)
    assert fits_field_shape(path) == SHAPE
    with FitsField(path) as field:
        assert field.shape == SHAPE and field.bands == whole.bands
        assert field.pixscale_arcsec == pytest.approx(whole.pixscale_arcsec)
        assert field.n_invalid == int((~whole.valid).sum())
        for y0, y1, x0, x1 in [(0, 600, 0, 500), (90, 211, 180, 333), (550, 600, 470, 500)]:
            rgb, valid, flux = field.window(y0, y1, x0, x1)
            np.testing.assert_array_equal(rgb, whole.rgb[y0:y1, x0:x1])
            np.testing.assert_array_equal(valid, whole.valid[y0:y1, x0:x1])
            np.testing.assert_array_equal(flux, whole.flux[y0:y1, x0:x1])
        np.testing.assert_array_equal(field.flux[10:20, 30:40], whole.flux[10:20, 30:40])
        rgb, _, _ = field.window(0, 600, 0, 500, step=3)
        np.testing.assert_array_equal(rgb, whole.rgb[::3, ::3])


def test_resampled_windows_equal_the_resampled_image():
    image = torch.rand(1, 3, 157, 133)

    def read(y0, y1, x0, x1):
        return image[0, :, y0:y1, x0:x1]

    for shape in [(100, 90), (60, 133), (300, 250)]:
        whole = resize(image, shape)[0]
        for rows, cols in [((0, shape[0]), (0, shape[1])), ((10, 47), (5, 60)),
                           ((shape[0] - 20, shape[0]), (shape[1] - 7, shape[1]))]:
            window = resize_window(read, (157, 133), shape, rows, cols)
            np.testing.assert_allclose(window, whole[:, slice(*rows), slice(*cols)], atol=2e-5)


def test_morphology_crops_from_windows_equal_crops_from_the_whole_picture(tmp_path):
    torch.manual_seed(1)
    path = save_morphology_classifier([CutoutNet(TINY_MORPH).eval()],
                                      MorphologyMetadata(TINY_MORPH, min_crop_px=8.0),
                                      tmp_path / "m.pt")
    classifier = MorphologyClassifier.from_file(path, device="cpu")
    picture = torch.rand(3, 120, 90)

    class Source:
        shape, flux = (120, 90), None

        def rgb_window(self, y0, y1, x0, x1):
            return picture[:, y0:y1, x0:x1].numpy().transpose(1, 2, 0)

    boxes = np.array([[10.3, 5.2, 30.7, 21.9], [0.0, 100.5, 12.0, 120.0], [60, 40, 89.5, 70]])
    grid = _WindowGrid(Source(), (120, 90), (120, 90))
    np.testing.assert_allclose(classifier.crops(grid, boxes), classifier.crops(picture, boxes),
                               atol=1e-6)


@pytest.mark.parametrize("pixscale", [0.396, 0.3])
def test_tile_wise_detection_equals_whole_field_detection(tmp_path, pixscale):
    path = _field(tmp_path / "f.fits", pixscale=pixscale)
    image = read_image(path)
    detector = _detector()
    whole = detector.detect(image.rgb, pixscale_arcsec=image.pixscale_arcsec,
                            weight_image=image.flux)
    with FitsField(path) as field:
        tiled = detector.detect_windows(field, pixscale_arcsec=field.pixscale_arcsec)
        centroids = tiled.centroids
    assert len(whole) > 10 and len(tiled) == len(whole)
    if pixscale != 0.396:
        # resampled tile by tile: the same objects to float32 rounding (objects of equal
        # score may swap places)
        for box, score in zip(whole.boxes, whole.scores, strict=True):
            match = np.abs(tiled.boxes - box).max(axis=1).argmin()
            np.testing.assert_allclose(tiled.boxes[match], box, atol=1e-2)
            assert abs(tiled.scores[match] - score) < 1e-4
    else:  # no resampling: the same pixels, the same numbers
        np.testing.assert_array_equal(tiled.boxes, whole.boxes)
        np.testing.assert_array_equal(tiled.scores, whole.scores)
        np.testing.assert_array_equal(tiled.class_probs, whole.class_probs)
        np.testing.assert_allclose(centroids, whole.centroids, rtol=1e-9)
        np.testing.assert_array_equal(tiled.label_map(), whole.label_map())
        strips = [tiled.label_map((y, min(y + 77, SHAPE[0]))) for y in range(0, SHAPE[0], 77)]
        np.testing.assert_array_equal(np.concatenate(strips), whole.label_map())


def test_run_detect_streams_big_fits_and_writes_the_map_strip_by_strip(tmp_path, monkeypatch):
    path = _field(tmp_path / "f.fits")
    detector = _detector()
    whole = run_detect([path], tmp_path / "whole", detector=detector, progress=False,
                       stream_min_pixels=None)
    monkeypatch.setattr(detect_run, "FIELD_STRIP_ROWS", 100)
    writes = []
    plain_write = fits.StreamingHDU.write

    def spy(self, data):
        writes.append(data.shape)
        return plain_write(self, data)

    monkeypatch.setattr(fits.StreamingHDU, "write", spy)
    streamed = run_detect([path], tmp_path / "streamed", detector=detector, progress=False,
                          stream_min_pixels=0)
    assert writes == [(100, 500)] * 6  # the map went out in strips, never whole
    assert len(streamed.catalog) == len(whole.catalog) > 10
    for column in whole.catalog.colnames:
        a, b = whole.catalog[column], streamed.catalog[column]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=1e-9)
        else:
            assert list(a) == list(b), column
    with fits.open(tmp_path / "whole" / "f_segmap.fits") as a, \
            fits.open(tmp_path / "streamed" / "f_segmap.fits") as b:
        np.testing.assert_array_equal(b[0].data, a[0].data)
        for key in ("CTYPE1", "CRVAL1", "CRPIX2", "CDELT2", "RUNKEY", "EXTNAME", "INPUT"):
            assert b[0].header[key] == a[0].header[key]
        assert len(Table.read(b["OBJECTS"])) == len(whole.catalog)
    with Image.open(tmp_path / "whole" / "f_overlay.png") as a, \
            Image.open(tmp_path / "streamed" / "f_overlay.png") as b:
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    again = run_detect([path], tmp_path / "streamed", detector=detector, progress=False,
                       stream_min_pixels=0)
    assert again.n_reused == 1 and len(again.catalog) == len(whole.catalog)


def test_big_field_overlay_shows_every_nth_pixel(tmp_path, monkeypatch):
    path = _field(tmp_path / "f.fits")
    monkeypatch.setattr(detect_run, "OVERLAY_MAX_SIDE", 200)
    run_detect([path], tmp_path / "o", detector=_detector(),
               progress=False, stream_min_pixels=0)
    with Image.open(tmp_path / "o" / "f_overlay.png") as overlay:
        assert overlay.size == (167, 200)  # every 3rd pixel
    assert fits.getheader(tmp_path / "o" / "f_segmap.fits")["OVSTEP"] == 3


def test_bad_fields_give_clear_errors(tmp_path):
    good = _field(tmp_path / "good.fits")
    data = good.read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) // 2])
    nan = np.full((3, 200, 300), np.nan, np.float32)
    fits.PrimaryHDU(nan).writeto(tmp_path / "nan.fits")
    fits.PrimaryHDU(np.ones((200, 300), np.float32)).writeto(tmp_path / "flat.fits")
    fits.PrimaryHDU(np.ones((4, 20, 30), np.float32)).writeto(tmp_path / "four.fits")
    with pytest.raises(InputFileError, match="truncated"):
        FitsField(tmp_path / "cut.fits")
    with pytest.raises(InputFileError, match="no finite pixels in band g"):
        FitsField(tmp_path / "nan.fits")
    with pytest.raises(InputFileError, match="constant"):
        FitsField(tmp_path / "flat.fits")
    with pytest.raises(InputFileError, match="three bands"):
        FitsField(tmp_path / "four.fits")
    inputs = [tmp_path / n for n in ("cut.fits", "nan.fits", "good.fits")]
    errors = []
    run = run_detect(inputs, tmp_path / "o", detector=_detector(), progress=False,
                     stream_min_pixels=0, on_error=lambda p, r: errors.append((p.name, r)))
    assert [name for name, _ in errors] == ["cut.fits", "nan.fits"]
    assert "truncated" in errors[0][1] and "no finite pixels" in errors[1][1]
    assert run.n_failed == 2 and set(run.catalog["name"]) == {"good"}


def test_survey_detect_spreads_a_big_fields_tiles_over_the_cluster(tmp_path, monkeypatch):
    from galseg.data.catalogs import read_catalog, write_catalog
    from galseg.survey import tasks
    from galseg.survey.run import run_survey
    from galseg.survey.tasks import SurveySettings

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        _field(images / f"{i + 7}.fits", seed=i)
    (images / "9.fits").write_bytes((images / "7.fits").read_bytes()[:20000])  # truncated
    write_catalog(Table({"objID": [7, 8, 9]}), tmp_path / "fields.csv")
    model = tmp_path / "det.pt"
    from galseg.models.weights import DetectorMetadata, save_detector
    save_detector(_detector().model, DetectorMetadata(FEW), model)
    detector = Detector.from_file(model, morphology=None, device="cpu", score_threshold=0.0,
                                  tile_size=192, tile_overlap=64)  # as the workers load it
    single = run_detect([images / "7.fits", images / "8.fits"], tmp_path / "single",
                        detector=detector, progress=False, stream_min_pixels=0)
    plain_block = tasks._field_tile_block
    log = tmp_path / "blocks.txt"

    def counted(*job):  # (Dask pickles the task: a file, not a list, sees every call)
        with log.open("a") as handle:
            handle.write(f"{job[-1]}\n")
        return plain_block(*job)

    monkeypatch.setattr(tasks, "_field_tile_block", counted)
    monkeypatch.setattr(tasks, "FIELD_BLOCK_BATCHES", 1)
    settings = SurveySettings("detect", images_dir=str(images), pattern="{id}.fits",
                              id_column="objID", model=str(model), morphology="none",
                              device="cpu", score_threshold=0.0, tile_size=192,
                              tile_overlap=64, field_min_pixels=0, maps=True)
    result = run_survey(tmp_path / "fields.csv", tmp_path / "survey", settings,
                        partition_rows=3, workers=2, processes=False, progress=False)
    assert not result.failed_partitions, result.failed_partitions
    blocks = log.read_text().splitlines()
    assert len(blocks) == len(set(blocks)) * 2 == 2 * 5  # 20 tiles a field, blocks of 4
    got, _ = read_catalog(result.catalog)
    assert "truncated" in got["error"][2]
    objects, _ = read_catalog(tmp_path / "survey" / "objects.parquet")
    assert len(objects) == len(single.catalog) > 10
    # the same objects (objects of equal score may come in another order: the workers'
    # torch threads differ from this process's, and with them the last bits of scores)
    columns = ("x", "y", "centroid_x", "centroid_y", "ra", "dec", "score", "area_px")

    def table(catalog):
        values = np.array([np.asarray(catalog[c], float) for c in columns]).T
        return values[np.lexsort(values[:, :2].T[::-1])]

    np.testing.assert_allclose(table(objects), table(single.catalog), rtol=1e-6)
    with fits.open(tmp_path / "survey" / "segmaps" / "7_segmap.fits") as a, \
            fits.open(tmp_path / "single" / "7_segmap.fits") as b:
        np.testing.assert_array_equal(a[0].data, b[0].data)
        assert a[0].header["CTYPE2"] == "DEC--TAN"


# astropy leaves the file open when its warning is raised mid-open (closed when collected)
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_truncated_field_is_reported_even_where_warnings_are_errors(tmp_path, monkeypatch):
    # Python's warning filters are one per process: another thread leaving its own
    # catch_warnings block can put an "error" filter back while a file is opened, so
    # astropy's truncation warning may arrive as an exception; it must read as damage.
    # (Simulated: the readers' own filters are made no-ops under an "error" filter.)
    import gc
    import warnings

    from astropy.utils.exceptions import AstropyWarning

    from galseg.data._fitsread import read_fits_checked
    from galseg.errors import InputFileError

    whole = tmp_path / "whole.fits"
    _field(whole, seed=0)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(whole.read_bytes()[:20000])
    with warnings.catch_warnings():
        warnings.simplefilter("error", AstropyWarning)
        monkeypatch.setattr(warnings, "simplefilter", lambda *args, **kwargs: None)
        assert fits_field_shape(cut) is None  # the in-memory reader then says why
        with pytest.raises(InputFileError, match=r"truncated|corrupt"):
            read_fits_checked(cut, lambda hdul: hdul[0].data.sum())
    gc.collect()  # astropy's leaked handles, closed here, not in a later test
