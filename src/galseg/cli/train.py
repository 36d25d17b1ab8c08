"""``galseg train segmenter|shreds|detector|morphology``: train the spiral/bar U-Net, the
shred classifier, the galaxy detector or its spiral/elliptical classifier (thin layers
over :func:`galseg.training.segmenter.train_segmenter`,
:func:`galseg.training.shreds.train_shred_classifier`,
:func:`galseg.training.detector.train_detector` and
:func:`galseg.training.morphology.train_morphology_classifier`)."""

from __future__ import annotations

import argparse
from pathlib import Path

# Torch-free modules only: `galseg train --help` must not import torch (seconds).
from galseg.models.configs import (
    ARCHITECTURES,
    BACKBONES,
    INPUT_NORMALISATIONS,
    PAPER_DETECTOR_CONFIG,
    CutoutNetConfig,
    DetectorConfig,
    UNetConfig,
)
from galseg.models.metadata import MorphologyMetadata
from galseg.training.configs import (
    DEFAULT_MORPHOLOGY_CONFIG,
    DetectorTrainConfig,
    EnsembleTrainConfig,
    TrainConfig,
)


def _add_run_options(parser: argparse.ArgumentParser, *, batch_size: int, lr: float,
                     weight_decay: float, epochs: int, patience: int, time_note: str) -> None:
    """Options every training command has (output, run folder, optimiser, stopping)."""
    parser.add_argument("--out", required=True, type=Path, metavar="MODEL",
                        help="output model file (.pt)")
    parser.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                        help="checkpoints and logs (default MODEL.run/)")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help="default %(default)s")
    parser.add_argument("--lr", type=float, default=lr,
                        help="AdamW learning rate (default %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=weight_decay,
                        help="default %(default)s")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help="maximum epochs (default %(default)s)")
    parser.add_argument("--patience", type=int, default=patience,
                        help="early-stopping patience in epochs (default %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help=f"stop after this much training time{time_note} (checked between "
                             "epochs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_init_from(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--init-from", type=Path, default=None, metavar="MODEL",
                        help=f"start from this {what}'s weights (same architecture), e.g. to "
                             "fine-tune with other augmentation")


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
    seg.add_argument("--widths", type=int, nargs="+", default=list(UNetConfig.widths),
                     metavar="C", help="channels per level (default %(default)s)")
    seg.add_argument("--blocks", type=int, default=UNetConfig.blocks_per_level,
                     help="residual blocks per level (default %(default)s)")
    seg.add_argument("--middle-blocks", type=int, default=UNetConfig.middle_blocks,
                     help="residual blocks at the bottom (default %(default)s)")
    seg.add_argument("--dropout", type=float, nargs="+", default=None, metavar="P",
                     help="dropout per level (default 0 then 0.1)")
    seg.add_argument("--frame-size", type=int, default=TrainConfig.frame_size,
                     help="side of the square training frame in pixels (default %(default)s)")
    seg.add_argument("--workers", type=int, default=1, help="processes reading GZ3D files")
    seg.add_argument("--degrade", type=float, default=0.0, metavar="P",
                     help="blur, re-colour, re-stretch or add noise to this fraction of the "
                          "training images, like other surveys (default 0)")
    seg.add_argument("--lr-schedule", choices=("plateau", "cosine"), default="plateau",
                     help="'plateau': cut the rate x0.3 after 2 epochs without progress "
                          "(default); 'cosine': decay it to zero over --epochs")
    seg.add_argument("--weak-gz1", type=Path, default=None, metavar="DIR",
                     help="Galaxy Zoo 1 SDSS folder (labels.csv, images/): its train-split "
                          "spirals must show arms somewhere and its ellipticals nothing "
                          "(an image-level loss added to the masked L1; docs/models.md)")
    seg.add_argument("--weak-weight", type=float, default=TrainConfig.weak_weight, metavar="W",
                     help="weight of that loss (default %(default)s)")
    seg.add_argument("--weak-edge-on", action="store_true",
                     help="with --weak-gz1, also its edge-on discs: no arms visible in the "
                          "spiral map, the bar channel left free")
    seg.add_argument("--eye-bars", type=Path, default=None, metavar="DATA",
                     help="shared data folder (gz1_sdss/, legacy_cutouts/) holding the "
                          "pictures of galseg's bar labels by eye: their train split "
                          "teaches the bar channel a bar along each drawn bar and none in "
                          "unbarred discs (docs/bar_labels.md)")
    seg.add_argument("--eye-bar-labels", type=Path, default=None, metavar="CSV",
                     help="bar label table (default: eye_labels/bar_labels.csv of a galseg "
                          "source checkout)")
    seg.add_argument("--stellarium", type=Path, default=None, metavar="DIR",
                     help="the unpacked stellarium-data package (scripts/get_stellarium.sh) "
                          "for the labels on its textures; without it they are skipped")
    seg.add_argument("--eye-bar-weight", type=float, default=TrainConfig.eye_bar_weight,
                     metavar="W", help="weight of the eye-bar loss (default %(default)s)")
    seg.add_argument("--input-normalisation", choices=INPUT_NORMALISATIONS, default="none",
                     help="'quantile_match': the network first maps each picture's values "
                          "to the training pictures' quantiles at their ranks, so any "
                          "monotonic re-stretch gives the same maps (set from the train "
                          "split; may start from a model without it); default 'none'")
    _add_init_from(seg, "segmenter")
    _add_run_options(seg, batch_size=TrainConfig.batch_size, lr=TrainConfig.learning_rate,
                     weight_decay=TrainConfig.weight_decay, epochs=TrainConfig.max_epochs,
                     patience=TrainConfig.patience, time_note="")
    seg.set_defaults(func=_train_segmenter)

    shreds = models.add_parser(
        "shreds",
        help="the shred classifier, from a simulated shred catalog",
        description=(
            "Train the shred classifier (Di Teodoro et al. 2023) with k-fold "
            "cross-validation on a shred catalog: DIR/catalog.csv (id, field, true_is_shred) and "
            "DIR/cutouts/<id>_grz.png, as written by `galseg simulate --shred-fields`. Folds "
            "are by field; each fold's network stops early on its held-out fold; the k "
            "networks are shipped together and calibrated (Platt scaling) on their "
            "out-of-fold predictions. With --real-labels, the eye-labelled real cutouts of the "
            "label file's train split join the simulated ones (folds by sky group) and its "
            "calibration split calibrates p_shred for real catalogs (the default calibration "
            "of the model then; the simulated one is kept). --init-from fine-tunes a trained "
            "model's members. Running the same command again resumes. Uses CUDA with "
            "mixed precision when available."
        ),
    )
    shreds.add_argument("--data", required=True, type=Path, metavar="DIR",
                        help="shred catalog folder (catalog.csv and cutouts/)")
    shreds.add_argument("--architecture", choices=ARCHITECTURES, default="lean",
                        help="'lean' (default, fast on CPU) or 'paper' (Di Teodoro et al., "
                             "10.6 M parameters)")
    shreds.add_argument("--widths", type=int, nargs=4, default=list(CutoutNetConfig.widths),
                        metavar="C", help="lean stage widths (default %(default)s)")
    shreds.add_argument("--folds", type=int, default=EnsembleTrainConfig.n_folds,
                        help="cross-validation folds = ensemble members (default %(default)s)")
    shreds.add_argument("--real-labels", type=Path, default=None, metavar="CSV",
                        help="eye labels of real cutouts (e.g. eye_labels/legacy_shreds.csv: "
                             "objID, ra, dec, label, split); needs --real-images")
    shreds.add_argument("--real-images", type=Path, default=None, metavar="DIR",
                        help="folder of the labelled cutouts, <objID>_grz.png")
    shreds.add_argument("--real-repeat", type=int, default=1, metavar="N",
                        help="copies of each real train cutout per epoch (default 1)")
    shreds.add_argument("--init-from", type=Path, default=None, metavar="MODEL",
                        help="start each fold from this shred model's member (fine-tuning; "
                             "same number of folds)")
    _add_run_options(shreds, batch_size=EnsembleTrainConfig.batch_size,
                     lr=EnsembleTrainConfig.learning_rate,
                     weight_decay=EnsembleTrainConfig.weight_decay,
                     epochs=EnsembleTrainConfig.max_epochs, patience=EnsembleTrainConfig.patience,
                     time_note=" per fold")
    shreds.set_defaults(func=_train_shreds)

    det = models.add_parser(
        "detector",
        help="the Mask R-CNN galaxy detector, from detection example folders",
        description=(
            "Train the galaxy detector (torchvision Mask R-CNN, classes spiral, elliptical, "
            "star; Farias et al. 2020) from scratch on detection example folders: real SDSS "
            "cutouts with Galaxy Zoo 1 classes (`galseg gz1-masks`) and simulated fields "
            "(`galseg simulate --detection-fields`). Random crops, flips, right-angle "
            "rotations, additive per-pixel noise; AdamW; early stopping on a validation "
            "share of each folder. Running the same command again resumes. Uses CUDA with "
            "mixed precision when available."),
    )
    det.add_argument("--data", required=True, type=Path, nargs="+", metavar="DIR",
                     help="detection example folders (examples.csv, objects.csv, masks/)")
    det.add_argument("--backbone", choices=BACKBONES, default="lean",
                     help="'lean' (default, trains on a CPU) or the paper's ResNet-50/101 FPN")
    det.add_argument("--crop-size", type=int, default=DetectorTrainConfig.crop_size,
                     help="side of the square training crops in pixels (default %(default)s)")
    det.add_argument("--noise-sigma", type=float, default=DetectorTrainConfig.noise_sigma,
                     metavar="COUNTS",
                     help="also add Gaussian per-pixel noise of a standard deviation drawn "
                          "in [0, COUNTS] (8-bit counts) to the noisy half of the crops "
                          "(default 0: only the paper's uniform +-25)")
    _add_init_from(det, "detector")
    det.add_argument("--balance-classes", action="store_true",
                     help="repeat the single-galaxy cutouts (GZ1) of the rarer classes in "
                          "each epoch until all classes are as common as the most common")
    _add_run_options(det, batch_size=DetectorTrainConfig.batch_size,
                     lr=DetectorTrainConfig.learning_rate,
                     weight_decay=DetectorTrainConfig.weight_decay,
                     epochs=DetectorTrainConfig.max_epochs, patience=DetectorTrainConfig.patience,
                     time_note="")
    det.add_argument("--workers", type=int, default=1,
                     help="threads preparing the training crops (default 1; on a GPU, "
                          "several keep it busy; the result does not depend on it)")
    det.set_defaults(func=_train_detector)

    morph_default = DEFAULT_MORPHOLOGY_CONFIG
    morph = models.add_parser(
        "morphology",
        help="the detector's spiral/elliptical classifier, from detection example folders",
        description=(
            "Train the classifier that takes a second, closer look at every galaxy the "
            "detector finds and tells spiral from elliptical (galseg.predict.morphology). "
            "Each spiral or elliptical object of the detection example folders (GZ1 cutouts "
            "from `galseg gz1-masks`, simulated fields) gives one crop around its true box "
            "(CONTEXT times the box's longest side, at least MIN px), as the detector cuts "
            "around its own boxes. k-fold ensemble by image, early stopping on each held-out "
            "fold, flips, rotations, grey images and Gaussian noise, Platt calibration on "
            "the out-of-fold predictions. Running the same command again resumes."),
    )
    morph.add_argument("--data", required=True, type=Path, nargs="+", metavar="DIR",
                       help="detection example folders (examples.csv, objects.csv, masks/)")
    morph.add_argument("--input-size", type=int, default=morph_default.model.input_size,
                       metavar="PX", help="side of the network's input (default %(default)s)")
    morph.add_argument("--widths", type=int, nargs=4, default=list(morph_default.model.widths),
                       metavar="C", help="stage widths (default %(default)s)")
    morph.add_argument("--dropout", type=float, default=morph_default.model.dropout,
                       help="default %(default)s")
    morph.add_argument("--crop-context", type=float, default=MorphologyMetadata.crop_context,
                       metavar="CONTEXT",
                       help="crop side over the box's longest side (default %(default)s)")
    morph.add_argument("--min-crop", type=float, default=MorphologyMetadata.min_crop_px,
                       metavar="MIN",
                       help="smallest crop side in pixels (default %(default)s)")
    morph.add_argument("--noise-sigma", type=float, default=morph_default.noise_sigma,
                       metavar="COUNTS",
                       help="Gaussian noise of a standard deviation drawn in [0, COUNTS] "
                            "(8-bit counts) on half the crops (default %(default)s)")
    morph.add_argument("--folds", type=int, default=morph_default.n_folds,
                       help="cross-validation folds = ensemble members (default %(default)s)")
    _add_run_options(morph, batch_size=morph_default.batch_size, lr=morph_default.learning_rate,
                     weight_decay=morph_default.weight_decay, epochs=morph_default.max_epochs,
                     patience=morph_default.patience, time_note=" per fold")
    morph.set_defaults(func=_train_morphology)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser


def _train_segmenter(args: argparse.Namespace) -> int:
    from galseg.training.segmenter import train_segmenter

    depth = len(args.widths)
    dropout = args.dropout if args.dropout is not None else [0.0] + [0.1] * (depth - 1)
    model = UNetConfig(widths=tuple(args.widths), blocks_per_level=args.blocks,
                       middle_blocks=args.middle_blocks, dropout=tuple(dropout),
                       input_normalisation=args.input_normalisation)
    try:  # inconsistent options, e.g. --weak-edge-on without --weak-gz1
        config = TrainConfig(model=model, frame_size=args.frame_size, batch_size=args.batch_size,
                             learning_rate=args.lr, weight_decay=args.weight_decay,
                             max_epochs=args.epochs, patience=args.patience,
                             max_minutes=args.max_minutes, seed=args.seed,
                             lr_schedule=args.lr_schedule, degrade_probability=args.degrade,
                             init_from=str(args.init_from) if args.init_from else None,
                             weak_data=str(args.weak_gz1) if args.weak_gz1 else None,
                             weak_weight=args.weak_weight, weak_edge_on=args.weak_edge_on,
                             eye_bar_data=str(args.eye_bars) if args.eye_bars else None,
                             eye_bar_labels=str(args.eye_bar_labels) if args.eye_bar_labels
                             else None,
                             eye_bar_stellarium=str(args.stellarium) if args.stellarium else None,
                             eye_bar_weight=args.eye_bar_weight)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    train_segmenter(args.data, args.out, config, run_dir=args.run_dir, workers=args.workers,
                    device=args.device, progress=not args.quiet)
    return 0


def _train_shreds(args: argparse.Namespace) -> int:
    from galseg.training.shreds import ShredTrainConfig, train_shred_classifier

    model = CutoutNetConfig(architecture=args.architecture, widths=tuple(args.widths))
    config = ShredTrainConfig(model=model, n_folds=args.folds, batch_size=args.batch_size,
                              learning_rate=args.lr, weight_decay=args.weight_decay,
                              max_epochs=args.epochs, patience=args.patience,
                              max_minutes=args.max_minutes, seed=args.seed,
                              init_from=str(args.init_from) if args.init_from else "")
    if (args.real_labels is None) != (args.real_images is None):
        raise SystemExit("error: --real-labels and --real-images go together")
    train_shred_classifier(args.data, args.out, config, real_labels=args.real_labels,
                           real_images=args.real_images, real_repeat=args.real_repeat,
                           run_dir=args.run_dir, device=args.device, progress=not args.quiet)
    return 0


def _train_detector(args: argparse.Namespace) -> int:
    from galseg.training.detector import train_detector

    model = DetectorConfig() if args.backbone == "lean" else DetectorConfig(
        **{**PAPER_DETECTOR_CONFIG.to_dict(), "backbone": args.backbone})
    config = DetectorTrainConfig(
        data=tuple(str(d) for d in args.data), model=model, crop_size=args.crop_size,
        batch_size=args.batch_size, learning_rate=args.lr, weight_decay=args.weight_decay,
        max_epochs=args.epochs, patience=args.patience, max_minutes=args.max_minutes,
        seed=args.seed, noise_sigma=args.noise_sigma,
        init_from=str(args.init_from) if args.init_from is not None else None,
        balance_classes=args.balance_classes, device=args.device)
    train_detector(config, args.out, run_dir=args.run_dir, workers=args.workers,
                   progress=not args.quiet)
    return 0


def _train_morphology(args: argparse.Namespace) -> int:
    from galseg.training.morphology import train_morphology_classifier

    model = CutoutNetConfig(widths=tuple(args.widths), dropout=args.dropout,
                            input_size=args.input_size)
    config = EnsembleTrainConfig(model=model, n_folds=args.folds, batch_size=args.batch_size,
                                 learning_rate=args.lr, weight_decay=args.weight_decay,
                                 max_epochs=args.epochs, patience=args.patience,
                                 max_minutes=args.max_minutes, seed=args.seed,
                                 noise_sigma=args.noise_sigma)
    train_morphology_classifier(args.data, args.out, config, crop_context=args.crop_context,
                                min_crop_px=args.min_crop, run_dir=args.run_dir,
                                device=args.device, progress=not args.quiet)
    return 0
