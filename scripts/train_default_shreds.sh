#!/usr/bin/env bash
# Reproduce the shipped shred classifier (src/galseg/models/weights/shreds_default.pt).
# Stage 1 (simulations only) took about 55 minutes on an idle 2-core CPU; stage 2 (fine-
# tuning with the eye-labelled real cutouts) 1 h 11 min on the same CPU shared with
# other jobs (docs/models.md). Uses CUDA when present.
#   bash scripts/train_default_shreds.sh [WORK_DIR]
# Needs the Legacy cutouts of ../shared/data/legacy_cutouts (REAL=DIR to point elsewhere).
set -euo pipefail
WORK=${1:-runs}
GALSEG=${GALSEG:-.venv/bin/galseg}
REAL=${REAL:-../shared/data/legacy_cutouts}
# 1,500 simulated fields (~19,000 catalog detections) for 5-fold training; 300 unseen
# fields (~3,600 detections, with the field images) for evaluation
$GALSEG simulate "$WORK/shreds_train" --n 1500 --shred-fields --seed 100 --quiet
$GALSEG simulate "$WORK/shreds_test" --n 300 --shred-fields --seed 200 --bands --quiet
# Stage 1, simulations only. The shipped run capped each fold at 9 minutes of training
# on 2 CPU cores; the card's training.folds[k].epochs_run says where each fold stopped.
$GALSEG train shreds --data "$WORK/shreds_train" --out "$WORK/shreds/shreds_sim.pt" \
    --epochs 30 --patience 5 --max-minutes "${MAX_MINUTES:-9}" --quiet
# Stage 2: each stage-1 member fine-tuned on its folds of the first 600 simulated fields
# (the same items as above: item i is seeded by (seed, i)) plus the eye-labelled real
# cutouts of the train split, 8 copies each; p_shred calibrated on the real calibration
# split (eye_labels/legacy_shreds.csv; protocol in docs/shreds.md)
$GALSEG simulate "$WORK/shreds_finetune" --n 600 --shred-fields --seed 100 --quiet
$GALSEG train shreds --data "$WORK/shreds_finetune" --out "$WORK/shreds/shreds_default.pt" \
    --init-from "$WORK/shreds/shreds_sim.pt" --real-labels eye_labels/legacy_shreds.csv \
    --real-images "$REAL/images" --real-repeat 8 --lr 3e-4 --epochs 6 --patience 2 \
    --max-minutes "${FINETUNE_MAX_MINUTES:-9}" --quiet
$GALSEG evaluate shreds --data "$WORK/shreds_test" --model "$WORK/shreds/shreds_default.pt" \
    --calibration simulated --out "$WORK/shreds_eval"
$GALSEG evaluate shreds --real-labels eye_labels/legacy_shreds.csv --real-images "$REAL/images" \
    --split test --model "$WORK/shreds/shreds_default.pt" --out "$WORK/shreds_eval_real"
.venv/bin/python scripts/ship_shreds.py "$WORK/shreds/shreds_default.pt" "$WORK/shreds_eval" \
    --real-eval "$WORK/shreds_eval_real"
