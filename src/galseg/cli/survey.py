"""``galseg survey``: a catalog of any size through segment, shreds, morphology or detect,
on a Dask cluster. A thin layer over :func:`galseg.survey.run.run_survey`.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from galseg.cli._args import add_morphology_option, add_views_option
from galseg.errors import GalsegError

if TYPE_CHECKING:
    from galseg.survey.run import SurveyResult

TASKS = ("segment", "shreds", "morphology", "detect")

EXAMPLES = """\
examples:
  galseg survey sources.parquet --task shreds --out run/ \\
      --images cutouts/ --id-column objID --pattern '{id}_grz.png' --workers 2
  galseg survey galaxies.fits --task segment --out run/ --maps \\
      --fetch legacy --ra-column RA --dec-column DEC --cache cutout_cache/
  galseg survey galaxies.csv --task morphology --out run/ --images cutouts/ \\
      --scheduler tcp://10.0.0.5:8786
"""

FETCH_DEFAULT_SIZE = {"segment": 128, "shreds": 128, "morphology": 256, "detect": 512}
"""Cutout side (pixels) fetched by default for each task."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg survey``."""
    parser = subparsers.add_parser(
        "survey",
        help="catalog of any size -> the same catalog with a task's columns, on Dask",
        description=textwrap.fill(
            "Run a task over every row of a catalog (FITS, CSV, ECSV, Parquet, or a HATS "
            "folder with galseg[hats]) in partitions of rows, on the workers of a Dask "
            "cluster (--scheduler) or of a local one (--workers). Each row's image is a "
            "file (--images, --pattern) or a cutout fetched from a survey service "
            "(--fetch legacy|sdss, cached). Writes DIR/catalog.parquet: every input row "
            "and column, in order, plus the task's columns (segment: galseg segment's "
            "measurements; shreds: p_shred, is_shred, shred_flag; morphology: the "
            "detected object at the cutout's centre, class and p_spiral; detect: "
            "n_objects, and DIR/objects.parquet with one row per object) and 'error' "
            "(empty when the row was computed). --maps: segment's maps in one Zarr store "
            "keyed by id (DIR/maps.zarr), detect's segmentation maps in DIR/segmaps/. "
            "detect reads FITS fields of 4096 x 4096 px or more window by window "
            "(memory-mapped) and spreads their tiles over the cluster. "
            "A killed run started again does only the partitions not yet written. See "
            "docs/survey.md.", width=79),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("catalog", type=Path, metavar="CATALOG",
                        help="input catalog (.fits, .csv, .ecsv, .parquet) or HATS folder")
    parser.add_argument("--task", required=True, choices=TASKS, help="what to measure")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--id-column", default="id", metavar="NAME",
                        help="catalog column of ids ({id} in --pattern; keys of the maps "
                             "store) (default: id)")

    files = parser.add_argument_group("images: one file per row")
    files.add_argument("--images", type=Path, default=None, metavar="DIR",
                       help="folder of images (PNG, JPEG or FITS)")
    files.add_argument("--pattern", default="{id}_grz.png",
                       help="file name in DIR; {id} is the --id-column value, other "
                            "{column} fields may be used (default: '{id}_grz.png')")

    fetch = parser.add_argument_group("images: cutouts fetched from a survey service")
    fetch.add_argument("--fetch", choices=("legacy", "sdss"), default=None,
                       help="legacy: DESI Legacy Surveys FITS g,r,z cutouts; sdss: SDSS "
                            "colour JPEG cutouts")
    fetch.add_argument("--ra-column", default="ra", metavar="NAME",
                       help="RA column in degrees (default: ra)")
    fetch.add_argument("--dec-column", default="dec", metavar="NAME",
                       help="Dec column in degrees (default: dec)")
    fetch.add_argument("--cache", type=Path, default=None, metavar="DIR",
                       help="folder of fetched cutouts (default: DIR/cutout_cache)")
    fetch.add_argument("--size", type=int, default=None, metavar="PIXELS",
                       help="cutout side (default: 128 for segment and shreds, 256 "
                            "morphology, 512 detect)")
    fetch.add_argument("--fetch-pixscale", type=float, default=None, metavar="ARCSEC",
                       help="pixel scale asked for (default: the survey's: legacy 0.262, "
                            "sdss 0.396)")
    fetch.add_argument("--layer", default=None,
                       help="Legacy Surveys layer (default: ls-dr10)")
    fetch.add_argument("--fetch-url", default=None, metavar="URL",
                       help="another endpoint taking the same query (a mirror)")
    fetch.add_argument("--rate", type=float, default=5.0, metavar="PER_S",
                       help="most requests per second, all workers together (default 5)")
    fetch.add_argument("--retries", type=int, default=4,
                       help="tries after a failed request, with back-off 1, 2, 4... s "
                            "(default 4)")

    run = parser.add_argument_group("execution")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="workers of a local Dask cluster (default: the CPU cores)")
    run.add_argument("--processes", action="store_true",
                     help="local cluster of --workers processes (default: --workers threads "
                          "in this process: no worker start-up, one copy of the model)")
    run.add_argument("--threads", type=int, default=4, metavar="N",
                     help="threads per worker reading images and measuring (default 4)")
    run.add_argument("--partition-rows", type=int, default=1000, metavar="N",
                     help="rows per partition: the unit of work, resuming and memory "
                          "(default 1000)")
    run.add_argument("--batch-size", type=int, default=None, metavar="N",
                     help="images per forward pass (default: 32 segment, 256 shreds)")
    run.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    run.add_argument("--restart", action="store_true",
                     help="discard an earlier run with other settings in DIR")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    opts = parser.add_argument_group("task options")
    opts.add_argument("--maps", action="store_true",
                      help="segment: maps in DIR/maps.zarr; detect: DIR/segmaps/")
    opts.add_argument("--model", type=Path, default=None,
                      help="model file (default: the one shipped for the task)")
    add_morphology_option(opts)
    opts.add_argument("--pixscale", type=float, default=None, metavar="ARCSEC",
                      help="pixel scale of the images (default: FITS WCS)")
    opts.add_argument("--bands", default=None,
                      help="band order of 3-plane FITS cubes (default: header BANDS, else grz)")
    opts.add_argument("--bunit", default=None,
                      help="unit of FITS values if the header has none, e.g. nanomaggy")
    opts.add_argument("--scale", choices=("frame", "pixscale", "native"), default="frame",
                      help="segment: how images are brought to the training scale")
    add_views_option(opts)
    zgroup = opts.add_mutually_exclusive_group()
    zgroup.add_argument("--redshift", type=float, default=None,
                        help="segment: one redshift for every row (kpc columns)")
    zgroup.add_argument("--redshift-column", default=None, metavar="NAME",
                        help="segment: catalog column of redshifts")
    opts.add_argument("--min-coverage", type=float, default=0.75, metavar="F",
                      help="shreds: least valid fraction of a cutout (default 0.75)")
    opts.add_argument("--threshold", type=float, default=None, metavar="P",
                      help="shreds: is_shred where p_shred >= P (default: the model's)")
    opts.add_argument("--score-threshold", type=float, default=None,
                      help="detect, morphology: lowest detection score (default 0.4)")
    parser.set_defaults(func=_run)
    return parser


