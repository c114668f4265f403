#!/usr/bin/env bash
# Soaks every threading model with good and hostile traffic, then checks
# for wrong replies, memory growth, and leaked descriptors or threads.
#
#   scripts/soak.sh [SECONDS]     # seconds per model (upcase-flood soak's default: 30)
#
# Prints one PASS/FAIL line per model and a final verdict line; exits
# non-zero on any failure. CI runs `scripts/soak.sh 20`.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
(cd "$root" && cargo build --release --quiet -p upcase -p upcase-flood --bins)
exec "$root/target/release/upcase-flood" soak ${1:+--seconds "$1"}
