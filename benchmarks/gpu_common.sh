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
