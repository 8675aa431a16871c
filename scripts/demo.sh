#!/usr/bin/env bash
# Install into .venv and run the built-in offline demo (tiny model, CPU, a few minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
exec .venv/bin/polyplatypus demo "$@"
