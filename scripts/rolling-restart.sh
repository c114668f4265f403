#!/usr/bin/env bash
# Rolling restart of three upcase instances behind HAProxy, under a
# verifying flood, in a network namespace of its own (the host's network
# is never touched). First the health checks (GET /healthz on each
# instance's --admin port): lines_total stays flat at idle behind HAProxy,
# and a draining instance (/healthz 503) is marked DOWN while it runs.
# Passes only with 0 lines lost, 0 wrong replies and 0
# connection errors; prints how many lines were resent and the worst
# latency. Each instance also serves UDP and gets datagrams throughout, so
# every SIGTERM lands under UDP traffic and must still end in a clean
# shutdown within 10 s. Then a negative control: the same restart without
# the balancer drain and without --reconnect must make the flood report
# loss. At the end every process it started is stopped by pid, and the
# script fails if anything is still running in its namespace.
#
#   scripts/rolling-restart.sh [--quick]
#
# --quick rolls each instance once instead of three times (CI). Needs root,
# `ip` (iproute2), `haproxy` and python3; exits 2 naming what is missing.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
case "${1:-}" in
    --quick) rounds=1 ;;
    "") ;;
    *) echo "rolling-restart.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
for tool in ip haproxy python3; do
    command -v "$tool" >/dev/null || { echo "rolling-restart.sh: needs $tool (scripts/install-system-packages.sh)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "rolling-restart.sh: needs root (network namespaces)" >&2; exit 2; }

cargo build --release --quiet -p upcase -p upcase-flood --bin upcase-server --bin upcase-flood
bin=target/release
ns_begin upcase-rr

api() { # a command to HAProxy's runtime API
    python3 - "$work/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while chunk := s.recv(65536):
    out += chunk
print(out.decode(), end="")
PY
}
server_field() { # SERVER FIELD -> that field of `show stat` (scur, status)
    api "show stat" | python3 -c '
import csv, sys
rows = list(csv.reader(line[2:] if line.startswith("# ") else line for line in sys.stdin))
head, want_server, field = rows[0], sys.argv[1], sys.argv[2]
for row in rows[1:]:
    if len(row) > 17 and row[0] == "upcase_servers" and row[1] == want_server:
        print(row[head.index(field)])
' "$1" "$2"
}
# `start_up N`: instance N, serving TCP and UDP on 127.0.0.(N+1):7878, its
# admin endpoint (HAProxy's health check: GET /healthz) on port 7879.
start_up() { start_instance "$1" "127.0.0.$(($1 + 1)):7878" --workers 2 --admin "127.0.0.$(($1 + 1)):7879"; }
lines_total() { # N -> upcase_lines_total of instance N, from its /metrics
    inns python3 - "127.0.0.$(($1 + 1))" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://{sys.argv[1]}:7879/metrics", timeout=5).read().decode()
print(next(l.split()[-1] for l in body.splitlines() if l.startswith("upcase_lines_total")))
PY
}
is_down() { [ "$(server_field "up$1" status)" = "DOWN" ]; }
is_up() { [ "$(server_field "up$1" status)" = "UP" ]; }
# While drained, a server whose health check passes shows as DRAIN.
check_passes() { case "$(server_field "up$1" status)" in UP|DRAIN) true ;; *) false ;; esac; }
no_sessions() { [ "$(server_field "up$1" scur)" = "0" ]; }

restart() { # N DRAIN(yes|no)
    local n=$1 drain=$2 started
    started=$(date +%s%N)
    if [ "$drain" = yes ]; then
        api "set server upcase_servers/up$n state drain" >/dev/null
        # Sessions of persistent clients never end on their own: at most 5 s.
        wait_until 5 no_sessions "$n" || true
    fi
    kill -TERM "${instance[$n]}"
    # Not our child (ip netns exec is): wait for the pid to go away.
    wait_until 10 not_running "${instance[$n]}" || { echo "instance $n did not stop" >&2; exit 1; }
    grep -q "shutdown complete" "$work/up$n.log" || { echo "instance $n did not shut down cleanly" >&2; exit 1; }
    : >"$work/up$n.log"
    start_up "$n"
    wait_until 10 check_passes "$n" || { echo "HAProxy never saw instance $n up" >&2; exit 1; }
    api "set server upcase_servers/up$n state ready" >/dev/null
    wait_until 10 is_up "$n" || { echo "instance $n not back in service" >&2; exit 1; }
    echo "  restarted instance $n in $(( ($(date +%s%N) - started) / 1000000 )) ms (drain: $drain)"
}

for n in 1 2 3; do start_up "$n"; done
UPCASE_FRONTEND=127.0.0.1:7878 UPCASE_HAPROXY_SOCKET="$work/haproxy.sock" \
    spawn "$work/haproxy.pid" haproxy -db -f deploy/haproxy.cfg >"$work/haproxy.log" 2>&1
pid_of "$work/haproxy.pid"
wait_until 10 test -S "$work/haproxy.sock" || { echo "HAProxy did not start" >&2; cat "$work/haproxy.log" >&2; exit 1; }
for n in 1 2 3; do wait_until 10 is_up "$n" || { echo "instance $n not up in HAProxy" >&2; exit 1; }; done

