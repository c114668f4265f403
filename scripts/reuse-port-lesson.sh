#!/usr/bin/env bash
# The SO_REUSEPORT lesson, measured: two `upcase-server --reuse-port`
# processes share 127.0.0.1:7878 and the kernel spreads new connections
# over their two accept queues. One process is frozen (SIGSTOP) so that
# its queue fills, then killed: what happens to the connections waiting in
# its queue depends on net.ipv4.tcp_migrate_req. Both settings are run, in
# a network namespace of its own (the sysctl is per namespace; the host's
# is never changed), and the outcome is printed:
#   tcp_migrate_req=0: the closed listener's queued connections are reset;
#   tcp_migrate_req=1: they move to the sibling and are answered.
#
#   scripts/reuse-port-lesson.sh
#
# Needs root, `ip` (iproute2) and python3; exits 2 naming what is missing.
# Exits 1 if an outcome is not the one the kernel documents.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
esac
for tool in ip python3; do
    command -v "$tool" >/dev/null || { echo "reuse-port-lesson.sh: needs $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "reuse-port-lesson.sh: needs root (network namespaces)" >&2; exit 2; }
cargo build --release --quiet --bin upcase-server
work=$(mktemp -d)
ns="upcase-rp-$$"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

start() { # NAME -> pid in $work/NAME.pid
    rm -f "$work/$1.pid" "$work/$1.out"
    ip netns exec "$ns" sh -c 'echo $$ >"$1"; exec "$2" --tcp 127.0.0.1:7878 --no-udp --reuse-port --workers 1' \
        sh "$work/$1.pid" target/release/upcase-server >"$work/$1.out" 2>"$work/$1.err" &
    for _ in $(seq 200); do grep -qs "tcp listening" "$work/$1.out" && break; sleep 0.05; done
    grep -q "tcp listening" "$work/$1.out" || { echo "server $1 did not start" >&2; exit 1; }
    for _ in $(seq 100); do [ -s "$work/$1.pid" ] && break; sleep 0.05; done
    pids+=("$(cat "$work/$1.pid")")
}

lesson() { # VALUE -> prints "answered reset silent" for 40 connections
    ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_migrate_req="$1"
    start first
    start second
    local first second
    first=$(cat "$work/first.pid"); second=$(cat "$work/second.pid")
    kill -STOP "$first"
    ip netns exec "$ns" python3 - "$first" <<'PY'
import os, select, signal, socket, sys, time
first = int(sys.argv[1])
conns = []
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", 7878), timeout=2)
    s.sendall(b"hello\n")
    conns.append(s)
time.sleep(0.3)             # the handshakes are done: each waits in one accept queue
os.kill(first, signal.SIGKILL)  # its listener closes with connections queued
answered = reset = silent = 0
for s in conns:
    s.settimeout(3)
    try:
        reply = s.recv(64)
        if reply == b"HELLO\n":
            answered += 1
        else:
            silent += 1
    except ConnectionResetError:
        reset += 1
    except socket.timeout:
        silent += 1
print(answered, reset, silent)
PY
    kill -TERM "$second" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$second" 2>/dev/null || break; sleep 0.05; done
}

status=0
read -r a0 r0 s0 <<<"$(lesson 0)"
echo "tcp_migrate_req=0: of 40 connections, $a0 answered, $r0 reset, $s0 silent (those queued on the killed listener are reset)"
read -r a1 r1 s1 <<<"$(lesson 1)"
echo "tcp_migrate_req=1: of 40 connections, $a1 answered, $r1 reset, $s1 silent (queued ones move to the sibling)"
if [ "$r0" -eq 0 ] || [ "$a1" -ne 40 ]; then
    echo "unexpected: with =0 some should be reset, with =1 all answered" >&2
    status=1
fi
exit $status
