#!/usr/bin/env bash
# Installs what the console's browser tests need, when missing: Debian's chromium and
# playwright-core (npm ci here). Idempotent; run from anywhere:
#   bash tests/console/install.sh && node --test tests/console/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/console/install.sh: $tool is missing; install Node.js 20 or later with npm (e.g. apt-get install -y nodejs npm) and run again" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "tests/console/install.sh: Node.js $(node --version) is too old; the tests need Node.js 20 or later" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/console/install.sh: /usr/bin/chromium is missing and there is no apt-get to install it; install Chromium there (or set CHROMIUM_BIN when running the tests)" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "tests/console/install.sh: installing Debian's chromium"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

if [ ! -d "$here/node_modules/playwright-core" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
  echo "tests/console/install.sh: npm ci (playwright-core)"
  (cd "$here" && npm ci --no-audit --no-fund)
  touch "$here/node_modules"
fi
