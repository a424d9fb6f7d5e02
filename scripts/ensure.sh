#!/bin/sh
# Fresh-clone set-up shared by ./proxy and npm test: install dependencies when they are missing or
# older than package-lock.json, then build when any source is newer than the last build.
# Says what it does on stderr; silent when everything is current.
set -e
cd "$(dirname "$0")/.."

stale_deps() {
  [ ! -f node_modules/.package-lock.json ] && return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
  return 1
}
stale_build() {
  [ ! -f dist/.build-stamp ] && return 0
  [ -n "$(find src test bench scripts tsconfig.json package.json package-lock.json -newer dist/.build-stamp -print 2>/dev/null | head -n 1)" ] && return 0
  return 1
}

if stale_deps; then
  echo "version-proxy: installing dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch node_modules/.package-lock.json
fi
if stale_build; then
  echo "version-proxy: building (tsc, and the web UI with esbuild)…" >&2
  ./node_modules/.bin/tsc -p tsconfig.json >&2
  node scripts/build-web.mjs >&2
  node scripts/stamp.mjs
fi
