#!/usr/bin/env bash
# Installs what the hub (and with --test, its tests) need: a virtualenv with the project, and
# for tests the system packages they drive. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=${1:-}

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)${want_test:+-test}
if [ ! -f "$stamp" ]; then
    if [ -n "$want_test" ]; then
        .venv/bin/pip install -q -e ".[test]"
    else
        .venv/bin/pip install -q -e .
    fi
    touch "$stamp"
fi

# front-end packages for the pages (hls.js), from the npm registry by the lock file, copied
# into the folder the hub serves (nothing comes from a CDN at run time)
vendor=hub/static/vendor
if [ ! -f "$vendor/hls.light.min.js" ] || [ package-lock.json -nt "$vendor/hls.light.min.js" ]; then
    if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    fi
    command -v npm >/dev/null || { echo "setup: npm is needed for the page assets" >&2; exit 1; }
    npm ci --no-audit --no-fund --loglevel=error
    mkdir -p "$vendor"
    cp node_modules/hls.js/dist/hls.light.min.js "$vendor/"
fi

if [ -n "$want_test" ]; then
    # system packages the tests use; apt needs root (CI and these machines run as root)
    need=()
    for pkg in $(cat scripts/apt-packages.txt); do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
        else
            echo "setup: missing system packages: ${need[*]} (run as root or install them)" >&2
        fi
    fi
fi
