"""galseg survey: catalogs in partitions, on Dask, the single-file commands' numbers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table, vstack
from astropy.wcs import WCS
from PIL import Image

from galseg.data.catalogs import CatalogPartitions, read_catalog, write_catalog
from galseg.errors import GalsegError
from galseg.predict.shred_catalog import clean_catalog
from galseg.predict.shreds import ShredClassifier
from galseg.survey.output import read_map, shard_rows
from galseg.survey.run import run_survey
from galseg.survey.tasks import SurveySettings


def _picture(seed: int, size: int = 128) -> np.ndarray:
    """A smooth random colour picture with a bright blob in the middle (uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    planes = [np.sin(rng.uniform(2, 9) * x + rng.uniform(2, 9) * y + rng.uniform(0, 6))
              for _ in range(3)]
    blob = np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.01)[..., None]
    picture = 60 * (np.stack(planes, axis=2) + 1) + 130 * blob
    return np.clip(picture, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def cutouts(tmp_path_factory):
    """A folder of 10 PNG cutouts, one truncated; a catalog of 23 rows (some rows share
    a cutout, one has no file, one no id)."""
    root = tmp_path_factory.mktemp("survey_cutouts")
    images = root / "images"
    images.mkdir()
    for i in range(10):
        Image.fromarray(_picture(i)).save(images / f"{100 + i}_grz.png")
    (images / "109_grz.png").write_bytes((images / "109_grz.png").read_bytes()[:200])
    ids = [100 + (i * 7) % 10 for i in range(21)] + [555, 0]
    table = Table()
    table["objID"] = MaskedColumn(ids, mask=[False] * 22 + [True])
    table["ra"] = np.linspace(150, 151, 23)
    table["ra"].unit = "deg"
    table["mag_r"] = np.arange(23) * 0.5 + 15
    table["z"] = MaskedColumn(np.linspace(0.01, 0.1, 23), mask=[i == 3 for i in range(23)])
    write_catalog(table, root / "catalog.csv")
    return root


def _settings(task, root, **options):
    options.setdefault("batch_size", 4)
    options.setdefault("read_threads", 2)
    return SurveySettings(task, images_dir=str(root / "images"), id_column="objID",
                          device="cpu", **options)


def test_partitions_give_what_read_catalog_gives(tmp_path):
    rng = np.random.default_rng(1)
    n = 57
    table = Table()
    table["objID"] = np.arange(n, dtype=np.int64) + 1237648720693755918
    table["name"] = [f"0{i:03d}" for i in range(n)]
    table["flux"] = MaskedColumn(rng.normal(size=n), mask=rng.random(n) < 0.2, unit="deg")
    table["count"] = MaskedColumn(rng.integers(0, 9, n), mask=rng.random(n) < 0.2)
    table["ok"] = rng.random(n) < 0.5
    for suffix in ("fits", "csv", "ecsv", "parquet"):
        path = tmp_path / f"c.{suffix}"
        write_catalog(table, path)
        whole, _ = read_catalog(path)
        partitions = CatalogPartitions(path)
        assert partitions.n_rows == n
        parts = list(partitions.partitions(10))
        assert [len(p) for p in parts] == [10] * 5 + [7]
        joined = vstack(parts)
        for name in whole.colnames:
            a, b = whole[name], joined[name]
            assert a.dtype.kind == b.dtype.kind, (suffix, name)
            assert a.unit == b.unit, (suffix, name)
            assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b)), (suffix, name)
            av, bv = (np.asarray(np.ma.filled(c, c.dtype.type(0))) for c in (a, b))
            assert np.array_equal(av, bv, equal_nan=av.dtype.kind == "f"), (suffix, name)


def test_csv_partitions_type_columns_from_the_whole_file(tmp_path):
    path = tmp_path / "c.csv"
    # first partition: ids that look like integers; a later one: leading zeros (text)
    path.write_text("id,x\n" + "".join(f"{i},{i}\n" for i in range(1, 6)) + "0012,1.5\n")
    parts = list(CatalogPartitions(path).partitions(5))
    assert parts[0]["id"].dtype.kind == "U" and list(parts[1]["id"]) == ["0012"]
    assert parts[0]["x"].dtype.kind == "f" and parts[1]["x"][0] == 1.5


