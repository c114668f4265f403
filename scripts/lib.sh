#!/usr/bin/env bash
# What every script in scripts/ shares, in one place. Each script sources
# it first thing, before it does anything else:
#
#   . "$(dirname "$0")/lib.sh"; answer_help "$@"
#
# so that `SCRIPT --help` (or -h) prints the script's usage, from the
# comment block at its top, and exits 0 without running anything (an
# installer run as root must not install when asked for help).

# The repository's top level.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Prints the comment block at the top of script $1 (after the #! line).
print_help() {
    sed -n '2,/^[^#]/p' "$1" | grep '^#' | sed 's/^# \{0,1\}//'
}

# Exits 0 after printing the calling script's usage if any argument asks for it.
answer_help() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            -h|--help) print_help "$0"; exit 0 ;;
        esac
    done
}

# ---- Servers in a network namespace of the script's own ----
# For the scripts that start several instances (deploy-checks.sh,
# rolling-restart.sh): `ns_begin PREFIX` makes $work (a temporary folder)
# and the namespace $ns (PREFIX-PID, loopback up), and on exit stops by pid
# everything started with `spawn`, then removes both. The host's network
# is never touched.

# `wait_until SECONDS COMMAND...`: polls COMMAND every 50 ms; fails after SECONDS.
wait_until() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}
not_running() { ! kill -0 "$1" 2>/dev/null; }

ns_begin() {
    work=$(mktemp -d)
    ns="$1-$$"
    pids=()   # the real pids of what runs in the namespace (not subshells)
    trap ns_cleanup EXIT INT TERM
    ip netns add "$ns"
    inns ip link set lo up
}
inns() { ip netns exec "$ns" "$@"; }

# `spawn PIDFILE CMD...`: CMD in the namespace, in the background; it
# writes its own pid and execs (`$!` would be a subshell, and `ip netns
# exec` may fork). `pid_of PIDFILE` waits for it: the pid goes to
# $last_pid and to pids.
spawn() {
    local pidfile=$1; shift
    rm -f "$pidfile"
    inns sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" &
}
pid_of() {
    wait_until 10 test -s "$1" || { echo "FAIL: no pid in $1" >&2; exit 1; }
    last_pid=$(cat "$1")
    pids+=("$last_pid")
}

# SIGTERM to each pid, up to 10 s for each to exit (then SIGKILL); fails,
# naming them, if anything it started or anything in $ns is still running.
stop_all() {
    local pid left
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait_until 10 not_running "$pid" || kill -KILL "$pid" 2>/dev/null || true; done
    left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+="$pid "; done
    if [ -n "${left// /}" ]; then
        echo "FAIL: still running after the stop: $left" >&2
        # shellcheck disable=SC2086 # one pid per word
        kill -KILL $left 2>/dev/null || true
        return 1
    fi
    pids=()
}
ns_cleanup() {
    stop_all || true
    wait 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}

# `start_instance N ADDRESS FLAGS...`: $bin/upcase-server serving TCP and
# UDP on ADDRESS in the namespace, its pid in ${instance[N]}; its output in
# $work/upN.out, its log appended to $work/upN.log. Returns once it serves
# UDP (the last listener it announces).
declare -A instance
start_instance() {
    local n=$1 address=$2; shift 2
    rm -f "$work/up$n.out"
    spawn "$work/up$n.pid" "$bin/upcase-server" --tcp "$address" --udp "$address" "$@" \
        >"$work/up$n.out" 2>>"$work/up$n.log"
    pid_of "$work/up$n.pid"
    instance[$n]=$last_pid
    wait_until 10 grep -qs "udp listening" "$work/up$n.out" \
        || { echo "FAIL: instance $n did not start: $(cat "$work/up$n.log")" >&2; exit 1; }
}

# `json_field FILE KEY...`: the values of KEYs in the JSON object in FILE, on one line.
json_field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(*(r[k] for k in sys.argv[2:]))' "$@"; }
