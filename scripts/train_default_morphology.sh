#!/usr/bin/env bash
# Reproduce the shipped morphology classifier (src/galseg/models/weights/morphology_default.pt):
# the detector's second look at each galaxy, spiral or elliptical.
# About 20 minutes on a 2-core CPU (docs/models.md); uses CUDA when present.
#   bash scripts/train_default_morphology.sh [GZ1_DIR] [WORK_DIR]
set -euo pipefail
GZ1=${1:-../shared/data/gz1_sdss}
WORK=${2:-runs}
GALSEG=${GALSEG:-.venv/bin/galseg}
# The detector's training folders (same commands and seeds as train_default_detector.sh)
[ -f "$WORK/gz1/train/objects.csv" ] || $GALSEG gz1-masks "$GZ1" --out "$WORK/gz1" --quiet
[ -f "$WORK/det_train/objects.csv" ] || \
    $GALSEG simulate "$WORK/det_train" --n 1000 --detection-fields --seed 11 --quiet
[ -f "$WORK/det_test14/objects.csv" ] || \
    $GALSEG simulate "$WORK/det_test14" --n 200 --detection-fields --seed 14 --quiet
# Five folds by image, 64 px crops at 2.5x the box, Gaussian noise up to 80 counts
$GALSEG train morphology --data "$WORK/gz1/train" "$WORK/det_train" \
    --out "$WORK/morphology/morphology_default.pt" --epochs 40 --quiet
# The cut for equal class priors, chosen on out-of-fold GZ1 train predictions, moved to
# p_spiral = 0.5 in the Platt calibration (benchmarks/spiral_cut.py)
ABS=$(realpath "$WORK")
(cd benchmarks && ../.venv/bin/python spiral_cut.py --train "$ABS/gz1/train" \
    --model "$ABS/morphology/morphology_default.pt" \
    --write-model "$ABS/morphology/morphology_balanced.pt")
# Scored with the shipped detector on the held-back GZ1 cutouts and simulated test fields
$GALSEG evaluate detector --data "$WORK/gz1/test" --data "$WORK/det_test14" --noise-limit 200 \
    --no-baseline --morphology "$WORK/morphology/morphology_balanced.pt" \
    --out "$WORK/morphology_eval" --quiet
.venv/bin/python scripts/ship_morphology.py "$WORK/morphology/morphology_balanced.pt" \
    "$WORK/morphology_eval"
