"""Segmenter speed: the paper's U-Net against galseg's default, and `galseg segment` end to end.

Usage::

    python benchmarks/segment_speed.py [--images DIR] [--n 256] [--repeats 5] [--device cpu]
        [--model MODEL] [--compare OTHER_MODEL] [--skip-network]

1. Network only: images/s at 128x128 for the paper's architecture (widths 32-256, two
   residual blocks per level) run the plain way (float32, NCHW, batch 1, autograd on,
   the reference code's predict loop) and for galseg's default model the galseg way
   (batch 32, channels-last, inference mode). Random weights: speed does not depend
   on them.
2. End to end: `galseg segment` (read PNG, infer, measure, write masks FITS, overlay
   PNG, catalog) on ``--n`` 128 px cutouts, in cutouts/s, with the network alone
   (``views=1``, the default) and averaged with the flipped image (``--views 2``).
   ``--images`` takes a folder of PNG/JPEG cutouts (e.g.
   ../shared/data/legacy_cutouts/images); by default simulated cutouts are written to
   a temporary folder. ``--compare`` adds another model file, one view, to the same
   interleaved runs (e.g. a candidate against the shipped weights).

Prints medians over ``--repeats`` runs and the speed-up ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from galseg.models.unet import PAPER_CONFIG, UNet, UNetConfig
from galseg.predict.run import run_segment
from galseg.predict.segment import DEFAULT_VIEWS, Segmenter


def _network_rate(model: torch.nn.Module, *, batch: int, channels_last: bool,
                  inference: bool, n: int, device: str, repeats: int, size: int = 128) -> float:
    model = model.to(device).eval()
    x = torch.rand(n, 3, size, size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    context = torch.inference_mode if inference else torch.no_grad
    rates = []
    for _ in range(repeats + 1):  # the first pass warms up
        start = time.perf_counter()
        with context():
            for i in range(0, n, batch):
                model(x[i:i + batch])
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def _write_cutouts(folder: Path, n: int) -> list[Path]:
    from galseg.sim.population import draw_scene
    from galseg.sim.scene import render_cutout

    paths = []
    for i in range(min(n, 64)):  # 64 distinct galaxies, repeated under new names
        spec = draw_scene(np.random.default_rng([5, i]), name=f"b{i}", size=128,
                          pixscale_arcsec=0.262)
        Image.fromarray(render_cutout(spec).rgb).save(folder / f"g{i:05d}.png")
        paths.append(folder / f"g{i:05d}.png")
    for i in range(len(paths), n):
        target = folder / f"g{i:05d}.png"
        shutil.copyfile(paths[i % 64], target)
        paths.append(target)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", type=Path, default=None, help="default: shipped weights")
    parser.add_argument("--compare", type=Path, default=None, metavar="OTHER_MODEL",
                        help="another model file timed end to end in the same runs")
    parser.add_argument("--skip-network", action="store_true",
                        help="only the end-to-end part")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")

    torch.manual_seed(0)
    if not args.skip_network:
        _network_part(args)
    _end_to_end_part(args)


def _network_part(args: argparse.Namespace) -> None:
    n_net = 64 if args.device == "cpu" else 1024
    paper = _network_rate(UNet(PAPER_CONFIG), batch=1, channels_last=False, inference=False,
                          n=min(n_net, 32), device=args.device, repeats=args.repeats)
    paper_batched = _network_rate(UNet(PAPER_CONFIG), batch=32, channels_last=True,
                                  inference=True, n=n_net, device=args.device,
                                  repeats=args.repeats)
    paper_224 = _network_rate(UNet(PAPER_CONFIG), batch=1, channels_last=False,
                              inference=False, n=min(n_net, 16), device=args.device,
                              repeats=args.repeats, size=224)
    lean = _network_rate(UNet(UNetConfig()), batch=32, channels_last=True, inference=True,
                         n=n_net, device=args.device, repeats=args.repeats)
    print(f"network, paper U-Net at its 224 px input, batch 1: {paper_224:5.1f} images/s")
    print(f"network, paper U-Net, batch 1, NCHW:            {paper:8.1f} images/s")
    print(f"network, paper U-Net, batch 32, channels-last:  {paper_batched:8.1f} images/s")
    print(f"network, galseg default, batch 32, channels-last: {lean:6.1f} images/s "
          f"({lean / paper:.1f}x the paper's way)")


def _end_to_end_part(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.images:
            sources = sorted(p for p in args.images.iterdir()
                             if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[: args.n]
        else:
            (tmp / "in").mkdir()
            sources = _write_cutouts(tmp / "in", args.n)
        # the network alone and with its flip (--views 2), interleaved so that both see
        # the same machine
        segmenters = {f"{v} view{'s' if v > 1 else ''}"
                      f"{' (default)' if v == DEFAULT_VIEWS else ''}":
                      Segmenter(args.model, device=args.device, batch_size=32, views=v)
                      for v in (1, 2)}
        if args.compare is not None:
            segmenters[f"{args.compare.name}, 1 view"] = Segmenter(
                args.compare, device=args.device, batch_size=32, views=1)
        names = list(segmenters)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.repeats):
            for k, name in enumerate(names):
                out = tmp / f"out{r}_{k}"
                start = time.perf_counter()
                run_segment(sources, out, segmenter=segmenters[name], redshift=0.05,
                            progress=False)
                rates[name].append(len(sources) / (time.perf_counter() - start))
        for name in names:
            e2e = statistics.median(rates[name])
            print(f"end to end (read, infer, measure, write), {len(sources)} cutouts, "
                  f"{name}: {e2e:.1f} cutouts/s (runs: "
                  f"{', '.join(f'{x:.1f}' for x in rates[name])})")
        one = statistics.median(rates[names[0]])
        print(f"2 views / 1 view: {statistics.median(rates[names[1]]) / one:.2f}")
        if args.compare is not None:
            print(f"{args.compare.name} / the model, 1 view: "
                  f"{statistics.median(rates[names[2]]) / one:.2f}")


if __name__ == "__main__":
    main()
