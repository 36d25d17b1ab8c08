"""Detector time on a crowded field: each mask's window pasted, against full-tile masks.

Usage::

    python benchmarks/mask_paste_speed.py [--model M ...] [--repeats 3] [--threads 1]

The picture is scikit-image's Hubble deep field resampled to 2345 x 2039 px (the
deep-field size of issue 28, as ``benchmarks/real_fields.py`` makes it), a field where a
model may report over a thousand sources. For each model (default: the shipped one),
``Detector.detect`` runs with the masks pasted window by window (the default,
:func:`galseg.models.detector.paste_mask_crops`) and with torchvision's full-tile masks
(``model.transform.paste_masks = True``), interleaved, ``--repeats`` times each; prints
the median seconds, their ratio, the number of objects and whether both give the same
masks, as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from galseg.predict.detect import Detector


def deep_field() -> np.ndarray:
    from skimage.data import hubble_deep_field
    from skimage.transform import resize
    picture = resize(hubble_deep_field(), (2039, 2345), order=3, anti_aliasing=False)
    return (picture * 255 + 0.5).clip(0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="*", default=[""],
                        help="model files (\"\" for the shipped one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rgb = deep_field()
    out: dict[str, object] = {"machine": platform.processor() or platform.machine(),
                              "threads": args.threads, "repeats": args.repeats}
    for model in args.model:
        detector = Detector.from_file(model or None)
        seconds: dict[str, list[float]] = {"windows": [], "full": []}
        found = {}
        for _ in range(args.repeats):
            for mode in seconds:
                detector.model.transform.paste_masks = mode == "full"
                start = time.perf_counter()
                found[mode] = detector.detect(rgb)
                seconds[mode].append(time.perf_counter() - start)
        medians = {mode: float(np.median(v)) for mode, v in seconds.items()}
        out[model or "shipped"] = {
            "objects": len(found["windows"]),
            "median_s": {k: round(v, 2) for k, v in medians.items()},
            "full_over_windows": round(medians["full"] / medians["windows"], 2),
            "same_masks": bool(
                len(found["windows"]) == len(found["full"])
                and np.array_equal(found["windows"].mask_offsets, found["full"].mask_offsets)
                and all(np.array_equal(a, b) for a, b in zip(
                    found["windows"].mask_crops, found["full"].mask_crops, strict=True)))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
