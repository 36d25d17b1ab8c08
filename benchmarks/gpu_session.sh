#!/usr/bin/env bash
# One GPU session in one command: GPU speed figures for `galseg segment` and
# `galseg detect`, and a larger segmenter (the paper's U-Net size) trained on the GPU.
#
#   OUT=runs/gpu bash benchmarks/gpu_session.sh [BUDGET_S] [GZ1_EXAMPLES]
#
# BUDGET_S (default 500) is the wall time the whole script may take: training gets
# what the data, the benchmarks and the writing leave. GZ1_EXAMPLES is a folder made by
# `galseg gz1-masks` (default runs/gz1/test) for the detector's cutout rate.
# Writes to $OUT: log.txt is the caller's; segment_speed.txt, detector_speed.json,
# seg_paper_clean.pt, seg_paper_degraded.pt (model files of `galseg train segmenter`),
# runs.tar (each run's metrics.csv and config.json, nvidia-smi). docs/benchmarks.md
# and docs/models.md say what one such session measured.
set -uo pipefail
BUDGET=${1:-500}
GZ1_EXAMPLES=${2:-runs/gz1/test}
OUT=${OUT:-runs/gpu}
WORK=${WORK:-runs/gpu_work}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-150}
source "$(dirname "$0")/gpu_common.sh"

# The simulated galaxies of the CPU recipe (scripts/train_default_segmenter.sh): same
# seeds, so the same 6,000 galaxies and the same 70/10/20 split.
stamp "simulate"
galseg simulate "$WORK/sim_train" --n "${N_TRAIN:-6000}" --seed 1000 --quiet \
    || stamp "simulate FAILED"

stamp "segment speed"
timeout "$BENCH_TIMEOUT" "$PY" benchmarks/segment_speed.py --device "$DEVICE" --n 256 --repeats 3 \
    > "$OUT/segment_speed.txt" 2>&1 || stamp "segment_speed FAILED"
cat "$OUT/segment_speed.txt"
stamp "detector speed"
timeout "$BENCH_TIMEOUT" "$PY" benchmarks/detector_speed.py --device "$DEVICE" --cutouts "$GZ1_EXAMPLES" \
    --n 64 --repeats 3 > "$OUT/detector_speed.json" 2>&1 || stamp "detector_speed FAILED"
cat "$OUT/detector_speed.json"

# The default architecture for two epochs: the GPU's time per epoch of the shipped
# recipe's stage 1 (and the example cache, reused by the runs below).
stamp "default architecture, 2 epochs"
galseg train segmenter --data "$WORK/sim_train" --out "$WORK/seg_default_gpu.pt" \
    --epochs 2 --patience 2 --workers 16 --device "$DEVICE" --quiet || stamp "default FAILED"
for run in seg_paper_clean seg_paper_degraded; do
    mkdir -p "$WORK/$run.pt.run"
    cp -n "$WORK/seg_default_gpu.pt.run/examples.npz" "$WORK/$run.pt.run/" 2>/dev/null
done

# Stage 1: the paper's U-Net size (widths 32-256, two residual blocks per level, 7.5 M
# parameters) on the clean simulations, plateau schedule, two thirds of the time left.
PAPER=(--widths 32 64 128 256 --blocks 2 --middle-blocks 2 --dropout 0 0.1 0.25 0.13)
clean_minutes=$("$PY" -c "print(round(max(0.5, ($(left) - 60) * 2 / 3 / 60 - 0.3), 2))")
stamp "paper-size clean, $clean_minutes min"
galseg train segmenter --data "$WORK/sim_train" --out "$WORK/seg_paper_clean.pt" \
    "${PAPER[@]}" --epochs 200 --patience 8 --max-minutes "$clean_minutes" --workers 16 \
    --device "$DEVICE" --quiet || stamp "paper clean FAILED"
cp "$WORK/seg_paper_clean.pt" "$OUT/" 2>/dev/null  # at once: a later step may be cut off

# Stage 2: fine-tuned on half-degraded images from stage 1, cosine decay over as many
# epochs as fit in the time left (from stage 1's seconds per epoch).
epochs=$(epochs_that_fit "$WORK/seg_paper_clean.pt.run/metrics.csv" $(( $(left) - 45 )))
stamp "paper-size degraded fine-tune, $epochs epochs"
galseg train segmenter --data "$WORK/sim_train" --out "$WORK/seg_paper_degraded.pt" \
    "${PAPER[@]}" --init-from "$WORK/seg_paper_clean.pt" --lr 3e-4 --lr-schedule cosine \
    --epochs "$epochs" --patience "$epochs" --degrade 0.5 --workers 16 --device "$DEVICE" --quiet \
    || stamp "paper degraded FAILED"
cp "$WORK/seg_paper_degraded.pt" "$OUT/" 2>/dev/null
tar -cf "$OUT/runs.tar" -C "$WORK" nvidia-smi.txt \
    $(cd "$WORK" && ls -d ./*.run/metrics.csv ./*.run/config.json 2>/dev/null)
stamp "done"