echo "== health checks: GET /healthz on the admin port, never a line"
before=$(lines_total 1)
checks_before=$(server_field up1 chkfail)
# 2 s at idle is ten health checks (inter 200ms); none may count as a line.
sleep 2 # a span of idle time to measure, not a wait for readiness
after=$(lines_total 1)
[ "$before" = "$after" ] || { echo "FAIL: upcase_lines_total moved at idle behind HAProxy: $before -> $after" >&2; exit 1; }
echo "  instance 1 at idle for 2 s behind HAProxy: upcase_lines_total $before -> $after"
# A draining instance answers /healthz with 503: HAProxy takes it out
# while it still runs (a client trickling an unfinished line holds the
# drain open for its grace period).
inns python3 - <<'PY' &
import socket, time
s = socket.create_connection(("127.0.0.2", 7878))
deadline = time.monotonic() + 6
try:
    while time.monotonic() < deadline:
        s.sendall(b"x")
        time.sleep(0.1)  # the trickle's pace
except OSError:
    pass  # the draining server closed it
PY
holder=$!
held() { inns ss -Htn state established '( dport = :7878 )' | grep -q '127.0.0.2:7878'; }
wait_until 5 held || { echo "FAIL: the idle client did not connect to instance 1" >&2; exit 1; }
kill -TERM "${instance[1]}"
wait_until 3 is_down 1 || { echo "FAIL: HAProxy did not take the draining instance 1 out" >&2; exit 1; }
kill -0 "${instance[1]}" 2>/dev/null || { echo "FAIL: instance 1 had stopped before HAProxy took it out" >&2; exit 1; }
status=$(server_field up1 check_status); status=${status#\* }; code=$(server_field up1 check_code)
[ "$status" = L7STS ] && [ "$code" = 503 ] || { echo "FAIL: HAProxy's check saw $status $code, not the 503 of a drain" >&2; exit 1; }
echo "  instance 1 draining: HAProxy marked it DOWN ($status $code from /healthz) while it still ran"
wait_until 10 not_running "${instance[1]}" || { echo "instance 1 did not stop" >&2; exit 1; }
wait "$holder" || true
: >"$work/up1.log"
start_up 1
wait_until 10 is_up 1 || { echo "instance 1 not back in service" >&2; exit 1; }

flood_through_haproxy() { # SECONDS EXTRA-FLAGS... -> JSON report in $work/flood.json
    local secs=$1; shift
    inns "$bin/upcase-flood" --tcp 127.0.0.1:7878 --clients 8 --duration "$secs" --json "$@" \
        >"$work/flood.json" 2>"$work/flood.err"
}
report() { json_field "$work/flood.json" "$@"; }

udp_floods() { # SECONDS: one UDP client at each instance, in the background
    for n in 1 2 3; do
        spawn "$work/udp$n.pid" "$bin/upcase-flood" --udp "127.0.0.$((n + 1)):7878" --clients 1 \
            --duration "$1" --max-loss 100 --json >"$work/udp$n.json" 2>"$work/udp$n.err"
        pid_of "$work/udp$n.pid"
    done
}

restarts=$((rounds * 3))
echo "== rolling restart: $restarts restarts under a verifying flood (drain in HAProxy, --reconnect) and UDP traffic"
udp_floods $((restarts * 7 + 4))
flood_through_haproxy $((restarts * 7 + 4)) --reconnect &
flood=$!
sleep 2
for round in $(seq "$rounds"); do
    for n in 1 2 3; do restart "$n" yes; done
done
flood_status=0
wait "$flood" || flood_status=$?
read -r sent ok lost wrong errors resent max_us <<<"$(report lines_sent replies_ok lost mismatches errors resent max_us)"
echo "  flood: $sent lines sent, $ok answered right, $lost lost, $wrong wrong, $errors connection errors, $resent resent; worst latency $((max_us / 1000)) ms"
if [ "$flood_status" != 0 ] || [ "$lost" != 0 ] || [ "$wrong" != 0 ] || [ "$errors" != 0 ]; then
    echo "FAIL: the rolling restart lost or broke something" >&2
    cat "$work/flood.err" >&2
    exit 1
fi

for n in 1 2 3; do # each UDP client's run must have ended by itself, with answers
    wait_until 15 not_running "$(cat "$work/udp$n.pid")" || { echo "FAIL: the UDP flood at instance $n did not end" >&2; exit 1; }
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["replies_ok"] > 0 else 1)' "$work/udp$n.json" \
        || { echo "FAIL: no UDP datagram answered by instance $n" >&2; cat "$work/udp$n.err" >&2; exit 1; }
    echo "  udp at instance $n: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["lines_sent"], "sent,", r["replies_ok"], "answered, the rest sent while it restarted")' "$work/udp$n.json")"
done

echo "== negative control: restart without the HAProxy drain and without --reconnect"
flood_through_haproxy 8 &
flood=$!
sleep 2
restart 1 no
flood_status=0
wait "$flood" || flood_status=$?
read -r lost errors <<<"$(report lost errors)"
echo "  flood: $lost lost, $errors connection errors, exit status $flood_status"
if [ "$flood_status" = 0 ]; then
    echo "FAIL: the negative control passed, so the check above could not fail" >&2
    exit 1
fi
stop_all || exit 1
echo "  nothing left running in the namespace"
echo "rolling restart: 2 passed, 0 failed (restarts lose nothing; the control shows why it takes both rules)"
