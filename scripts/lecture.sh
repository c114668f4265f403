#!/usr/bin/env bash
# The sockets lecture, item by item, each shown by a command: runs every
# demo of docs/lecture.md against servers it starts on free loopback ports,
# and prints what happened (docs/lecture.md quotes this output).
#
#   scripts/lecture.sh
#
# Every demo waits on the server's own state (its listening line,
# /stats.json, `ss`), never on a fixed sleep; every wait is bounded.
# Needs `ss` (iproute2), `strace` and python3 (scripts/install-system-packages.sh).
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in ss strace python3; do
    command -v "$tool" >/dev/null || { echo "lecture.sh: needs $tool" >&2; exit 2; }
done
cargo build --release --quiet -p upcase --bin upcase-server --bin upcase-client
bin=$PWD/target/release
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Polls "$@" every 50 ms until it succeeds; gives up loudly after 20 s.
wait_until() {
    local what=$1; shift
    for _ in $(seq 400); do "$@" && return 0; sleep 0.05; done
    echo "lecture.sh: gave up waiting for $what" >&2
    exit 1
}
serve() { # NAME ARGS... -> sets TCP, UDP and ADMIN to the announced addresses
    local name=$1; shift
    "$bin/upcase-server" --tcp 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=("$!")
    wait_until "$name's listening line" grep -q "tcp listening" "$work/$name.out"
    if [[ " $* " == *" --admin "* ]]; then
        wait_until "$name's admin line" grep -q "admin listening" "$work/$name.out"
    fi
    TCP=$(sed -n 's/^tcp listening on //p' "$work/$name.out")
    UDP=$(sed -n 's/^udp listening on //p' "$work/$name.out")
    ADMIN=$(sed -n 's/^admin listening on //p' "$work/$name.out")
}
show() { echo "\$ $*"; "$@" 2>&1 || true; }

# hold.py ADDR N [--ask]: opens N connections (with --ask, each sends a line
# and reads its reply first), prints "held N", keeps them open (at most 60 s).
cat >"$work/hold.py" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((host, int(port)))
    if "--ask" in sys.argv:
        s.sendall(b"hi\n")
        s.recv(16)
    held.append(s)
print(f"held {len(held)}", flush=True)
time.sleep(60)
PY
hold() { # OUT ADDR N [--ask]: starts hold.py in the background, waits until it holds them
    local out=$1; shift
    python3 "$work/hold.py" "$@" >"$work/$out" &
    pids+=("$!")
    HOLDER=$!
    wait_until "$out" grep -q "^held" "$work/$out"
}
# stat ADMIN KEY: one number from /stats.json ("busy": workers serving now).
stat() {
    python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/stats.json"))
key = sys.argv[2]
print(sum(w["busy"] for w in d["workers"]) if key == "busy" else d[key])
PY
}
stat_is() { [ "$(stat "$1" "$2")" = "$3" ]; }
established() { ss -Htn state established "( sport = :$1 )" | wc -l; }
established_is() { [ "$(established "$1")" -ge "$2" ]; }
listen_queue() { ss -Hltn "( sport = :$1 )" | awk '{print $2}'; }
listen_queue_is() { [ "$(listen_queue "$1")" = "$2" ]; }

echo "## 1. accept() returns a new socket for each client"
serve main --udp 127.0.0.1:0 --admin 127.0.0.1:0
port=${TCP##*:}
hold main-clients "$TCP" 3
wait_until "3 accepted clients" established_is "$port" 3
show ss -ltn "( sport = :$port )"
show ss -tn state established "( sport = :$port )"
kill "$HOLDER"

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
python3 - "$UDP" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"hi", (host, int(port)))
    s.recv(64)
print("(three UDP clients, three sockets of their own, were each answered)")
PY
show ss -uan "( sport = :${UDP##*:} )"
echo "(the server still has one socket; the three TCP clients of item 1 each had their own.)"

