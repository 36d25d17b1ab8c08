#!/usr/bin/env bash
# Reproduce the shipped shred classifier (src/galseg/models/weights/shreds_default.pt).
# About 55 minutes on a 2-core CPU (docs/models.md); uses CUDA when present.
#   bash scripts/train_default_shreds.sh [WORK_DIR]
set -euo pipefail
WORK=${1:-runs}
GALSEG=${GALSEG:-.venv/bin/galseg}
# 1,500 simulated fields (~19,000 catalog detections) for 5-fold training; 300 unseen
# fields (~3,600 detections, with the field images) for evaluation
$GALSEG simulate "$WORK/shreds_train" --n 1500 --shred-fields --seed 100 --quiet
$GALSEG simulate "$WORK/shreds_test" --n 300 --shred-fields --seed 200 --bands --quiet
# The shipped run capped each fold at 9 minutes of training on 2 CPU cores; the card's
# training.folds[k].epochs_run says where each fold stopped.
$GALSEG train shreds --data "$WORK/shreds_train" --out "$WORK/shreds/shreds_default.pt" \
    --epochs 30 --patience 5 --max-minutes "${MAX_MINUTES:-9}" --quiet
$GALSEG evaluate shreds --data "$WORK/shreds_test" --model "$WORK/shreds/shreds_default.pt" \
    --out "$WORK/shreds_eval"
.venv/bin/python scripts/ship_shreds.py "$WORK/shreds/shreds_default.pt" "$WORK/shreds_eval"
