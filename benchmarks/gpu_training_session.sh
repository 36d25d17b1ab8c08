#!/usr/bin/env bash
# One GPU training session in one command, with the real Galaxy Zoo 1 training cutouts
# carried as a compact copy: the models whose remaining gaps need more training than
# the 2-core CPU gives (docs/benchmarks.md, "Preparing a GPU session").
#
#   python scripts/compact_gz1.py runs/gz1/train .gpu_carry/gz1_train     # here, 28 s
#   OUT=runs/gpu2 STEPS="detector" \
#       bash benchmarks/gpu_training_session.sh [BUDGET_S] [GZ1_COMPACT]
#
# BUDGET_S (default 500) is the wall time the whole script may take. GZ1_COMPACT is the
# copy made by scripts/compact_gz1.py (default .gpu_carry/gz1_train). STEPS (default
# "detector"), in this order, each written to $OUT as soon as it ends (a later step may
# be cut off):
#   morphology  the detector's second look (spiral or elliptical), MORPH_INPUT px
#               (default 64, as shipped) and MORPH_WIDTHS (default "16 32 64 128", as
#               shipped), on the GZ1 copy and the 1,000 simulated training fields of the
#               CPU recipe (seed 11); five folds of at most MORPH_MINUTES (default 0.6)
#               each: $OUT/morphology.pt, its out-of-fold scores in
#               $OUT/morphology_log.txt. Not a default step any more: on one fold on
#               the CPU, 96 px, other crop contexts and twice the widths all scored
#               below the shipped recipe (docs/models.md, morphology card);
#   segmenter   the paper-size U-Net through the shipped recipe's stages (clean,
#               degraded fine-tune, average, weak GZ1 labels, average) in SEG_MINUTES
#               (default 4) on the 6,000 simulated galaxies of seed 1000:
#               $OUT/seg_paper_weak_average.pt and each stage's model;
#   detector    the shipped detector fine-tuned with the data and augmentation of its
#               last CPU stages (learning rate 2e-4, batch 8) for the time left, WORKERS
#               threads preparing the crops: $OUT/detector.pt.
# Nothing is scored here: the held-back GZ1 test split and the unseen simulations stay
# on the CPU machine, where `galseg evaluate detector --data runs/gz1/test --data
# runs/det_test --model $OUT/detector.pt --morphology $OUT/morphology.pt` and `galseg
# evaluate segmenter` score them against the shipped models (docs/models.md).
set -uo pipefail
BUDGET=${1:-500}
GZ1=${2:-.gpu_carry/gz1_train}
OUT=${OUT:-runs/gpu2}
WORK=${WORK:-runs/gpu2_work}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-"detector"}
N_FIELDS=${N_FIELDS:-1000}
N_GALAXIES=${N_GALAXIES:-6000}
MORPH_INPUT=${MORPH_INPUT:-64}
MORPH_WIDTHS=${MORPH_WIDTHS:-"16 32 64 128"}
MORPH_MINUTES=${MORPH_MINUTES:-0.6}
SEG_MINUTES=${SEG_MINUTES:-4}
WORKERS=${WORKERS:-$(( $(nproc) - 2 > 1 ? $(nproc) - 2 : 1 ))}
DET_BATCH=${DET_BATCH:-8}
source "$(dirname "$0")/gpu_common.sh"
[ -f "$GZ1/examples.csv" ] || { stamp "no compact GZ1 copy at $GZ1"; exit 2; }
step() { [[ " $STEPS " == *" $1 "* ]]; }

if step morphology || step detector; then
    stamp "simulate $N_FIELDS training fields"
    galseg simulate "$WORK/det_train" --n "$N_FIELDS" --detection-fields --seed 11 --quiet \
        || stamp "simulate FAILED"
fi

if step morphology; then
    stamp "second look, $MORPH_INPUT px input, widths $MORPH_WIDTHS, at most $MORPH_MINUTES min a fold"
    # shellcheck disable=SC2086  # MORPH_WIDTHS is four words
    galseg train morphology --data "$GZ1" "$WORK/det_train" --input-size "$MORPH_INPUT" \
        --widths $MORPH_WIDTHS \
        --epochs 40 --max-minutes "$MORPH_MINUTES" --device "$DEVICE" --quiet \
        --out "$WORK/morphology.pt" > "$OUT/morphology_log.txt" 2>&1 \
        || stamp "morphology FAILED"
    tail -n 4 "$OUT/morphology_log.txt"
    cp "$WORK/morphology.pt" "$OUT/" 2>/dev/null
fi

if step segmenter; then
    ends=$((SECONDS + ${SEG_MINUTES%.*} * 60))
    stamp "simulate $N_GALAXIES galaxies"
    galseg simulate "$WORK/sim_train" --n "$N_GALAXIES" --seed 1000 --quiet \
        || stamp "simulate FAILED"
    PAPER=(--widths 32 64 128 256 --blocks 2 --middle-blocks 2 --dropout 0 0.1 0.25 0.13)
    seg() { galseg train segmenter --data "$WORK/sim_train" "${PAPER[@]}" --workers 16 \
                --device "$DEVICE" --quiet "$@"; }
    # Shares of the time as on the CPU (about 120 : 57 : 48 minutes).
    clean_minutes=$("$PY" -c "print(round(max(0.3, ($ends - $SECONDS) * 0.5 / 60), 2))")
    stamp "segmenter clean, $clean_minutes min"
    seg --out "$WORK/seg_paper_clean.pt" --epochs 200 --patience 8 \
        --max-minutes "$clean_minutes" || stamp "clean FAILED"
    epochs=$(epochs_that_fit "$WORK/seg_paper_clean.pt.run/metrics.csv" \
             $(( (ends - SECONDS) * 55 / 100 )))
    stamp "segmenter degraded fine-tune, $epochs epochs"
    seg --out "$WORK/seg_paper_degraded.pt" --init-from "$WORK/seg_paper_clean.pt" \
        --lr 3e-4 --lr-schedule cosine --epochs "$epochs" --patience "$epochs" --degrade 0.5 \
        || stamp "degraded FAILED"
    "$PY" scripts/average_segmenters.py "$WORK/seg_paper_clean.pt" \
        "$WORK/seg_paper_degraded.pt" "$WORK/seg_paper_average.pt" --weight 0.5
    # The weak stage's epochs cost about 1.5 times a plain one (16 real galaxies join
    # each batch of 32).
    epochs=$(epochs_that_fit "$WORK/seg_paper_degraded.pt.run/metrics.csv" \
             $(( (ends - SECONDS) * 2 / 3 )))
    stamp "segmenter weak GZ1 labels, $epochs epochs"
    seg --out "$WORK/seg_paper_weak.pt" --init-from "$WORK/seg_paper_average.pt" \
        --lr 3e-4 --lr-schedule cosine --epochs "$epochs" --patience "$epochs" --degrade 0.5 \
        --weak-gz1 "$GZ1" || stamp "weak FAILED"
    "$PY" scripts/average_segmenters.py "$WORK/seg_paper_average.pt" \
        "$WORK/seg_paper_weak.pt" "$WORK/seg_paper_weak_average.pt" --weight 0.5
    cp "$WORK"/seg_paper_*.pt "$OUT/" 2>/dev/null
fi

if step detector; then
    # What is left, less a margin for its last epoch (--max-minutes is checked between
    # epochs) and the copying.
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
