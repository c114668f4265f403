#!/usr/bin/env bash
# Compares the four threading models and the message carriers, and writes
# a report with tables and SVG charts.
#
#   scripts/compare.sh [--quick] [--out DIR]
#
# Builds the release binaries first. Takes a minute or two (--quick: a few
# seconds). The report lands in target/upcase-compare/report.md by default.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --quiet -p upcase -p upcase-flood --bins)
exec "$root/target/release/upcase-flood" compare "$@"
