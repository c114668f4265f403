#!/usr/bin/env bash
# Soaks every threading model with good and hostile traffic, then checks
# for wrong replies, memory growth, and leaked descriptors or threads.
#
#   scripts/soak.sh [SECONDS]     # seconds per model, default 120
#
# Prints one PASS/FAIL line per model and a final verdict line; exits
# non-zero on any failure. CI runs `scripts/soak.sh 20`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1-}" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
seconds="${1:-120}"
(cd "$root" && cargo build --release --quiet --bins)
exec "$root/target/release/upcase-flood" soak --seconds "$seconds"