@pytest.mark.slow
def test_survey_shreds_gives_galseg_shreds_numbers_whatever_the_workers(
        cutouts, tiny_shred_model_path, tmp_path):
    classifier = ShredClassifier.from_file(tiny_shred_model_path, device="cpu", batch_size=8)
    single = clean_catalog(cutouts / "catalog.csv", tmp_path / "single.csv",
                           classifier=classifier, images_dir=cutouts / "images",
                           id_column="objID", progress=False)
    expected, _ = read_catalog(single.path)
    settings = _settings("shreds", cutouts, model=str(tiny_shred_model_path))
    results = []
    for workers, rows in ((1, 23), (3, 4)):
        out = tmp_path / f"survey{workers}"
        result = run_survey(cutouts / "catalog.csv", out, settings, partition_rows=rows,
                            workers=workers, processes=False, progress=False)
        assert result.catalog == out / "catalog.parquet" and not result.failed_partitions
        got, _ = read_catalog(result.catalog)
        results.append(got)
        assert got.colnames == [*expected.colnames, "error"]
        assert list(got["mag_r"]) == list(expected["mag_r"])  # every row, in order
        assert list(got["shred_flag"]) == list(expected["shred_flag"])
        assert np.array_equal(np.ma.getmaskarray(got["objID"]), np.ma.getmaskarray(
            expected["objID"]))
        p, q = (np.ma.filled(t["p_shred"], np.nan) for t in (got, expected))
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7, equal_nan=True)
        assert list(got["error"]) == ["" if f == "ok" else f for f in expected["shred_flag"]]
        assert not (out / "parts").exists()
    flags = list(results[0]["shred_flag"])
    assert flags.count("ok") == 19 and flags.count("missing_cutout") == 1
    assert flags.count("missing_id") == 1 and sum("unreadable" in f for f in flags) == 2
    # done: a second run does nothing; other settings in the same folder are refused
    again = run_survey(cutouts / "catalog.csv", tmp_path / "survey1", settings,
                       partition_rows=23, workers=1, processes=False, progress=False)
    assert again.n_done_before == 23
    with pytest.raises(GalsegError, match="another catalog, model or settings"):
        run_survey(cutouts / "catalog.csv", tmp_path / "survey1", settings,
                   partition_rows=5, workers=1, processes=False, progress=False)


@pytest.mark.slow
def test_survey_segment_gives_galseg_segment_numbers_and_maps_by_id(
        cutouts, tiny_segmenter_path, tmp_path):
    from galseg.predict.run import run_segment
    from galseg.predict.segment import Segmenter

    segmenter = Segmenter(tiny_segmenter_path, device="cpu", batch_size=4)
    files = sorted((cutouts / "images").glob("*.png"))
    single = run_segment(files, tmp_path / "single", segmenter=segmenter, progress=False)
    by_name = {str(row["name"]): row for row in single.catalog}
    settings = _settings("segment", cutouts, model=str(tiny_segmenter_path),
                         redshift_column="z", maps=True)
    result = run_survey(cutouts / "catalog.csv", tmp_path / "survey", settings,
                        partition_rows=6, workers=2, processes=False, progress=False)
    got, _ = read_catalog(result.catalog)
    assert len(got) == 23 and list(got["mag_r"]) == list(np.arange(23) * 0.5 + 15)
    measured = [c for c in single.catalog.colnames
                if c not in ("name", "file", "redshift", "error") and "kpc" not in c]
    n_checked = 0
    for row in got:
        if row["error"]:
            assert np.ma.is_masked(row["spiral_area_px"]) and not row["map_stored"]
            continue
        expected = by_name[f"{row['objID']}_grz"]
        for column in measured:
            a, b = row[column], expected[column]
            if np.ma.is_masked(b):
                assert np.ma.is_masked(a), column
            else:
                assert a == pytest.approx(b, rel=1e-5, abs=1e-6), column
        n_checked += 1
        spiral, bar = read_map(tmp_path / "survey" / "maps.zarr", row["objID"])
        with fits.open(tmp_path / "single" / f"{row['objID']}_grz_masks.fits") as hdul:
            np.testing.assert_allclose(spiral, hdul["SPIRAL_VOTE_FRACTION"].data, atol=1e-5)
            np.testing.assert_allclose(bar, hdul["BAR_VOTE_FRACTION"].data, atol=1e-5)
    assert n_checked == 19
    errors = [e for e in got["error"] if e]
    assert len(errors) == 4 and "missing_cutout" in errors
    assert np.ma.is_masked(got["redshift"][3]) and got["redshift"][4] == pytest.approx(
        np.linspace(0.01, 0.1, 23)[4])
    assert shard_rows(6) == 6 and shard_rows(1000) == 250


