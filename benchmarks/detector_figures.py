"""Figures of the detector at work (docs/images/detector_*.png).

Usage::

    python benchmarks/detector_figures.py [--model M] [--gz1 runs/gz1/test]
                                          [--real ../shared/data/real_images]
                                          [--field runs/det_test] [--out docs/images]

* ``detector_gz1.png``: 12 held-back GZ1 SDSS cutouts (the first 6 whose central galaxy
  is classified right and the first 6 where it is not), with outlines, class and score.
* ``detector_field.png``: one simulated test field: truth outlines beside galseg's.
* ``detector_real.png``: the nearby spirals of ``real_images/`` (PNG, galaxy filling
  the frame, no pixel scale), run at their own pixels and at half size.

Only pictures made from real data galseg did not make go to ``benchmarks/out/`` (not
committed) unless ``--out`` says otherwise; the figures in docs/images are small
montages for the documentation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from galseg.data.detection_examples import read_detection_examples
from galseg.data.images import read_image
from galseg.predict.detect import Detector
from galseg.predict.detect_run import overlay_detections
from galseg.predict.detections import Detections


def _caption(picture: np.ndarray, text: str) -> np.ndarray:
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, 12), fill=(0, 0, 0))
    draw.text((2, 0), text, fill=(255, 255, 255))
    return np.asarray(image)


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    padded = [np.pad(t, ((0, h - t.shape[0]), (0, w - t.shape[1]), (0, 0))) for t in tiles]
    while len(padded) % columns:
        padded.append(np.zeros_like(padded[0]))
    rows = [np.concatenate(padded[i:i + columns], axis=1)
            for i in range(0, len(padded), columns)]
    return np.concatenate(rows, axis=0)


def gz1_figure(detector: Detector, folder: Path) -> np.ndarray:
    examples = read_detection_examples(folder)
    good, bad = [], []
    for example in examples:
        if len(good) >= 6 and len(bad) >= 6:
            break
        rgb = example.rgb()
        found = detector.detect(rgb)
        truth = example.classes[0]
        centre = np.array([example.objects["x"][0], example.objects["y"][0]])
        if len(found):
            nearest = int(np.argmin(np.hypot(*(found.centroids - centre).T)))
            label, score = found.labels[nearest], found.scores[nearest]
        else:
            label, score = "none", 0.0
        tile = _caption(overlay_detections(rgb, found)[106:318, 106:318],
                        f"GZ1 {truth} -> {label} {score:.2f}")
        (good if label == truth else bad).append(tile)
    return _grid(good[:6] + bad[:6], 6)


def field_figure(detector: Detector, folder: Path) -> np.ndarray:
    example = read_detection_examples(folder)[0]
    rgb = example.rgb()
    truth = Detections(np.zeros((len(example.objects), 4)), np.ones(len(example.objects)),
                       np.eye(3)[[["spiral", "elliptical", "star"].index(c)
                                  for c in example.classes]], masks=example.masks())
    found = detector.detect(rgb, pixscale_arcsec=example.pixscale_arcsec)
    return np.concatenate([_caption(overlay_detections(rgb, truth), "truth"),
                           _caption(overlay_detections(rgb, found), "galseg detect")], axis=1)


def real_figure(detector: Detector, folder: Path) -> np.ndarray:
    tiles = []
    for path in sorted(folder.glob("*.png")):
        image = read_image(path)
        for scale in (1.0, 0.5):
            found = detector.detect(image.rgb, scale=scale)
            over = overlay_detections(image.rgb, found)
            top = ", ".join(f"{c} {s:.2f}" for c, s in zip(found.labels[:2], found.scores[:2],
                                                              strict=False))
            tiles.append(_caption(over[::2, ::2], f"{path.stem} scale {scale}: {top}"))
    return _grid(tiles, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--gz1", type=Path, default=Path("runs/gz1/test"))
    parser.add_argument("--real", type=Path, default=Path("../shared/data/real_images"))
    parser.add_argument("--field", type=Path, default=Path("runs/det_test"))
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    detector = Detector.from_file(args.model, device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {"detector_field.png": (field_figure, args.field),
               "detector_gz1.png": (gz1_figure, args.gz1),
               "detector_real.png": (real_figure, args.real)}
    for name, (make, source) in figures.items():
        if not source.exists():
            print(f"skipped {name}: {source} not found")
            continue
        Image.fromarray(make(detector, source)).save(args.out / name, optimize=True)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
