#!/usr/bin/env bash
# Compares the four threading models and the message carriers, and writes
# a report with tables and SVG charts.
#
#   scripts/compare.sh [--quick] [--out DIR]
#
# Builds the release binaries first. Takes a minute or two (--quick: a few
# seconds). The report lands in target/upcase-compare/report.md by default.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1-}" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
(cd "$root" && cargo build --release --quiet --bins)
exec "$root/target/release/upcase-flood" compare "$@"
