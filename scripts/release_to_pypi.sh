#!/bin/sh
# release_to_pypi.sh <tag> [--dry-run] [--no-push] [--no-github]
# The familiar name for `cargo xtask promote`: the verified bytes of <tag> to PyPI.
set -e
if [ $# -lt 1 ]; then
    echo "usage: scripts/release_to_pypi.sh <tag> [--dry-run] [--no-push] [--no-github]" >&2
    exit 2
fi
cd "$(git rev-parse --show-toplevel)"
if [ -n "$TWOSTAGE_BIN" ] && [ -x "$TWOSTAGE_BIN" ]; then
    exec "$TWOSTAGE_BIN" promote "$@"
fi
exec cargo xtask promote "$@"
