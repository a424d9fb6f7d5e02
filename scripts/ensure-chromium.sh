#!/bin/sh
# Prints the path of a usable Chromium (Debian's /usr/bin/chromium) on stdout, for the browser test
# (issue 5). When it is missing and we are root with apt-get, installs the Debian package first,
# saying so on stderr. Exits non-zero with a one-line reason on stderr when it cannot provide one.
# Quick and silent when Chromium is already there.
set -u

CHROMIUM=/usr/bin/chromium

usable() {
  [ -x "$CHROMIUM" ] && "$CHROMIUM" --version >/dev/null 2>&1
}

if usable; then
  echo "$CHROMIUM"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available to install it" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-chromium: $CHROMIUM is missing and installing it needs root (run: apt-get install chromium)" >&2
  exit 1
fi

echo "ensure-chromium: installing Debian chromium (apt-get)…" >&2
start=$(date +%s)
if ! apt-get update -qq >&2; then
  echo "ensure-chromium: apt-get update failed; cannot install chromium" >&2
  exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; then
  echo "ensure-chromium: apt-get install chromium failed" >&2
  exit 1
fi
if ! usable; then
  echo "ensure-chromium: chromium was installed but $CHROMIUM --version does not run" >&2
  exit 1
fi
echo "ensure-chromium: chromium installed in $(( $(date +%s) - start )) s" >&2
echo "$CHROMIUM"