def _tiny_detector_file(path):
    import torch

    from galseg.models.detector import DetectorConfig, build_detector
    from galseg.models.weights import DetectorMetadata, save_detector

    config = DetectorConfig(lean_widths=(8, 8, 16, 16), fpn_channels=16, box_head_dim=32,
                            mask_head_channels=8, mask_head_layers=1, score_threshold=0.0)
    torch.manual_seed(0)
    model = build_detector(config)
    with torch.no_grad():  # masks that fill their boxes (a random head gives none)
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(5.0)
    return save_detector(model, DetectorMetadata(config), path)


@pytest.mark.slow
def test_survey_detect_and_morphology_give_galseg_detect_objects(cutouts, tmp_path):
    from galseg.predict.detect import Detector
    from galseg.predict.detect_run import run_detect

    model = _tiny_detector_file(tmp_path / "det.pt")
    detector = Detector.from_file(model, morphology=None, device="cpu", score_threshold=0.0)
    files = [cutouts / "images" / f"{100 + i}_grz.png" for i in range(3)]
    single = run_detect(files, tmp_path / "single", detector=detector, progress=False)
    table = Table({"objID": [100, 101, 102, 109], "ra": [1.0, 2.0, 3.0, 4.0]})
    write_catalog(table, tmp_path / "fields.parquet")
    settings = _settings("detect", cutouts, model=str(model), morphology="none",
                         score_threshold=0.0)
    result = run_survey(tmp_path / "fields.parquet", tmp_path / "survey", settings,
                        partition_rows=2, workers=1, processes=False, progress=False)
    got, _ = read_catalog(result.catalog)
    objects, _ = read_catalog(tmp_path / "survey" / "objects.parquet")
    assert list(got["n_objects"][:3]) == [int((single.catalog["name"] == f.name[:-4]).sum())
                                          for f in files]
    assert np.ma.is_masked(got["n_objects"][3]) and got["error"][3]
    assert len(objects) == len(single.catalog) > 0
    for column in ("x", "y", "centroid_x", "centroid_y", "score", "p_spiral", "area_px"):
        np.testing.assert_allclose(np.asarray(objects[column], float),
                                   np.asarray(single.catalog[column], float), rtol=1e-6)
    stems = [f.name[:-4] for f in files]
    assert list(objects["row"]) == [stems.index(n) for n in single.catalog["name"]]

    morph = _settings("morphology", cutouts, model=str(model), morphology="none",
                      score_threshold=0.0)
    result = run_survey(tmp_path / "fields.parquet", tmp_path / "morph", morph,
                        partition_rows=3, workers=1, processes=False, progress=False)
    got, _ = read_catalog(result.catalog)
    for k, f in enumerate(files):
        mine = single.catalog[single.catalog["name"] == f.name[:-4]]
        with fits.open(tmp_path / "single" / f"{f.name[:-4]}_segmap.fits") as hdul:
            label = hdul[0].data[64, 64]
        if label == 0:
            assert got["error"][k] == "no object at the centre"
            continue
        centre = mine[mine["label"] == label][0]
        assert got["class"][k] == centre["class"]
        assert got["p_spiral"][k] == pytest.approx(centre["p_spiral"], rel=1e-6)
        assert got["area_px"][k] == centre["area_px"]


