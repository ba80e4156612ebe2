#!/bin/sh
# run-check.sh - the ctest entry for check.js: exits 77 (skipped) when this
# machine has no node or npm, and fails when they are there but the
# packages of package-lock.json are not installed (`make deps` runs
# `npm ci` here).
dir=$(dirname "$0")
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "skip: node and npm are needed to check the OpenRPC document (make deps installs them)"
    exit 77
fi
if [ ! -d "$dir/node_modules/@open-rpc/meta-schema" ] || [ ! -d "$dir/node_modules/ajv" ]; then
    echo "FAIL: $dir/node_modules lacks the packages of package-lock.json; run make deps (npm ci --prefix $dir)"
    exit 1
fi
exec node "$dir/check.js" "$@"
