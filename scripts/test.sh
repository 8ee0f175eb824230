#!/usr/bin/env bash
# Installs what the tests need, then runs the whole test suite (pass pytest args to narrow it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
source scripts/env.sh
exec .venv/bin/python -m pytest "$@"
