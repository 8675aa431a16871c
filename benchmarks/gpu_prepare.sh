#!/usr/bin/env bash
# Build gpu-carry/ (git-ignored): what benchmarks/gpu.sh needs on a GPU machine without network
# access that the checkout lacks: the Polyglot-ko tokenizer and KoBEST v1.0 (from $SHARED/data,
# default ../shared/data), and a site folder of cp312 wheels unpacked (pydantic and its
# dependencies, bitsandbytes, lm_eval with dill and chardet) for a GPU machine whose Python lacks them.
# Run once on a machine with network access to PyPI:
#     bash benchmarks/gpu_prepare.sh            (~25 MB; ~1 minute)
# then copy the checkout, gpu-carry/ included, to the GPU machine and run there:  bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
CARRY=gpu-carry
if [ -x .venv/bin/python ]; then PIP=${PIP:-.venv/bin/python -m pip}; else PIP=${PIP:-python3 -m pip}; fi
# the versions this project is tested with (pydantic-core must match pydantic exactly)
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
# bitsandbytes ships a library per CUDA version: keep CUDA 13.x's (the GPU machine's, an H100 with
# CUDA 13; change the pattern for another) and the CPU one
find "$CARRY/site/bitsandbytes" -name 'libbitsandbytes_*' \
    ! -name 'libbitsandbytes_cuda13*' ! -name 'libbitsandbytes_cpu*' -delete
# HFLM needs no task definitions: keep lm_eval/tasks/__init__.py only
find "$CARRY/site/lm_eval/tasks" -mindepth 1 -maxdepth 1 ! -name '__init__.py' -exec rm -rf {} +
du -sh "$CARRY" "$CARRY"/*
git check-ignore -q "$CARRY" || echo "warning: $CARRY is not git-ignored: add it to .gitignore so it is never committed" >&2
