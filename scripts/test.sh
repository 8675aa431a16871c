#!/usr/bin/env bash
# Install into .venv (with test extras) and run the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" test
cd "$root"
exec .venv/bin/python -m pytest "$@"
