#!/usr/bin/env bash
# Compares the threading models (plain and over TLS) and the message
# carriers, and writes a report with tables and SVG charts.
#
#   scripts/compare.sh [--quick] [--out DIR]
#
# Builds the release binaries first. Takes several minutes (--quick: about
# a minute on 2 CPUs). The report lands in target/upcase-compare/report.md
# by default.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --quiet -p upcase -p upcase-flood --bins)
exec "$root/target/release/upcase-flood" compare "$@"
