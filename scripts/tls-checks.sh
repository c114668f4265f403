#!/usr/bin/env bash
# `--tls` with TLS clients nobody here wrote, in every threading model:
#   openssl s_client -quiet -connect ADDR   sends a line, gets it uppercased
#   socat - OPENSSL:ADDR,verify=0           likewise
# against a certificate made here by `openssl req`. Then the server gets
# SIGTERM and must exit 0.
#
#   scripts/tls-checks.sh
#
# Needs openssl and socat (scripts/install-system-packages.sh); exits 2
# naming one that is missing. Everything runs on loopback; every server it
# starts is stopped by pid, and at the end it fails if one is still running.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$root"

for tool in openssl socat timeout; do
    command -v "$tool" >/dev/null || { echo "tls-checks.sh: needs $tool (scripts/install-system-packages.sh)" >&2; exit 2; }
done

cargo build --release --quiet -p upcase --bin upcase-server
bin=$root/target/release
work=$(mktemp -d)
pids=()
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/req.err" \
    || fail "openssl req: $(cat "$work/req.err")"

# `openssl s_client -quiet` sends LINE and prints the first reply line. It
# runs as a coprocess, so the reply is read as soon as it comes and stdin
# closed then (-no_ign_eof: it then ends the session, close_notify).
s_client_line() { # ADDR LINE
    local reply=""
    coproc CLIENT { exec timeout 10 openssl s_client -quiet -no_ign_eof -connect "$1" 2>"$work/s_client.err"; }
    echo "$2" >&"${CLIENT[1]}"
    read -r -t 10 reply <&"${CLIENT[0]}" || true
    exec {CLIENT[1]}>&-
    wait "$CLIENT_PID" || true
    echo "$reply"
}

for model in pool event-loops fixed-pool thread-per-connection iterative; do
    "$bin/upcase-server" --model "$model" --tcp 127.0.0.1:0 --no-udp --tls 127.0.0.1:0 \
        --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
        >"$work/$model.out" 2>"$work/$model.log" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 200); do
        grep -q '^tls listening on ' "$work/$model.out" && break
        kill -0 "$pid" 2>/dev/null || fail "$model: the server exited: $(cat "$work/$model.log")"
        sleep 0.05
    done
    addr=$(sed -n 's/^tls listening on //p' "$work/$model.out")
    [ -n "$addr" ] || fail "$model: no 'tls listening on' line"

    reply=$(s_client_line "$addr" "hello from openssl")
    [ "$reply" = "HELLO FROM OPENSSL" ] \
        || fail "$model: openssl s_client got '$reply': $(cat "$work/s_client.err")"
    echo "  $model: openssl s_client -quiet -connect $addr: 'hello from openssl' -> '$reply'"

    reply=$(echo "hello from socat" | timeout 10 socat - "OPENSSL:$addr,verify=0" 2>"$work/socat.err") || true
    [ "$reply" = "HELLO FROM SOCAT" ] \
        || fail "$model: socat OPENSSL: got '$reply': $(cat "$work/socat.err")"
    echo "  $model: socat - OPENSSL:$addr,verify=0: 'hello from socat' -> '$reply'"

    kill -TERM "$pid"
    wait "$pid" || fail "$model: exit status $? after SIGTERM: $(cat "$work/$model.log")"
done

for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && fail "server $pid is still running"
done
echo "  ok: openssl s_client and socat answered by every model over TLS"