def test_survey_refuses_clashing_columns_and_missing_ones(cutouts, tmp_path):
    table = Table({"objID": [100], "error": ["x"]})
    write_catalog(table, tmp_path / "c.fits")
    settings = _settings("shreds", cutouts)
    with pytest.raises(GalsegError, match="already has column"):
        run_survey(tmp_path / "c.fits", tmp_path / "o", settings, processes=False,
                   progress=False)
    write_catalog(Table({"objID": [100]}), tmp_path / "d.fits")
    with pytest.raises(GalsegError, match="no id column"):
        run_survey(tmp_path / "d.fits", tmp_path / "o",
                   SurveySettings("shreds", images_dir=str(cutouts), id_column="nope"),
                   processes=False, progress=False)


def test_merge_keeps_one_schema_and_units(tmp_path):
    from galseg.survey.output import SurveyOutput

    output = SurveyOutput(tmp_path, key="k", n_rows=5, partition_rows=3, task="shreds")
    a = Table({"name": ["a", "bbb", "c"], "v": [1.0, 2.0, 3.0]})
    a["v"].unit = "deg"
    b = Table({"name": ["dddddd", "e"], "v": MaskedColumn([4.0, 5.0], mask=[True, False])})
    b["v"].unit = "deg"
    output.write_partition(1, b)
    assert output.done() == {1}
    output.write_partition(0, a)
    path = output.finish()
    merged, _ = read_catalog(path)
    assert list(merged["name"]) == ["a", "bbb", "c", "dddddd", "e"]
    assert merged["v"].unit == "deg" and np.ma.is_masked(merged["v"][3])
    assert pq.read_metadata(path).num_rows == 5


# ---------------------------------------------------------------------------- processes


def _galseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "galseg.cli.main", *map(str, args)]