echo
echo "## 4. Stream vs datagram"
python3 - "$TCP" "$UDP" "$ADMIN" <<'PY'
import json, socket, sys, time, urllib.request
host, port = sys.argv[1].rsplit(":", 1)
bytes_in = lambda: json.load(urllib.request.urlopen(f"http://{sys.argv[3]}/stats.json"))["bytes_in"]
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
start = bytes_in()
sent = 0
for piece in (b"hel", b"lo\nwor", b"ld\n"):
    s.sendall(piece)
    sent += len(piece)
    # Wait (bounded) until the server has read this piece: three writes, three reads.
    deadline = time.time() + 10
    while bytes_in() - start < sent and time.time() < deadline:
        time.sleep(0.01)
s.shutdown(socket.SHUT_WR)
data = b""
while chunk := s.recv(4096):
    data += chunk
print(f"TCP: sent b'hel', b'lo\\nwor', b'ld\\n' in three writes -> the replies are lines: {data.splitlines(keepends=True)}")
uhost, uport = sys.argv[2].rsplit(":", 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
u.sendto(b"a\nb\n", (uhost, int(uport)))
reply = u.recv(64)
print(f"UDP: one datagram b'a\\nb\\n' -> one datagram back: {reply!r}")
PY

echo
echo "## 5. Where the third client of a 2-worker fixed-pool waits"
serve fixed --model fixed-pool --workers 2 --no-udp --admin 127.0.0.1:0
port=${TCP##*:}
hold fixed-held "$TCP" 2 --ask
wait_until "2 busy workers" stat_is "$ADMIN" busy 2
echo "two clients each sent a line and stay connected, quiet: workers busy $(stat "$ADMIN" busy) of 2, queued $(stat "$ADMIN" queued)"
echo "\$ echo hello | upcase-client --timeout 2 $TCP   # the third client"
echo hello | "$bin/upcase-client" --timeout 2 "$TCP" 2>&1 || true
echo "/stats.json: queued $(stat "$ADMIN" queued), connections_active $(stat "$ADMIN" connections_active)"
echo "listen queue (ss -ltn Recv-Q): $(listen_queue "$port")"
echo "(its connect() succeeded and the server accepted it: it waits in the pool's channel, not in accept().)"
hold fixed-more "$TCP" 6
wait_until "the channel to fill" stat_is "$ADMIN" queued 3
wait_until "the backlog to hold the rest" listen_queue_is "$port" 4
echo "six more clients connect; of the seven waiting, /stats.json counts $(stat "$ADMIN" queued) accepted (2 in the channel, 1 in the acceptor's hand, blocked sending it), and ss:"
show ss -ltn "( sport = :$port )"
echo "(a listening socket's Recv-Q is its accept queue: $(listen_queue "$port") clients whose handshake the kernel completed and nobody has accepted.)"

echo
echo "## 5b. A blocking connect(): a full backlog (--model iterative --backlog 1)"
serve iter --model iterative --backlog 1 --no-udp
port=${TCP##*:}
hold iter-held "$TCP" 1 --ask
iter_held=$HOLDER
hold iter-queued "$TCP" 2
wait_until "a full accept queue" listen_queue_is "$port" 2
show ss -ltn "( sport = :$port )"
python3 - "$TCP" >"$work/connect.out" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket()
s.settimeout(30)
start = time.time()
s.connect((host, int(port)))
print(f"connect() returned after {time.time() - start:.1f} s")
PY
connector=$!
pids+=("$connector")
syn_sent() { ss -Htn state syn-sent "( dport = :$port )" | grep -q .; }
wait_until "a connect in SYN-SENT" syn_sent
echo "a fourth client calls connect(): the kernel drops its SYN (the accept queue is full), so connect() blocks:"
show ss -tn state syn-sent "( dport = :$port )"
echo "the first client leaves; the server accepts the queued ones, and the SYN the client sends again gets in:"
kill "$iter_held"
wait "$connector" || true
cat "$work/connect.out"

echo
echo "## 6. The system calls (strace -ff -e trace=network,close: the server, model iterative, and its clients)"
(cd "$work" && exec strace -ff -e trace=network,close -o server "$bin/upcase-server" --model iterative \
    --tcp 127.0.0.1:0 --udp 127.0.0.1:0 >"$work/traced.out" 2>/dev/null) &
tracer=$!
pids+=("$tracer")
wait_until "the traced server" grep -q "udp listening" "$work/traced.out"
# Descriptor numbers are read from the trace itself, never assumed. strace
# -ff writes one file per thread, named after its id: the main thread's is the pid.
main=$(grep -l '^listen(' "$work"/server.*)
traced=${main##*.}
pids=("$traced" "${pids[@]}")
listener=$(sed -nE 's/^listen\(([0-9]+),.*/\1/p' "$main")
udp_fd=$(sed -nE 's/^socket\(AF_INET, SOCK_DGRAM.* = ([0-9]+)$/\1/p' "$main")
ttcp=$(sed -n 's/^tcp listening on //p' "$work/traced.out")
tudp=$(sed -n 's/^udp listening on //p' "$work/traced.out")
(cd "$work" && echo hello | strace -ff -e trace=network,close -o client "$bin/upcase-client" "$ttcp" >/dev/null)
(cd "$work" && echo datagram | strace -ff -e trace=network,close -o uclient "$bin/upcase-client" --udp "$tudp" >/dev/null)
# A call is written when it returns: wait for the connection's close and the UDP reply.
served() {
    acceptor=$(grep -lE "^accept4\($listener, \{" "$work"/server.* 2>/dev/null) || return 1
    conn=$(sed -nE "s/^accept4\($listener, \{.*\) = ([0-9]+)$/\1/p" "$acceptor" | head -1)
    grep -qE "^close\($conn\)" "$acceptor" && cat "$work"/server.* | grep -qE "^sendto\($udp_fd, \"DATAGRAM\""
}
wait_until "the traced server to serve both clients" served
kill -TERM "$traced"
wait "$tracer" 2>/dev/null || true
echo "server, main thread: the two sockets"
grep -E "^(socket\(AF_INET|bind\(|listen\()" "$main"
echo "server, the accepting thread: accept4 returns a new socket ($conn) and the client's address"
grep -E "^accept4\($listener, \{|^(recvfrom|sendto|close)\($conn[,)]" "$acceptor"
echo "server, the UDP thread: one socket ($udp_fd); each datagram arrives with its sender's address"
cat "$work"/server.* | grep -E "^(recvfrom|sendto)\($udp_fd, \"" | head -2
# A client's calls, thread by thread: from its socket() on (what comes
# before is the runtime's start-up), without the socket options.
client_calls() {
    local file
    for file in $(grep -l '^socket(AF_INET' "$work/$1".*) $(grep -L '^socket(AF_INET' "$work/$1".*); do
        if grep -q '^socket(AF_INET' "$file"; then sed -n '/^socket(AF_INET/,$p' "$file"; else cat "$file"; fi \
            | grep -vE 'EAGAIN|^(setsockopt|getsockopt|getsockname)\(|^(\+\+\+|---) ' || true
    done
}
echo "TCP client (upcase-client: its main thread connects and reads, a second thread writes on a clone of the socket):"
client_calls client
echo "UDP client (a connected UDP socket: connect() names the server once, so its sendto/recvfrom carry no address):"
client_calls uclient
echo
echo "## 7. TCP flow control: a client that stops reading"
serve flow --no-udp --admin 127.0.0.1:0
python3 - "$TCP" "$ADMIN" <<'PY'
import json, select, socket, sys, time, urllib.request
host, port = sys.argv[1].rsplit(":", 1)
stats = lambda: json.load(urllib.request.urlopen(f"http://{sys.argv[2]}/stats.json"))
before = stats()["resident_memory_bytes"]
s = socket.create_connection((host, int(port)))
s.setblocking(False)
line = b"a line whose reply this client will never read\n" * 1000
written = 0
start = time.time()
while time.time() - start < 20:
    try:
        written += s.send(line)
    except BlockingIOError:
        # Full: wait (bounded) for room; none within a second means the server stopped reading.
        if not select.select([], [s], [], 1.0)[1]:
            break
after = stats()
print(f"the client wrote {written / 1e6:.1f} MB, then its sends would block:")
print(f"  the server answered {after['lines']:,} lines and stopped reading this client "
      f"(its replies fill both kernels' buffers);")
print(f"  the server's memory: {before / 1e6:.1f} MB before, {after['resident_memory_bytes'] / 1e6:.1f} MB after")
PY
