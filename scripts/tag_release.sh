#!/bin/sh
# tag_release.sh [major|minor|patch|rc|beta|alpha|VERSION] [options of `release`]
# The familiar name for `cargo xtask release`: bump, changelog, commit, tag (default: patch).
set -e
cd "$(git rev-parse --show-toplevel)"
level=${1:-patch}
[ $# -gt 0 ] && shift
if [ -n "$TWOSTAGE_BIN" ] && [ -x "$TWOSTAGE_BIN" ]; then
    exec "$TWOSTAGE_BIN" release "$level" "$@"
fi
exec cargo xtask release "$level" "$@"
