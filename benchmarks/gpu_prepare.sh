#!/usr/bin/env bash
# Build gpu-carry/ (git-ignored), everything benchmarks/gpu.sh needs on the lent GPU machine that the
# checkout lacks (../shared/notes/gpu.md): the Polyglot-ko tokenizer, KoBEST v1.0, and a site folder
# of cp312 wheels unpacked (pydantic and its helpers, bitsandbytes, lm_eval with dill and chardet).
# Run once here, with network access to PyPI:
#     bash benchmarks/gpu_prepare.sh            (~25 MB; ~1 minute)
# then on the GPU machine (the `run` tool, carry ["gpu-carry"]):  bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
CARRY=gpu-carry
PIP=${PIP:-/work/main/.venv/bin/python -m pip}
# the versions this project is tested with here (pydantic-core must match pydantic exactly)
PACKAGES=${PACKAGES:-"pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection typing-extensions
bitsandbytes lm-eval==0.4.13 dill chardet"}

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/site"
cp -r "$SHARED/data/polyglot-ko-tokenizer" "$CARRY/polyglot-ko-tokenizer"
cp -r "$SHARED/data/kobest/v1.0" "$CARRY/kobest"
# shellcheck disable=SC2086
$PIP download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any -d "$CARRY/wheels" $PACKAGES
for wheel in "$CARRY"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$CARRY/site"
done
rm -rf "$CARRY/wheels"
# bitsandbytes ships a library per CUDA version: the machine has CUDA 13 (keep 13.x and the CPU one)
find "$CARRY/site/bitsandbytes" -name 'libbitsandbytes_*' \
    ! -name 'libbitsandbytes_cuda13*' ! -name 'libbitsandbytes_cpu*' -delete
# HFLM needs no task definitions: keep lm_eval/tasks/__init__.py only
find "$CARRY/site/lm_eval/tasks" -mindepth 1 -maxdepth 1 ! -name '__init__.py' -exec rm -rf {} +
du -sh "$CARRY" "$CARRY"/*
git check-ignore -q "$CARRY" || echo "warning: $CARRY is not git-ignored; the run tool only carries ignored paths" >&2
