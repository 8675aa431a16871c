#!/usr/bin/env bash
# The one prepared GPU run of issues 11 (fine-tuning) and 12 (evaluation): under 6 minutes on one H100.
#   once, here:           bash benchmarks/gpu_prepare.sh         (builds the git-ignored gpu-carry/)
#   on the GPU machine:   bash benchmarks/gpu.sh                 (run tool: carry ["gpu-carry"])
# Results (JSON rows, logs, profiler tables) go to $OUT (the run tool's folder) or ./gpu-results.
# On a machine without a GPU, LAYOUTS=tiny runs the same script on CPU as a check.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SITE=""  # the carried wheels are cp312 (the GPU machine's Python); another Python uses its own packages
if [ -d gpu-carry/site ] && $PY -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then SITE=":$PWD/gpu-carry/site"; fi
export PYTHONPATH="$PWD/src$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[ -d gpu-carry/polyglot-ko-tokenizer ] && export POLYPLATYPUS_TOKENIZER_DIR=$PWD/gpu-carry/polyglot-ko-tokenizer
[ -d gpu-carry/kobest ] && export POLYPLATYPUS_KOBEST_DIR=$PWD/gpu-carry/kobest
TRAIN_LAYOUTS=${LAYOUTS:-"1.3b 12.8b"}
EVAL_LAYOUTS=${EVAL_LAYOUTS:-${LAYOUTS:-12.8b}}

{ date -u; nvidia-smi 2>/dev/null || echo "no nvidia-smi"; $PY -c 'import torch, transformers, peft
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'; } \
    > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# fine-tuning: 9 variants x <= 18 s each, plus start-up and model building
layout_flags=$(for l in $TRAIN_LAYOUTS; do printf -- '--layout %s ' "$l"; done)
# shellcheck disable=SC2086
timeout 215 $PY benchmarks/gpu_train.py $layout_flags --budget-s ${TRAIN_BUDGET_S:-18} --out "$OUT/train" \
    2>&1 | tee "$OUT/train.log" | grep -v -e '^Loading weights' -e 'FutureWarning' -e 'warnings.warn'
echo "gpu_train.py exit status ${PIPESTATUS[0]}"

# evaluation (benchmarks/gpu_eval.py, issue 12), if this checkout has it
if [ -f benchmarks/gpu_eval.py ]; then
    for layout in $EVAL_LAYOUTS; do
        timeout 120 $PY benchmarks/gpu_eval.py --layout "$layout" --budget-s ${EVAL_BUDGET_S:-80} \
            --out "$OUT/eval-$layout" 2>&1 | tee "$OUT/eval-$layout.log"
        echo "gpu_eval.py --layout $layout exit status ${PIPESTATUS[0]}"
    done
fi
