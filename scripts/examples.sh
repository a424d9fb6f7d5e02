#!/bin/sh
# Runs examples/ as CI does (issue 22): the node:test example against the built package (dist/,
# through package.json "exports") and the pytest example against ./proxy. When pytest is missing
# and we are root with apt-get, installs Debian's python3-pytest first, saying so on stderr (as
# ensure-chromium.sh does for Chromium); otherwise fails with a one-line reason. Leaves nothing
# behind (no __pycache__, no .pytest_cache), so it passes when run twice.
set -u
cd "$(dirname "$0")/.."

sh scripts/ensure.sh || exit 1

echo "examples: node --test examples/fpse-scopes.test.mjs" >&2
node --test --test-timeout=120000 examples/fpse-scopes.test.mjs || exit 1

has_pytest() {
  command -v "$1" >/dev/null 2>&1 && "$1" -c 'import pytest' >/dev/null 2>&1
}

if has_pytest python3; then
  PYTHON=python3
elif has_pytest /usr/bin/python3; then
  PYTHON=/usr/bin/python3
else
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "examples: pytest is missing and apt-get is not available to install it (install pytest for python3)" >&2
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "examples: pytest is missing and installing it needs root (run: apt-get install python3-pytest)" >&2
    exit 1
  fi
  echo "examples: installing Debian python3-pytest (apt-get)…" >&2
  if ! apt-get update -qq >&2 || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pytest >&2; then
    echo "examples: apt-get install python3-pytest failed" >&2
    exit 1
  fi
  # Debian's package is for Debian's python3, which may not be the first python3 on PATH.
  if ! has_pytest /usr/bin/python3; then
    echo "examples: python3-pytest was installed but /usr/bin/python3 cannot import pytest" >&2
    exit 1
  fi
  PYTHON=/usr/bin/python3
fi

echo "examples: $PYTHON -m pytest examples/test_fpse_scopes.py" >&2
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider examples/test_fpse_scopes.py || exit 1
