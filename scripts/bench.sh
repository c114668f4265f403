#!/usr/bin/env bash
# Benchmarks, reproducible from this repository alone:
# 1. the codec alone (`cargo bench --bench codec`);
# 2. upcase-server (`pool`, its default, and `--model event-loops`) against
#    its peers in peers/: a tokio server, a plain thread-per-connection std
#    server, and the kernel's floor (floor-epoll: one thread, raw epoll,
#    each ready socket read once and answered at once). Ping-pong with 1,
#    16 and 128 clients, pipelined bulk (ASCII and Unicode), connect churn,
#    UDP ping-pong and flood, idle connections; and TLS rows (ping-pong,
#    bulk, churn = the handshake) against the servers that speak --tls
#    (upcase's models, tokio-upcase's tokio-rustls listener). `upcase-flood bench` starts
#    every server, runs every workload with the flood (which checks every
#    reply), and the bulk rows also with the simplest verifying bulk client
#    (peers/src/bin/bulk-client.rs), to show that the flood measures the
#    server and not itself. Servers are rotated within each repetition and
#    pinned to one CPU with the load on another (2+ CPUs). It prints
#    Markdown: medians (min–max), then every server's same-run ratio to
#    tokio and to the floor, each repetition's ratio beside the median.
#
#   scripts/bench.sh [--reps N] [--secs S] [--idle N] [--only WORKLOADS] [--no-pin]
#
# --reps 5 (the committed table's command): 5 x 9 timed workloads x 5
# servers x 1.5 s = 5.6 min of runs, plus start-up, the idle rows and the
# codec; one repetition took 2 min 34 s on a machine at load 16 on 2 CPUs.
# docs/performance.md holds a committed output, with its command and machine.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== the codec alone (cargo bench)"
cargo bench --quiet --bench codec
echo "== end to end, against the peers (peers/) and the kernel's floor"
cargo build --release --quiet -p upcase -p upcase-flood -p upcase-peers --bins
target/release/upcase-flood bench --command "scripts/bench.sh $*" "$@"
