#!/usr/bin/env bash
# Everything the test suite needs, from nothing, then every check:
#   bash scripts/test.sh [pytest args...]
# Creates .venv, installs envsnap with its test extras, installs and starts a Docker engine
# with a locally built base image (scripts/docker-setup.sh) and a local Slurm cluster
# (scripts/slurm-setup.sh), runs ruff, strict mypy and the import contracts, then
# both pytest tiers: tests/unit (offline, in a network namespace with only loopback, no
# machine-specific path) and tests/integration (real venvs, real pip, the real CLI, a real
# Docker engine).
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

# Given no test path (CI: -q; also -k EXPR, -m "not slow"), the two tiers run apart, and the
# unit tier runs in a network namespace with only loopback where this machine can make one
# (as root, or as root in a user namespace of its own: unshare -rn): the promise that it needs
# no network is proven on every run, not assumed. Given a path (tests/unit,
# tests/unit/test_io.py::test_x), one pytest run takes the arguments as they are.
only_options=1
for arg in "$@"; do
  case $arg in -*) ;; *) if [ -e "${arg%%::*}" ]; then only_options=0; fi ;; esac
done
if [ "$only_options" = 1 ]; then
  offline=()
  if command -v unshare >/dev/null && command -v ip >/dev/null; then
    if unshare -n true 2>/dev/null; then offline=(unshare -n)
    elif unshare -rn true 2>/dev/null; then offline=(unshare -rn)
    fi
  fi
  if [ ${#offline[@]} -gt 0 ]; then
    echo "test.sh: pytest tests/unit (network namespace: loopback only)"
    "${offline[@]}" sh -c 'ip link set lo up && exec .venv/bin/python -m pytest "$@" tests/unit' \
      sh "$@"
  else
    echo "test.sh: pytest tests/unit (this machine cannot make a network namespace: with the network)"
    .venv/bin/python -m pytest "$@" tests/unit
  fi
  echo "test.sh: pytest tests/integration"
  exec .venv/bin/python -m pytest "$@" tests/integration
fi
echo "test.sh: pytest"
exec .venv/bin/python -m pytest "$@"
