#!/usr/bin/env bash
# Reproduce the shipped segmenter (src/galseg/models/weights/segmenter_default.pt).
# Five stages (docs/models.md), about 120 + 57 + 50 minutes on a 2-core CPU; uses CUDA
# when present: train on clean simulations, fine-tune on degraded ones, average the two;
# fine-tune that average with weak real labels (Galaxy Zoo 1 spirals and ellipticals),
# average again.
#   bash scripts/train_default_segmenter.sh [WORK_DIR]
# The weak-label stage needs the Galaxy Zoo 1 SDSS folder (labels.csv, images/), by
# default ../shared/data/gz1_sdss; set GZ1=DIR elsewhere.
set -euo pipefail
WORK=${1:-runs}
GALSEG=${GALSEG:-.venv/bin/galseg}
GZ1=${GZ1:-../shared/data/gz1_sdss}
# 6,000 simulated galaxies for training (70/10/20 split by name), 600 unseen for evaluation
$GALSEG simulate "$WORK/sim_train" --n 6000 --size 128 --seed 1000 --quiet
$GALSEG simulate "$WORK/sim_eval" --n 600 --size 128 --seed 2000 --quiet
# The shipped run stopped at its 65-minute limit; --epochs EPOCHS (from the card's
# training.epochs_run) without --max-minutes replays the same epochs on any machine.
EPOCHS=${EPOCHS:-51}
$GALSEG train segmenter --data "$WORK/sim_train" --out "$WORK/segmenter/segmenter_default.pt" \
    --epochs "$EPOCHS" --patience 6 ${MAX_MINUTES:+--max-minutes "$MAX_MINUTES"} --workers 2
# Fine-tune on survey-like degraded images (blur, colour tilt, stretch, noise on half of
# them; cosine learning-rate decay over 14 epochs), then average the weights of the two
# models half and half (WiSE-FT): robust on real images, as accurate on simulations.
$GALSEG train segmenter --data "$WORK/sim_train" --out "$WORK/segmenter/segmenter_degraded.pt" \
    --init-from "$WORK/segmenter/segmenter_default.pt" --lr 3e-4 --lr-schedule cosine \
    --epochs 14 --patience 14 --degrade 0.5 --workers 2
.venv/bin/python scripts/average_segmenters.py "$WORK/segmenter/segmenter_default.pt" \
    "$WORK/segmenter/segmenter_degraded.pt" "$WORK/segmenter/segmenter_average.pt" --weight 0.5
# Real galaxies with only a class: the spirals of the Galaxy Zoo 1 train split must show
# arms somewhere, the ellipticals nothing (galseg.training.weak_labels), alongside the
# simulations (8 epochs, cosine decay); then average with its start, as above.
$GALSEG train segmenter --data "$WORK/sim_train" --out "$WORK/segmenter/segmenter_weak.pt" \
    --init-from "$WORK/segmenter/segmenter_average.pt" --lr 3e-4 --lr-schedule cosine \
    --epochs 8 --patience 8 --degrade 0.5 --weak-gz1 "$GZ1" --workers 2
.venv/bin/python scripts/average_segmenters.py "$WORK/segmenter/segmenter_average.pt" \
    "$WORK/segmenter/segmenter_weak.pt" "$WORK/segmenter/segmenter_weak_average.pt" --weight 0.5
$GALSEG evaluate segmenter --data "$WORK/sim_eval" \
    --model "$WORK/segmenter/segmenter_weak_average.pt" --out "$WORK/eval"
.venv/bin/python scripts/ship_segmenter.py "$WORK/segmenter/segmenter_weak_average.pt" "$WORK/eval"
