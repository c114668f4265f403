#!/usr/bin/env bash
# Checks that need system tools (scripts/install-system-packages.sh brings
# them; .ci/run runs both):
# - the admin page rendered in headless Chromium shows the server's real
#   numbers, for fixed-pool --workers 2 under 6 clients (2 workers held,
#   3 queued, 1 in the listen backlog) and for pool (0 waiting);
# - `upcase-flood compare --quick`'s index.html renders in Chromium with
#   every section and its inline charts;
# - strace shows the lecture's system calls: the iterative model waits in
#   epoll_wait, then accept4 (the listener is never shut down),
#   recvfrom/sendto with the client's address for UDP.
# Screenshots land in target/system-checks/.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "chromium is missing (scripts/install-system-packages.sh)" >&2; exit 1; }
cargo build --release --quiet -p upcase -p upcase-flood --bin upcase-server --bin upcase-client --bin upcase-flood
out=target/system-checks
mkdir -p "$out"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

chromium_at() { # URL PNG -> the page's DOM after it has polled the server
    local profile
    profile=$(mktemp -d)
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1400,1000 --virtual-time-budget=3000 \
        --screenshot="$2" "$1" >/dev/null 2>&1
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --virtual-time-budget=3000 --dump-dom "$1" 2>/dev/null
    rm -rf "$profile"
}

# Reads the server's `tcp/udp/admin listening on ADDR` lines from descriptor
# $1 into the caller's variables tcp, udp and admin, until the variable
# named $2 is set (at most 20 s a line).
read_addresses() {
    local fd=$1 last=$2 line
    while [ -z "${!last}" ] && read -r -t 20 line <&"$fd"; do
        case "$line" in
            "tcp listening on "*) tcp=${line#tcp listening on } ;;
            "udp listening on "*) udp=${line#udp listening on } ;;
            "admin listening on "*) admin=${line#admin listening on } ;;
        esac
    done
}

check_model() { # MODEL EXPECTED_HELD_OR_BUSY EXPECTED_QUEUED EXPECTED_BACKLOG
    local model=$1 busy=$2 queued=$3 backlog=$4 log="$out/$1.server.log"
    coproc SERVER { exec target/release/upcase-server --tcp 127.0.0.1:0 --no-udp \
        --admin 127.0.0.1:0 --model "$model" --workers 2 2>"$log"; }
    pids+=("$SERVER_PID")
    local tcp="" udp="" admin=""
    read_addresses "${SERVER[0]}" admin
    [ -n "$admin" ] || { echo "FAIL $model: no admin line" >&2; exit 1; }
    for i in 1 2 3 4 5 6; do
        # Each client sends one line, then stays connected (idle) for a while.
        { echo "client $i"; sleep 30; } | target/release/upcase-client --timeout 60 "$tcp" >/dev/null 2>&1 &
        pids+=("$!")
    done
    local dom
    dom=$(chromium_at "http://$admin/" "$out/$model.png")
    local shown_busy shown_queued shown_backlog
    shown_busy=$( (grep -oE 'class="box (busy|held)"' <<<"$dom" || true) | wc -l)
    shown_queued=$(grep -o 'id="queued" class="big">[0-9]*' <<<"$dom" | grep -o '[0-9]*$' || true)
    shown_backlog=$(grep -o 'id="backlog" class="big">[0-9]*' <<<"$dom" | grep -o '[0-9]*$' || true)
    echo "$model: the page shows $shown_busy workers busy or held, $shown_queued queued, $shown_backlog in the backlog (screenshot $out/$model.png)"
    if [ "$shown_busy" != "$busy" ] || [ "$shown_queued" != "$queued" ] || [ "$shown_backlog" != "$backlog" ]; then
        echo "FAIL $model: expected $busy busy or held, $queued queued and $backlog in the backlog" >&2
        exit 1
    fi
    kill "$SERVER_PID"
    wait "$SERVER_PID" || { echo "FAIL $model: server exit status $?" >&2; exit 1; }
}

check_model fixed-pool 2 3 1
check_model pool 0 0 0

check_compare_page() {
    target/release/upcase-flood compare --quick --out "$out/compare" >/dev/null
    local dom
    dom=$(chromium_at "file://$PWD/$out/compare/index.html" "$out/compare.png")
    for section in "Ping-pong" "Is a new client answered" "Threads vs sockets" "Under a flood" \
        "What it shows" "What it cannot show here" "never answered"; do
        grep -q "$section" <<<"$dom" || { echo "FAIL compare page: no '$section'" >&2; exit 1; }
    done
    local charts
    charts=$(grep -o '<svg' <<<"$dom" | wc -l)
    [ "$charts" -ge 5 ] || { echo "FAIL compare page: $charts inline charts" >&2; exit 1; }
    echo "compare: index.html renders every section and $charts inline charts (screenshot $out/compare.png)"
}
check_compare_page

