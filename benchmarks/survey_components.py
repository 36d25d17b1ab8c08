"""Where a cutout's time goes in ``galseg segment``/``galseg shreds`` and their survey tasks.

Usage::

    python benchmarks/survey_components.py [--data ../shared/data/legacy_cutouts] [--n 160]

CPU milliseconds per cutout (``time.process_time``, one torch thread, so little affected
by other load) of each stage on the first ``--n`` Legacy cutouts: decoding, the network
(batches of the task's size), the measurements, and ``galseg segment``'s writing of a
masks FITS and an overlay PNG per cutout; for shreds, reading and cutting, and the network.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table

from galseg.data.images import read_image
from galseg.predict.run import _write
from galseg.predict.segment import Segmenter
from galseg.predict.shred_catalog import FileCutouts
from galseg.predict.shreds import ShredClassifier


def _per_cutout(function, n: int) -> float:
    start = time.process_time()
    function()
    return (time.process_time() - start) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).parents[1] / "../shared/data/legacy_cutouts")
    parser.add_argument("--n", type=int, default=160)
    args = parser.parse_args()
    torch.set_num_threads(1)
    catalog = Table.read(args.data / "catalog.fits")[: args.n]
    files = [args.data / "images" / f"{i}_grz.png" for i in catalog["objID"]]
    n = len(files)
    images: list = []
    decode = _per_cutout(lambda: images.extend(read_image(f) for f in files), n)
    segmenter = Segmenter(device="cpu")
    segmenter.predict_maps(images[:32])  # warm-up
    maps: list = []
    network = _per_cutout(lambda: [maps.extend(segmenter.predict_maps(images[i:i + 32]))
                                   for i in range(0, n, 32)], n)

    def results():
        return [segmenter.result(im, m) for im, m in zip(images, maps, strict=True)]

    first = results()
    measure = _per_cutout(lambda: [r.measurements for r in first], n)
    second = results()
    with tempfile.TemporaryDirectory() as out:
        write = _per_cutout(lambda: [_write(r, Path(out), thresholds=(), key="x")
                                     for r in second], n) - measure
    print(f"segment, ms/cutout: decode {decode:.2f}, network {network:.2f}, "
          f"measure {measure:.2f}, write {write:.2f}")
    classifier = ShredClassifier.from_file(device="cpu")
    cutouts = FileCutouts(catalog, images_dir=args.data / "images", pattern="{id}_grz.png",
                          id_column="objID", size=classifier.cutout_size,
                          model_pixscale=classifier.pixscale_arcsec, pixscale_arcsec=None,
                          bands=None, bunit=None, min_coverage=0.75, workers=1)
    names = cutouts.names(np.arange(n))
    cut: list = []
    read = _per_cutout(lambda: cut.extend(cutouts.one(name) for name in names), n)
    stack = np.stack([rgb for rgb, _ in cut if rgb is not None])
    classifier.predict_proba(stack[:32])  # warm-up
    network = _per_cutout(lambda: classifier.predict_proba(stack), len(stack))
    print(f"shreds, ms/cutout: read and cut {read:.2f}, network {network:.2f}")


if __name__ == "__main__":
    main()
