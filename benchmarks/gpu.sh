#!/usr/bin/env bash
# Fine-tuning (benchmarks/gpu_train.py), evaluation (benchmarks/gpu_eval.py) and generation
# (benchmarks/generate_speed.py) speed on one GPU, and the generation near-tie drift (generate_drift.py),
# sized to finish in about 9 minutes on one H100 (each part capped by a timeout). On a GPU machine without network access:
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

# generation (issue 26): the engine against lm-eval's hf at the same batch size, in bf16, near ties
# re-decided (hf's batch-1 text) and kept; a Polyglot-ko-1.3b-sized random model made to stop at
# varied lengths (benchmarks/generate_speed.py). Rows are printed as they finish (generate.log).
if [ "${LAYOUTS:-}" = tiny ]; then GEN_ARGS="--device cpu --sizes 128x2x4"; else
    GEN_ARGS="--device cuda --sizes ${GEN_SIZES:-2048x24x16}"; fi
# shellcheck disable=SC2086
timeout ${GEN_TIMEOUT_S:-150} $PY benchmarks/generate_speed.py $GEN_ARGS --dtype bfloat16 \
    --near-ties redecide,keep --shapes ${GEN_SHAPES:-first_n,random5,zero} \
    --batch-sizes ${GEN_BATCHES:-8} --repeats 1 --lengths varied --json "$OUT/generate.json" 2>&1 \
    | tee "$OUT/generate.log" | grep -v -e '^Loading weights' -e 'FutureWarning' -e 'warnings.warn' \
        -e 'kwarg is not of type' -e 'already-initialized model'
echo "generate_speed.py exit status ${PIPESTATUS[0]}"

# the near-tie bound's K for generation: how far the engine's logits move from hf's batch-1 path's
# in bf16 and fp16 (K seen against K = 32; benchmarks/generate_drift.py), the same model size
if [ "${LAYOUTS:-}" = tiny ]; then DRIFT_ARGS="--device cpu --sizes 128x2x4"; else
    DRIFT_ARGS="--device cuda --sizes ${GEN_SIZES:-2048x24x16}"; fi
# shellcheck disable=SC2086
timeout ${DRIFT_TIMEOUT_S:-60} $PY benchmarks/generate_drift.py $DRIFT_ARGS --dtypes bfloat16,float16 \
    --shapes first_n,zero --docs 8 --max-new-tokens 32 --json "$OUT/drift.json" 2>&1 \
    | tee "$OUT/drift.log" | grep -v -e '^Loading weights' -e 'FutureWarning' -e 'warnings.warn'
echo "generate_drift.py exit status ${PIPESTATUS[0]}"