check_syscalls() {
    command -v strace >/dev/null || { echo "strace is missing (scripts/install-system-packages.sh)" >&2; exit 1; }
    local trace="$out/iterative.strace"
    # One file per thread (-ff): with -f into one file, a call another thread
    # interrupts is split into "unfinished" and "resumed" lines, and the
    # patterns below would miss it.
    rm -f "$trace" "$trace".*
    coproc TRACED { exec strace -ff -e trace=%network,epoll_wait -o "$trace" target/release/upcase-server \
        --model iterative --tcp 127.0.0.1:0 --udp 127.0.0.1:0 2>/dev/null; }
    local tcp="" udp="" admin=""
    read_addresses "${TRACED[0]}" udp
    echo hello | target/release/upcase-client "$tcp" >/dev/null
    echo datagram | target/release/upcase-client --udp "$udp" >/dev/null
    # Stop the traced server itself (strace ends with it).
    pkill -TERM -P "$TRACED_PID" || true
    wait "$TRACED_PID" || true
    cat "$trace".* > "$trace"
    for call in 'socket\(AF_INET, SOCK_STREAM' 'bind\(' 'listen\(' 'epoll_wait\(' 'accept4\(3, \{' \
        'recvfrom\(' 'sendto\(' 'socket\(AF_INET, SOCK_DGRAM'; do
        grep -qE "$call" "$trace" || { echo "FAIL strace: no $call" >&2; exit 1; }
    done
    # At stop, the listener it bound itself stops listening (an inherited one
    # is never shut down: tests/activation.rs restarts on one).
    grep -qE 'shutdown\(3, SHUT_RDWR' "$trace" || { echo "FAIL strace: the bound listener still listened at stop" >&2; exit 1; }
    grep -q 'sendto(.*"DATAGRAM".*sin_port' "$trace" || { echo "FAIL strace: UDP reply without the address" >&2; exit 1; }
    echo "strace: iterative waits in epoll_wait, accepts with accept4, stops listening on the listener it bound at stop; UDP answers with sendto to the sender's address"
}
check_syscalls

check_lab() {
    target/release/upcase-flood lab --quick --out "$out/lab" >/dev/null
    local row
    row=$(grep '^| 5 % |' "$out/lab/lab.md") || { echo "FAIL lab: no 5 % row" >&2; exit 1; }
    python3 - "$row" <<'PY' || { echo "FAIL lab: $row" >&2; exit 1; }
import re, sys
cells = [c.strip() for c in sys.argv[1].strip("|").split("|")]
tcp_lost, tcp_max_ms = int(cells[2]), float(cells[3].split("/")[2])
resent = [int(n) for n in re.findall(r"(\d+) of \d+", cells[4])]
udp_pct = float(re.search(r"\(([\d.]+) %\)", cells[5]).group(1))
assert tcp_lost == 0, "TCP lost lines"
assert len(resent) == 2 and sum(resent) > 0, "no kernel-counted retransmissions"
assert tcp_max_ms >= 200, "no retransmission tail"
assert 5 <= udp_pct <= 15, f"UDP lost {udp_pct} %"
PY
    grep -q '^- \*\*plain TCP\*\*: the line is in the capture' "$out/lab/lab.md" \
        || { echo "FAIL lab: the eavesdropper did not read the plain line" >&2; exit 1; }
    grep -q "^- \*\*TLS\*\*: the line's bytes are nowhere in the capture" "$out/lab/lab.md" \
        || { echo "FAIL lab: no TLS capture without the line" >&2; exit 1; }
    python3 - "$out/lab/lab.md" <<'PY' || { echo "FAIL lab: reflection" >&2; exit 1; }
import re, sys
md = open(sys.argv[1]).read()
rows = re.findall(r"^\| (limits off.*|the defaults|`--udp-max-amplification 1`) \| (\d+) \((\d+)\) \| (\d+) \| (\d+) \|", md, re.M)
assert len(rows) == 3, rows
(_, sent, _, off, _), (_, _, _, default, _), (_, _, sent_b, _, strict_b) = rows
assert int(off) > int(sent) // 2, f"limits off: only {off} replies reached the victim"
assert int(default) < int(off) // 2, f"defaults: {default} replies, against {off} with no limit"
assert int(strict_b) < int(sent_b), "--udp-max-amplification 1 still amplified"
PY
    if ip netns list | grep -q upcase-lab; then echo "FAIL lab: namespaces left behind" >&2; exit 1; fi
    echo "lab: at 5 % loss TCP lost 0 lines with a retransmission tail and kernel-counted resends, UDP lost ~10 %; the eavesdropper read the plain line and not the TLS one; the limits cut the reflection; nothing left behind"
}
check_lab
echo "system checks: 5 passed, 0 failed"
