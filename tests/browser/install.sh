#!/bin/sh
# Installs the npm packages of the browser tests (playwright-core, which
# drives Debian's Chromium; it downloads no browser) into
# tests/browser/node_modules. Run by tests/deps.sh (make deps, make test).
set -e
cd "$(dirname "$0")"
want=$(sed -n 's/.*"playwright-core": "\([^"]*\)".*/\1/p' package.json)
have=$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' node_modules/playwright-core/package.json 2>/dev/null || true)
[ "$have" = "$want" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "warren: npm is missing (run 'make deps' as root)" >&2
	exit 1
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-save \
	--loglevel=error --ignore-scripts
