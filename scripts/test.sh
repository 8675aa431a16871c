#!/usr/bin/env bash
# Install into .venv (with test extras) and run the test suite.
#   bash scripts/test.sh            the whole suite (as CI runs it)
#   bash scripts/test.sh --quick    a representative subset in a few minutes: the tests not marked
#                                   slow (end-to-end training and evaluation, several processes and
#                                   lm-eval's task index are left out; tests/conftest.py lists them)
# Other arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" test
cd "$root"
if [ "${1:-}" = "--quick" ]; then
  shift
  exec .venv/bin/python -m pytest -m "not slow" "$@"
fi
exec .venv/bin/python -m pytest "$@"
