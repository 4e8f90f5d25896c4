#!/usr/bin/env bash
# Everything the test suite needs, from nothing, then the whole suite:
#   bash scripts/test.sh [pytest args...]
# Creates .venv, installs envsnap with its test extras, installs and starts a Docker engine
# with a locally built base image (scripts/docker-setup.sh), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# This machine's (or any user's) pip configuration must not shape the test environment.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT 2>/dev/null || true

echo "test.sh: python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "test.sh: docker engine and local base image"
bash scripts/docker-setup.sh

echo "test.sh: pytest"
exec .venv/bin/python -m pytest "$@"
