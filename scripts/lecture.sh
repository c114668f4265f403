#!/usr/bin/env bash
# The sockets lecture, item by item, each shown by a command: runs every
# demo of docs/lecture.md against servers it starts on free loopback ports,
# and prints what happened (docs/lecture.md quotes this output).
#
#   scripts/lecture.sh
#
# Needs `ss` (iproute2), `strace` and python3 (scripts/install-system-packages.sh).
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in ss strace python3; do
    command -v "$tool" >/dev/null || { echo "lecture.sh: needs $tool" >&2; exit 2; }
done
cargo build --release --quiet
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

serve() { # NAME ARGS... -> sets TCP and UDP to the announced addresses
    local name=$1; shift
    "$bin/upcase-server" --tcp 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=("$!")
    for _ in $(seq 200); do grep -q "tcp listening" "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
    TCP=$(sed -n 's/^tcp listening on //p' "$work/$name.out")
    UDP=$(sed -n 's/^udp listening on //p' "$work/$name.out")
}
show() { echo "\$ $*"; "$@" 2>&1 || true; }

echo "## 1. accept() returns a new socket for each client"
serve main --udp 127.0.0.1:0
port=${TCP##*:}
python3 - "$TCP" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
clients = [socket.create_connection((host, int(port))) for _ in range(3)]
time.sleep(3)
PY
pids+=("$!")
sleep 0.5
show ss -ltn "( sport = :$port )"
show ss -tn state established "( sport = :$port )"

echo
echo "## 2. Which address does the client connect to?"
echo "\$ echo hello | upcase-client $TCP"; echo hello | "$bin/upcase-client" "$TCP" 2>&1
echo "\$ echo hello | upcase-client 127.0.0.1:1        # the wrong port"; echo hello | "$bin/upcase-client" 127.0.0.1:1 2>&1 || true
echo "\$ echo hello | upcase-client $port              # no host"; echo hello | "$bin/upcase-client" "$port" 2>&1 || true
echo "\$ echo hello | upcase-client 0.0.0.0:$port      # the wildcard: on Linux, this machine"; echo hello | "$bin/upcase-client" "0.0.0.0:$port" 2>&1 || true
echo "\$ echo hello | upcase-client --udp $TCP         # UDP to the TCP port (same number, other protocol)"
echo hello | "$bin/upcase-client" --udp "$TCP" 2>&1 || true

echo
echo "## 3. UDP is connectionless: one socket serves every client"
python3 - "$UDP" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"hi", (host, int(port)))
    s.recv(64)
time.sleep(2)
PY
pids+=("$!")
sleep 0.5
show ss -uan "( sport = :${UDP##*:} )"
echo "(three UDP clients were answered; the server still has one socket. The three TCP clients above each had their own.)"

echo
echo "## 4. Stream vs datagram"
python3 - "$TCP" "$UDP" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
for piece in (b"hel", b"lo\nwor", b"ld\n"):
    s.sendall(piece)
    time.sleep(0.05)
s.shutdown(socket.SHUT_WR)
data = b""
while chunk := s.recv(4096):
    data += chunk
print(f"TCP: sent b'hel', b'lo\\nwor', b'ld\\n' in three writes -> the replies are lines: {data.splitlines(keepends=True)}")
uhost, uport = sys.argv[2].rsplit(":", 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"a\nb\n", (uhost, int(uport)))
reply = u.recv(64)
print(f"UDP: one datagram b'a\\nb\\n' -> one datagram back: {reply!r}")
PY

echo
echo "## 5. connect() and accept() block: the fifth client of a 4-worker fixed-pool"
serve fixed --model fixed-pool --workers 4 --no-udp
python3 - "$TCP" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = [socket.create_connection((host, int(port))) for _ in range(4)]
time.sleep(6)
PY
pids+=("$!")
sleep 0.5
echo "\$ echo hello | upcase-client --timeout 2 $TCP   # the fifth client"
echo hello | "$bin/upcase-client" --timeout 2 "$TCP" 2>&1 || true
echo "(its connect() succeeded: the kernel completed the handshake and queued it in the listen backlog;"
echo " four workers each block in read() on an idle client, and the fifth waits for accept()."
echo " With --workers 4 the channel holds 4 more before the acceptor itself blocks.)"

echo
echo "## 6. The system calls (strace -f -e trace=network, model iterative)"
strace -f -e trace=network -o "$work/trace" "$bin/upcase-server" --model iterative \
    --tcp 127.0.0.1:0 --udp 127.0.0.1:0 >"$work/traced.out" 2>/dev/null &
tracer=$!
pids+=("$tracer")
for _ in $(seq 200); do grep -q "udp listening" "$work/traced.out" 2>/dev/null && break; sleep 0.05; done
ttcp=$(sed -n 's/^tcp listening on //p' "$work/traced.out")
tudp=$(sed -n 's/^udp listening on //p' "$work/traced.out")
echo hello | "$bin/upcase-client" "$ttcp" >/dev/null
echo datagram | "$bin/upcase-client" --udp "$tudp" >/dev/null
pkill -TERM -P "$tracer" || true
wait "$tracer" 2>/dev/null || true
grep -E 'socket\(AF_INET|bind\(|listen\(|accept4\(3,|recvfrom\((4|1[0-9]),|sendto\((4|1[0-9]),' "$work/trace" \
    | grep -v EAGAIN | sed -E 's/^[0-9]+ +//' | head -16

echo
echo "## 7. TCP flow control: a client that stops reading"
serve flow --no-udp --admin 127.0.0.1:0
admin=$(sed -n 's/^admin listening on //p' "$work/flow.out")
python3 - "$TCP" "$admin" <<'PY'
import json, socket, sys, time, urllib.request
host, port = sys.argv[1].rsplit(":", 1)
stats = lambda: json.load(urllib.request.urlopen(f"http://{sys.argv[2]}/stats.json"))
before = stats()["resident_memory_bytes"]
s = socket.create_connection((host, int(port)))
s.setblocking(False)
line = b"a line whose reply this client will never read\n" * 1000
written = 0
start = time.time()
while time.time() - start < 10:
    try:
        written += s.send(line)
    except BlockingIOError:
        time.sleep(0.2)
        try:
            written += s.send(line)
        except BlockingIOError:
            break
after = stats()
print(f"the client wrote {written / 1e6:.1f} MB, then its sends would block:")
print(f"  the server answered {after['lines']:,} lines and stopped reading this client "
      f"(its replies fill both kernels' buffers);")
print(f"  the server's memory: {before / 1e6:.1f} MB before, {after['resident_memory_bytes'] / 1e6:.1f} MB after")
PY
