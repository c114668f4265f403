#!/usr/bin/env bash
# Fuzzes the codec for a bounded time: the property tests of
# tests/codec_props.rs (uppercasing against a simple reference, every
# chunking of the same input, --max-line) with many more random cases.
#
#   scripts/fuzz.sh [SECONDS] [CASES]   # default: 300 s, 1,000,000 cases per property
#
# cargo-fuzz needs a nightly toolchain, which this project's machines do
# not have, so this is the long-proptest form of fuzzing. A failure prints
# the minimal input; add it to tests/codec_props.rs as a regression test
# (proptest also records it under tests/codec_props.proptest-regressions).
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-300}"
cases="${2:-1000000}"
cd "$root"
cargo build --release --quiet --tests
echo "fuzzing the codec: up to ${cases} cases per property, at most ${seconds} s"
status=0
PROPTEST_CASES="$cases" timeout --signal=INT "$seconds" \
    cargo test --release --quiet --test codec_props || status=$?
case "$status" in
    0) echo "verdict: PASS (every case of every property held)" ;;
    124|130) echo "verdict: PASS (time limit reached with no failure)"; status=0 ;;
    *) echo "verdict: FAIL (see the minimal failing input above)" ;;
esac
exit "$status"
