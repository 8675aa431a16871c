#!/usr/bin/env bash
# Fine-tuning (benchmarks/gpu_train.py) and evaluation (benchmarks/gpu_eval.py) speed on one GPU,
# sized to finish in under 6 minutes on one H100. On a GPU machine without network access:
#   1. where the network and ../shared are:  bash benchmarks/gpu_prepare.sh   (builds gpu-carry/)
#   2. copy the checkout, gpu-carry/ included, to the GPU machine, and there:  bash benchmarks/gpu.sh
# Results (JSON rows, logs, profiler tables) go to $OUT, by default ./gpu-results.
# On a machine without a GPU, LAYOUTS=tiny runs the same script on CPU as a check.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SITE=""  # gpu-carry/site holds cp312 wheels; another Python uses its own packages
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

# evaluation
for layout in $EVAL_LAYOUTS; do
    timeout 120 $PY benchmarks/gpu_eval.py --layout "$layout" --budget-s ${EVAL_BUDGET_S:-80} \
        --out "$OUT/eval-$layout" 2>&1 | tee "$OUT/eval-$layout.log"
    echo "gpu_eval.py --layout $layout exit status ${PIPESTATUS[0]}"
done
