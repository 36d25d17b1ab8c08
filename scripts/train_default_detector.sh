#!/usr/bin/env bash
# Reproduce the shipped galaxy detector (src/galseg/models/weights/detector_default.pt).
# About an hour on a 2-core CPU (docs/models.md); uses CUDA when present.
#   bash scripts/train_default_detector.sh [GZ1_DIR] [WORK_DIR]
set -euo pipefail
GZ1=${1:-../shared/data/gz1_sdss}
WORK=${2:-runs}
GALSEG=${GALSEG:-.venv/bin/galseg}
# Real: GZ1 SDSS cutouts with the paper's Otsu masks, split 80/20 by objID hash
$GALSEG gz1-masks "$GZ1" --out "$WORK/gz1" --quiet
# Simulated: 1,000 SDSS-like training fields and 200 unseen test fields
$GALSEG simulate "$WORK/det_train" --n 1000 --detection-fields --seed 11 --quiet
$GALSEG simulate "$WORK/det_test" --n 200 --detection-fields --seed 12 --quiet
# The shipped run was capped at MAX_MINUTES of training on 2 CPU cores; the card's
# training.epochs_run says where it stopped.
$GALSEG train detector --data "$WORK/gz1/train" "$WORK/det_train" \
    --out "$WORK/detector/detector_default.pt" --max-minutes "${MAX_MINUTES:-35}" --quiet
$GALSEG evaluate detector --data "$WORK/gz1/test" --data "$WORK/det_test" --noise-limit 200 \
    --model "$WORK/detector/detector_default.pt" --out "$WORK/detector_eval" --quiet
.venv/bin/python scripts/ship_detector.py "$WORK/detector/detector_default.pt" \
    "$WORK/detector_eval"
