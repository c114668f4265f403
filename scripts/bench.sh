#!/usr/bin/env bash
# Benchmarks: the codec alone (cargo bench), then upcase-server against the
# peers in ../shared/bench (tokio, thread-per-connection), measured side by
# side by the same verifying load generator.
#
#   scripts/bench.sh [--reps N] [--only WORKLOADS]   # flags go to compare.py
#
# Needs ../shared/bench (the peer servers and compare.py) and python3.
# Servers run on CPU 0 and the load on CPU 1 (--pin split). Takes a few
# minutes with the defaults.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1-}" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
cd "$root"
echo "== the codec alone (cargo bench)"
cargo bench --quiet --bench codec
bench="$root/../shared/bench"
if [ ! -f "$bench/compare.py" ]; then
    echo "no $bench/compare.py: end-to-end comparison skipped" >&2
    exit 0
fi
echo "== end to end, against the peers"
cargo build --release --quiet --bins
cargo build --release --quiet --manifest-path "$bench/Cargo.toml" --target-dir target/bench
python3 "$bench/compare.py" --pin split --reps 3 "$@" \
    --server tokio=target/bench/release/tokio-upcase \
    --server std=target/bench/release/std-threads \
    --server upcase=target/release/upcase-server
