"""Detector speed: cutouts/s and megapixels/s on a large field, end to end.

Usage::

    python benchmarks/detector_speed.py [--model M] [--cutouts DIR] [--n 64]
                                        [--field FITS] [--repeats 3] [--device cpu]

* **Cutouts**: ``Detector.detect`` on ``--n`` pictures (default: the GZ1 SDSS test
  cutouts made by ``galseg gz1-masks``, 423 x 423 JPEG, read once), cutouts/s.
* **Large field**: ``galseg detect``'s whole path (read the FITS, stretch, tile,
  detect, catalog, segmentation map, overlay) on one field (default: a 2048 x 2048
  simulated field made on the fly), megapixels/s of input.
* Both with the shipped second look at each galaxy (``--morphology``, default) and
  without it (the detector's own classes), one after the other in the same run.
* **Paper architecture**: the ResNet-101 backbone and FPN on a 256 x 256 cutout
  against the lean default's (random weights; speed does not depend on them). The
  heads are left out: their cost depends on how many boxes reach them.

Prints medians over ``--repeats`` runs, measured in one run, as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from _timing import median_seconds  # benchmarks/_timing.py, beside this script

from galseg.data.detection_examples import read_detection_examples
from galseg.models.detector import PAPER_DETECTOR_CONFIG, build_detector
from galseg.predict.detect import Detector
from galseg.predict.detect_run import run_detect
from galseg.sim.detection_dataset import write_detection_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--cutouts", default="runs/gz1/test")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--field", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--morphology", default="default")
    args = parser.parse_args()

    detector = Detector.from_file(args.model, morphology=args.morphology, device=args.device)
    variants = {"with_morphology": detector,
                "without_morphology": Detector(detector.model, detector.metadata,
                                               device=args.device)}
    results: dict[str, object] = {"device": args.device, "torch": torch.__version__,
                                  "threads": torch.get_num_threads(),
                                  "machine": platform.processor() or platform.machine()}
    examples = read_detection_examples(args.cutouts)
    pictures = [examples[i].rgb() for i in range(min(args.n, len(examples)))]

    results["cutouts"] = {"n": len(pictures), "shape": list(pictures[0].shape[:2])}
    for name, variant in variants.items():
        def cutouts(variant: Detector = variant) -> None:
            for picture in pictures:
                variant.detect(picture)

        seconds = median_seconds(cutouts, args.repeats)
        results["cutouts"][f"cutouts_per_s_{name}"] = round(len(pictures) / seconds, 2)

    with tempfile.TemporaryDirectory() as tmp:
        field = args.field
        if field is None:
            write_detection_dataset(Path(tmp) / "field", 1, seed=3, size=2048, progress=False)
            field = str(Path(tmp) / "field" / "fields" / "d000000.fits")
        counter = iter(range(10**6))
        from galseg.data.images import read_image
        shape = read_image(field).shape
        results["field"] = {"path": field, "shape": list(shape)}
        for name, variant in variants.items():
            def whole_field(variant: Detector = variant) -> None:
                run_detect([Path(field)], Path(tmp) / f"out{next(counter)}", detector=variant,
                           progress=False)

            seconds = median_seconds(whole_field, args.repeats)
            results["field"][f"seconds_{name}"] = round(seconds, 2)
            results["field"][f"megapixels_per_s_{name}"] = round(
                shape[0] * shape[1] / 1e6 / seconds, 3)

    # Backbone + FPN only: the whole network's time depends on how many boxes the heads
    # get, which for the untrained paper network says nothing about the architecture.
    paper = build_detector(PAPER_DETECTOR_CONFIG).to(args.device).eval()
    lean = detector.model
    image = torch.rand(1, 3, 256, 256, device=args.device)
    rates = {}
    for name, model in (("paper_resnet101", paper), ("lean", lean)):
        def forward(model=model) -> None:
            with torch.inference_mode():
                model.backbone(image)
            if image.is_cuda:  # CUDA runs asynchronously: wait for it before stopping the clock
                torch.cuda.synchronize()
        rates[name] = round(1 / median_seconds(forward, args.repeats), 2)
    results["backbone_fpn_256px_per_s"] = rates
    results["lean_over_paper"] = round(rates["lean"] / rates["paper_resnet101"], 1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
