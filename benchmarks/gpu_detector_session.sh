#!/usr/bin/env bash
# One GPU session for the detector (issue 4) in one command: the real GZ1 training
# cutouts travel as a compact copy, and the two models that set the GZ1 scores get GPU
# time the 2-core CPU cannot give them.
#
#   python scripts/compact_gz1.py runs/gz1/train .gpu_carry/gz1_train     # here, 28 s
#   OUT=runs/gpu2 bash benchmarks/gpu_detector_session.sh [BUDGET_S] [GZ1_COMPACT]
#
# BUDGET_S (default 500) is the wall time the whole script may take. GZ1_COMPACT is the
# copy made by scripts/compact_gz1.py (default .gpu_carry/gz1_train). Steps, each
# written to $OUT as soon as it ends (a later step may be cut off):
#   1. the 1,000 simulated training fields of the CPU recipe (seed 11);
#   2. the second look (spiral or elliptical) with a larger input, MORPH_INPUT px
#      (default 128; shipped 64), five folds of at most MORPH_MINUTES each:
#      $OUT/morphology.pt and its out-of-fold scores in $OUT/morphology_log.txt;
#   3. the shipped detector fine-tuned with the same data and augmentation as its last
#      CPU stages (learning rate 2e-4, batch 8) for the time left, WORKERS threads
#      preparing the crops: $OUT/detector.pt.
# STEPS (default "morphology detector") chooses among steps 2 and 3.
# Neither model is scored here: the held-back GZ1 test split stays on the CPU machine,
# where `galseg evaluate detector --data runs/gz1/test --data runs/det_test
# --model $OUT/detector.pt --morphology $OUT/morphology.pt` scores them against the
# shipped pair (docs/models.md says what a session measured).
set -uo pipefail
BUDGET=${1:-500}
GZ1=${2:-.gpu_carry/gz1_train}
OUT=${OUT:-runs/gpu2}
WORK=${WORK:-runs/gpu2_work}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
N_FIELDS=${N_FIELDS:-1000}
MORPH_INPUT=${MORPH_INPUT:-128}
MORPH_MINUTES=${MORPH_MINUTES:-0.6}
STEPS=${STEPS:-"morphology detector"}
WORKERS=${WORKERS:-$(( $(nproc) - 2 > 1 ? $(nproc) - 2 : 1 ))}
DET_BATCH=${DET_BATCH:-8}
source "$(dirname "$0")/gpu_common.sh"
[ -f "$GZ1/examples.csv" ] || { stamp "no compact GZ1 copy at $GZ1"; exit 2; }

stamp "simulate $N_FIELDS training fields"
galseg simulate "$WORK/det_train" --n "$N_FIELDS" --detection-fields --seed 11 --quiet \
    || stamp "simulate FAILED"

if [[ " $STEPS " == *" morphology "* ]]; then
stamp "second look, $MORPH_INPUT px input, at most $MORPH_MINUTES min a fold"
galseg train morphology --data "$GZ1" "$WORK/det_train" --input-size "$MORPH_INPUT" \
    --epochs 40 --max-minutes "$MORPH_MINUTES" --device "$DEVICE" --quiet \
    --out "$WORK/morphology.pt" > "$OUT/morphology_log.txt" 2>&1 || stamp "morphology FAILED"
tail -n 4 "$OUT/morphology_log.txt"
cp "$WORK/morphology.pt" "$OUT/" 2>/dev/null
fi

# Minutes for the detector: what is left, less a margin for its last epoch (an epoch is
# not cut short; --max-minutes is checked between epochs) and the copying.
if [[ " $STEPS " == *" detector "* ]]; then
det_minutes=$("$PY" -c "print(round(max(0.5, ($(left) - 90) / 60), 2))")
stamp "detector fine-tune, $det_minutes min, $WORKERS threads"
galseg train detector --data "$GZ1" "$WORK/det_train" \
    --init-from src/galseg/models/weights/detector_default.pt --noise-sigma 80 \
    --balance-classes --lr 2e-4 --batch-size "$DET_BATCH" --epochs 100 --patience 4 \
    --max-minutes "$det_minutes" --workers "$WORKERS" --device "$DEVICE" --quiet \
    --out "$WORK/detector.pt" > "$OUT/detector_log.txt" 2>&1 || stamp "detector FAILED"
tail -n 3 "$OUT/detector_log.txt"
cp "$WORK/detector.pt" "$OUT/" 2>/dev/null
fi
tar -cf "$OUT/runs.tar" -C "$WORK" nvidia-smi.txt \
    $(cd "$WORK" && ls -d ./*.run/metrics.csv ./*.run/config.json ./*.run/*/metrics.csv \
      ./*.run/training.json 2>/dev/null)
stamp "done"
