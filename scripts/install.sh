#!/usr/bin/env bash
# Create (or reuse) .venv in the project root and install polyplatypus into it.
# torch is installed first and pinned: an open-ended requirement would pull a multi-GB CUDA build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_SPEC="${POLYPLATYPUS_TORCH:-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
if ! "$py" -c "import torch" >/dev/null 2>&1; then
  "$py" -m pip install --quiet --upgrade pip
  "$py" -m pip install --quiet "$TORCH_SPEC"
fi
extras="${1:-}"
target="."
[ -n "$extras" ] && target=".[$extras]"
"$py" -m pip install --quiet -e "$target"
