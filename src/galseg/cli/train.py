"""``galseg train segmenter``: train the spiral/bar U-Net (thin layer over
:func:`galseg.training.segmenter.train_segmenter`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from galseg.models.unet import UNetConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg train`` and its model subcommands."""
    parser = subparsers.add_parser("train", help="train a model",
                                   description="Train a galseg model.")
    models = parser.add_subparsers(dest="model", metavar="MODEL")
    seg = models.add_parser(
        "segmenter",
        help="the spiral-arm/bar U-Net, from GZ3D files",
        description=(
            "Train the spiral-arm/bar U-Net on the volunteers' vote fractions of GZ3D files "
            "(real, or made by `galseg simulate`). Masked L1 loss, flips and right-angle "
            "rotations, fixed 70/10/20 split by galaxy name, AdamW, early stopping on the "
            "validation loss. Checkpoints, the metrics log (metrics.csv) and a cache of the "
            "examples go to the run folder (default MODEL.run/); running the same command "
            "again resumes. Uses CUDA with mixed precision when available."
        ),
    )
    seg.add_argument("--data", required=True, type=Path, metavar="DIR",
                     help="folder of GZ3D files, or a simulated data set (uses DIR/gz3d)")
    seg.add_argument("--out", required=True, type=Path, metavar="MODEL",
                     help="output model file (.pt)")
    seg.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                     help="checkpoints and logs (default MODEL.run/)")
    seg.add_argument("--widths", type=int, nargs="+", default=list(UNetConfig.widths),
                     metavar="C", help="channels per level (default %(default)s)")
    seg.add_argument("--blocks", type=int, default=UNetConfig.blocks_per_level,
                     help="residual blocks per level (default %(default)s)")
    seg.add_argument("--middle-blocks", type=int, default=UNetConfig.middle_blocks,
                     help="residual blocks at the bottom (default %(default)s)")
    seg.add_argument("--dropout", type=float, nargs="+", default=None, metavar="P",
                     help="dropout per level (default 0 then 0.1)")
    seg.add_argument("--frame-size", type=int, default=128,
                     help="side of the square training frame in pixels (default 128)")
    seg.add_argument("--batch-size", type=int, default=32)
    seg.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    seg.add_argument("--weight-decay", type=float, default=0.075)
    seg.add_argument("--epochs", type=int, default=60, help="maximum epochs")
    seg.add_argument("--patience", type=int, default=6, help="early-stopping patience")
    seg.add_argument("--max-minutes", type=float, default=None,
                     help="stop after this much training time (checked between epochs)")
    seg.add_argument("--seed", type=int, default=0)
    seg.add_argument("--workers", type=int, default=1, help="processes reading GZ3D files")
    seg.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    seg.add_argument("--quiet", action="store_true", help="no progress bars")
    seg.set_defaults(func=_train_segmenter)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser


def _train_segmenter(args: argparse.Namespace) -> int:
    from galseg.training.segmenter import TrainConfig, train_segmenter

    depth = len(args.widths)
    dropout = args.dropout if args.dropout is not None else [0.0] + [0.1] * (depth - 1)
    model = UNetConfig(widths=tuple(args.widths), blocks_per_level=args.blocks,
                       middle_blocks=args.middle_blocks, dropout=tuple(dropout))
    config = TrainConfig(model=model, frame_size=args.frame_size, batch_size=args.batch_size,
                         learning_rate=args.lr, weight_decay=args.weight_decay,
                         max_epochs=args.epochs, patience=args.patience,
                         max_minutes=args.max_minutes, seed=args.seed)
    train_segmenter(args.data, args.out, config, run_dir=args.run_dir, workers=args.workers,
                    device=args.device, progress=not args.quiet)
    return 0
