#!/usr/bin/env bash
# Benchmarks, reproducible from this repository alone:
# 1. the codec alone (`cargo bench --bench codec`);
# 2. upcase-server against its peers in peers/ (a tokio server, a plain
#    thread-per-connection std server): ping-pong with 1, 16 and 128
#    clients, pipelined bulk (ASCII and Unicode), connect churn, UDP
#    ping-pong and flood, 5000 idle connections. Every workload is run by
#    upcase-flood, which checks every reply; the bulk rows are also run by
#    the simplest verifying bulk client (peers/src/bin/bulk-client.rs), to
#    show that upcase-flood measures the server and not itself. Servers
#    are rotated within each repetition and pinned to
#    CPU 0 with the load on CPU 1 (2+ CPUs); medians with min–max and
#    same-run ratios against tokio.
#
#   scripts/bench.sh [--reps N] [--secs S] [--only WORKLOADS] [--no-pin]
#
# Needs python3 and taskset (util-linux). Exits non-zero when it cannot run.
# docs/performance.md holds a committed output, with its command and machine.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench.sh: needs python3" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench.sh: needs taskset (util-linux)" >&2; exit 2; }
echo "== the codec alone (cargo bench)"
cargo bench --quiet --bench codec
echo "== end to end, against the peers (peers/)"
cargo build --release --quiet -p upcase -p upcase-flood --bins
cargo build --release --quiet -p upcase-peers
python3 scripts/bench.py "$@"
