# Shared start of the GPU session scripts (benchmarks/gpu_*session.sh), sourced after
# they set BUDGET, OUT, WORK, PY: shell helpers, and the machine's facts in
# $WORK/nvidia-smi.txt and on stdout.
mkdir -p "$OUT" "$WORK"
galseg() { "$PY" -m galseg "$@"; }
left() { echo $((BUDGET - SECONDS)); }
stamp() { echo "[$(date -u +%T) +${SECONDS}s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
    > "$WORK/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$WORK/nvidia-smi.txt"
cat "$WORK/nvidia-smi.txt"
"$PY" -c "import torch, os; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name() if torch.cuda.is_available() else '', 'cores', os.cpu_count())"

# epochs_that_fit METRICS_CSV SECONDS: how many epochs of the run that wrote METRICS_CSV
# (its median seconds an epoch, plus 10%) fit in SECONDS; at least 1, and 3 when the
# file cannot be read.
epochs_that_fit() {
    "$PY" - "$1" "$2" <<'PYEOF' || echo 3
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
per_epoch = sorted(float(r["seconds"]) for r in rows)[len(rows) // 2]
print(max(1, int(float(sys.argv[2]) / (per_epoch * 1.1))))
PYEOF
}
