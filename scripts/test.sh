#!/usr/bin/env bash
# Everything the test suite needs, from nothing, then every check:
#   bash scripts/test.sh [pytest args...]
# Creates .venv, installs envsnap with its test extras, installs and starts a Docker engine
# with a locally built base image (scripts/docker-setup.sh) and a local Slurm cluster
# (scripts/slurm-setup.sh), runs ruff, strict mypy and the import contracts, then
# both pytest tiers: tests/unit (offline, no machine-specific path) and tests/integration
# (real venvs, real pip, the real CLI, a real Docker engine).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# This machine's (or any user's) pip configuration must not shape the test environment; the
# tests isolate every pip they run themselves (tests/support.py). The variables stay set for
# pytest: the one test that fetches torch does so as a user of this machine would.
isolated_pip() { env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT \
  PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }

echo "test.sh: python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
isolated_pip .venv/bin/python -m pip install -q --upgrade pip
isolated_pip .venv/bin/python -m pip install -q -e '.[test]'

echo "test.sh: docker engine and local base image"
bash scripts/docker-setup.sh

echo "test.sh: local Slurm cluster"
bash scripts/slurm-setup.sh

echo "test.sh: ruff"
.venv/bin/ruff check envsnap tests benchmarks scripts
echo "test.sh: mypy (strict)"
.venv/bin/mypy envsnap tests benchmarks scripts
echo "test.sh: import layers (lint-imports, pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports

echo "test.sh: pytest"
exec .venv/bin/python -m pytest "$@"