def _settings(args: argparse.Namespace) -> tuple[object, int | None]:
    from galseg.survey.fetch import FetchSettings
    from galseg.survey.tasks import SurveySettings

    if (args.images is None) == (args.fetch is None):
        raise GalsegError("give either --images DIR (one file per row) or --fetch SERVICE")
    for name in ("threads", "partition_rows", "batch_size", "workers", "size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise GalsegError(f"--{name.replace('_', '-')} must be at least 1")
    fetch = None
    if args.fetch:
        fetch = FetchSettings(
            args.fetch, cache_dir=str(args.cache or args.out / "cutout_cache"),
            size=args.size or FETCH_DEFAULT_SIZE[args.task],
            pixscale_arcsec=args.fetch_pixscale, layer=args.layer, url=args.fetch_url,
            retries=args.retries, rate_per_s=args.rate)
    batch = args.batch_size or (256 if args.task == "shreds" else 32 if args.task == "segment"
                                else 4)
    workers = None if args.scheduler else (args.workers or os.cpu_count() or 1)
    torch_threads = max(1, (os.cpu_count() or 1) // workers) if workers else None
    settings = SurveySettings(
        args.task, images_dir=str(args.images) if args.images else None, pattern=args.pattern,
        id_column=args.id_column, fetch=fetch, ra_column=args.ra_column,
        dec_column=args.dec_column, model=str(args.model) if args.model else None,
        morphology=args.morphology, device=args.device, batch_size=batch,
        read_threads=args.threads, torch_threads=torch_threads, pixscale_arcsec=args.pixscale,
        bands=args.bands, bunit=args.bunit, scale=args.scale, views=args.views,
        redshift=args.redshift, redshift_column=args.redshift_column,
        min_coverage=args.min_coverage, threshold=args.threshold,
        score_threshold=args.score_threshold, maps=args.maps)
    return settings, workers


def _run(args: argparse.Namespace) -> int:
    from galseg.survey.run import run_survey

    try:
        settings, workers = _settings(args)
        result = run_survey(args.catalog, args.out, settings,
                            partition_rows=args.partition_rows, scheduler=args.scheduler,
                            workers=workers, processes=args.processes, restart=args.restart,
                            progress=not args.quiet)
    except (GalsegError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    return 1 if result.failed_partitions else 0


def summary(result: SurveyResult) -> str:
    """The lines ``galseg survey`` prints at the end of a run."""
    computed = result.n_rows - result.n_done_before
    lines = [f"{result.n_rows} rows -> {result.catalog or '(not finished)'}"]
    before = f" ({result.n_done_before} done by an earlier run)" if result.n_done_before else ""
    lines.append(f"  computed {computed} rows{before}; {result.n_errors} with an error")
    if result.errors:
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in
                                              list(result.errors.items())[:6]))
    if result.failed_partitions:
        lines.append(f"  {len(result.failed_partitions)} partitions failed; run the same "
                     "command again to retry them")
    lines.append(f"  {result.elapsed_s:.1f} s, {result.rows_per_s:.1f} rows/s")
    if result.dashboard:
        lines.append(f"  dashboard was at {result.dashboard}")
    return "\n".join(lines)