def _environment() -> dict[str, str]:
    """This interpreter's environment, galseg importable from the tested source."""
    import galseg

    env = dict(os.environ)
    src = str(Path(galseg.__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _stop(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started (its own session), surely."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _wait_for(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
def test_survey_through_a_dask_scheduler_and_two_workers(cutouts, tiny_shred_model_path,
                                                         tmp_path):
    dask = str(Path(sys.executable).with_name("dask"))
    env = _environment()
    scheduler_file = tmp_path / "scheduler.json"
    log = (tmp_path / "dask.log").open("w")
    processes = []
    try:
        processes.append(subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            env=env, stdout=log, stderr=log, start_new_session=True))
        _wait_for(scheduler_file.is_file, 180, "the scheduler")
        for name in ("w1", "w2"):
            processes.append(subprocess.Popen(
                [dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--name", name],
                env=env, stdout=log, stderr=log, start_new_session=True))
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=300)
            address = client.scheduler.address
        out = tmp_path / "out"
        done = subprocess.run(
            _galseg("survey", cutouts / "catalog.csv", "--task", "shreds", "--out", out,
                    "--images", cutouts / "images", "--id-column", "objID", "--model",
                    tiny_shred_model_path, "--scheduler", address, "--partition-rows", "3",
                    "--batch-size", "8", "--device", "cpu", "--quiet"),
            env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "23 rows ->" in done.stdout
        got, _ = read_catalog(out / "catalog.parquet")
        assert len(got) == 23 and list(got["mag_r"]) == list(np.arange(23) * 0.5 + 15)
        assert list(got["shred_flag"]).count("ok") == 19
    finally:
        for process in reversed(processes):
            _stop(process)
        log.close()


@pytest.mark.slow
def test_killed_survey_resumes_without_losing_or_repeating_rows(cutouts, tiny_shred_model_path,
                                                                tmp_path):
    n = 600
    table = Table({"row_id": np.arange(n), "objID": 100 + np.arange(n) % 9})
    write_catalog(table, tmp_path / "big.parquet")
    out = tmp_path / "out"
    command = _galseg("survey", tmp_path / "big.parquet", "--task", "shreds", "--out", out,
                      "--images", cutouts / "images", "--id-column", "objID", "--model",
                      tiny_shred_model_path, "--workers", "1", "--partition-rows", "10",
                      "--batch-size", "8", "--device", "cpu", "--quiet")
    env = _environment()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def parts() -> int:
            folder = out / "parts"
            return len(list(folder.glob("part-*.parquet"))) if folder.is_dir() else 0

        _wait_for(lambda: parts() >= 3 or process.poll() is not None, 600, "three partitions")
        os.killpg(process.pid, signal.SIGKILL)  # the client and its local cluster at once
        process.wait(timeout=60)
    finally:
        _stop(process)
    killed_at = parts()
    assert not (out / "catalog.parquet").exists(), "the run ended before it was killed"
    assert 3 <= killed_at < n // 10
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"({10 * killed_at} done by an earlier run)" in done.stdout
    got, _ = read_catalog(out / "catalog.parquet")
    assert list(got["row_id"]) == list(range(n))  # nothing lost, nothing twice, in order
    classifier = ShredClassifier.from_file(tiny_shred_model_path, device="cpu", batch_size=8)
    expected = clean_catalog(tmp_path / "big.parquet", tmp_path / "single.parquet",
                             classifier=classifier, images_dir=cutouts / "images",
                             id_column="objID", progress=False)
    single, _ = read_catalog(expected.path)
    np.testing.assert_allclose(np.ma.filled(got["p_shred"], np.nan),
                               np.ma.filled(single["p_shred"], np.nan), rtol=1e-6,
                               equal_nan=True)


# ---------------------------------------------------------------------------- fetching


class _FakeService:
    """A cutout service on 127.0.0.1 serving FITS cubes (legacy) or JPEGs (sdss) the test
    made: RA 10 is outside the footprint (a blank image), RA 20 has no cutout (404), RA 30
    fails twice (503) before it answers."""

    def __init__(self, size: int, pixscale: float) -> None:
        import http.server
        import threading
        import urllib.parse

        self.requests: list[dict[str, str]] = []
        self.failures = {30: 2}
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                service.requests.append({"path": url.path, **query})
                ra = round(float(query["ra"]))
                if ra == 20:
                    self.send_error(404)
                    return
                if service.failures.get(ra, 0) > 0:
                    service.failures[ra] -= 1
                    self.send_error(503)
                    return
                body = service.body(url.path, ra, float(query["dec"]))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.size, self.pixscale = size, pixscale
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def body(self, path: str, ra: int, dec: float) -> bytes:
        import io

        rgb = _picture(ra, self.size) if ra != 10 else np.zeros((self.size,) * 2 + (3,),
                                                                 np.uint8)
        buffer = io.BytesIO()
        if path.endswith(".fits"):
            wcs = WCS(naxis=2)
            wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            wcs.wcs.crval = [ra, dec]
            wcs.wcs.crpix = [self.size / 2 + 0.5] * 2
            wcs.wcs.cdelt = [-self.pixscale / 3600, self.pixscale / 3600]
            header = wcs.to_header()
            header["BANDS"] = "grz"
            header["BUNIT"] = "nanomaggy"
            cube = np.stack([rgb[..., i] / 255.0 for i in (2, 1, 0)]).astype(np.float32)
            fits.PrimaryHDU(cube, header=header).writeto(buffer)
        else:
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
        return buffer.getvalue()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("service", ["legacy", "sdss"])
def test_survey_fetches_cutouts_once_with_retries_and_no_data_rows(
        service, tiny_shred_model_path, tmp_path):
    from galseg.survey.fetch import FetchSettings

    fake = _FakeService(128, 0.469)
    try:
        table = Table({"name": ["a", "b", "c", "d", "e"], "RA": [41.0, 10.0, 20.0, 30.0, 42.0],
                       "DEC": [1.0, 2.0, 3.0, 4.0, 95.0]})
        write_catalog(table, tmp_path / "positions.ecsv")
        endpoint = "/viewer/cutout.fits" if service == "legacy" else "/ImgCutout/getjpeg"
        fetch = FetchSettings(service, cache_dir=str(tmp_path / "cache"), size=128,
                              pixscale_arcsec=0.469, url=fake.url + endpoint, backoff_s=0.01,
                              rate_per_s=200)
        settings = SurveySettings("shreds", fetch=fetch, ra_column="RA", dec_column="DEC",
                                  model=str(tiny_shred_model_path), device="cpu",
                                  batch_size=4)
        result = run_survey(tmp_path / "positions.ecsv", tmp_path / "out", settings,
                            partition_rows=2, workers=1, processes=False, progress=False)
        got, _ = read_catalog(result.catalog)
        assert list(got["name"]) == ["a", "b", "c", "d", "e"]
        assert list(got["shred_flag"][[0, 3]]) == ["ok", "ok"]
        assert "no data: blank image" in got["error"][1]
        assert "no data" in got["error"][2] and "404" in got["error"][2]
        assert got["error"][4] == "fetch: bad_coordinates"
        first = fake.requests[0]
        if service == "legacy":
            assert first["path"] == "/viewer/cutout.fits" and first["layer"] == "ls-dr10"
            assert (first["size"], first["pixscale"], first["bands"]) == ("128", "0.469", "grz")
        else:
            assert (first["width"], first["height"], first["scale"]) == ("128", "128", "0.469")
        assert len(fake.requests) == 6  # a, b, c, and d three times (two 503s)
        # the same numbers as the cached files given as --images
        suffix = "fits" if service == "legacy" else "jpeg"
        cached = sorted((tmp_path / "cache").rglob(f"*.{suffix}"))
        assert len(cached) == 2
        classifier = ShredClassifier.from_file(tiny_shred_model_path, device="cpu")
        from galseg.predict.shred_catalog import FileCutouts

        cutouts = FileCutouts(None, images_dir=tmp_path, pattern="", id_column="",
                              size=128, model_pixscale=0.469,
                              pixscale_arcsec=None if service == "legacy" else 0.469,
                              bands=None, bunit=None, min_coverage=0.75, workers=1)
        rgb, flag = cutouts.one(str(next(p for p in cached if p.name.startswith("41."))))
        assert flag == "ok"
        assert got["p_shred"][0] == pytest.approx(classifier.predict_proba(rgb[None])[0],
                                                  rel=1e-6)
        # a second survey of the same positions asks the service nothing
        run_survey(tmp_path / "positions.ecsv", tmp_path / "again", settings, partition_rows=5,
                   workers=1, processes=False, progress=False)
        assert len(fake.requests) == 6
    finally:
        fake.close()


def test_rate_limit_spaces_requests():
    from galseg.survey.fetch import _RateLimit

    limit = _RateLimit(50.0)
    start = time.monotonic()
    for _ in range(6):
        limit.wait()
    assert time.monotonic() - start >= 5 / 50 - 1e-3


def test_survey_reads_a_hats_catalog_through_lsdb(cutouts, tiny_shred_model_path, tmp_path):
    lsdb = pytest.importorskip("lsdb")
    import warnings

    import pandas as pd

    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame({"objID": 100 + np.arange(n) % 9, "row_id": np.arange(n),
                          "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 60, n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lsdb.from_dataframe(frame, ra_column="ra", dec_column="dec", catalog_name="t",
                            lowest_order=1, highest_order=3,
                            partition_rows=30).to_hats(tmp_path / "hats")
        settings = _settings("shreds", cutouts, model=str(tiny_shred_model_path))
        result = run_survey(tmp_path / "hats", tmp_path / "out", settings, partition_rows=25,
                            workers=1, processes=False, progress=False)
    got, _ = read_catalog(result.catalog)
    assert sorted(got["row_id"]) == list(range(n))  # every row once
    assert "_healpix_29" in got.colnames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        order = lsdb.open_catalog(tmp_path / "hats").compute()["row_id"]
    assert list(got["row_id"]) == list(order)  # the catalog's own order
    assert set(got["shred_flag"]) == {"ok"}
