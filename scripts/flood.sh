#!/usr/bin/env bash
# Floods a running upcase server with sensible defaults.
#
#   scripts/flood.sh [ADDR] [extra upcase-flood flags]
#
# ADDR defaults to 127.0.0.1:7878 (the server's default). Builds the
# release binaries first if needed. Examples:
#   scripts/flood.sh                                  # 16 TCP clients, 10 s ping-pong
#   scripts/flood.sh 127.0.0.1:7878 --udp-mode        # the same over UDP
#   scripts/flood.sh 127.0.0.1:7878 --pipeline 64 --clients 1 --line-bytes 128
set -euo pipefail

usage() {
    sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    echo
    echo "Defaults: --clients 16 --duration 10. Any upcase-flood flag may follow ADDR;"
    echo "--udp-mode floods the UDP port at ADDR instead of TCP. upcase-flood --help:"
    echo
    "$flood" --help
}

root="$(cd "$(dirname "$0")/.." && pwd)"
flood="$root/target/release/upcase-flood"
if [ ! -x "$flood" ] || [ -n "$(find "$root/src" -newer "$flood" -name '*.rs' -print -quit)" ]; then
    (cd "$root" && cargo build --release --quiet --bin upcase-flood)
fi

addr="127.0.0.1:7878"
if [ $# -gt 0 ]; then
    case "$1" in
        -h|--help) usage; exit 0 ;;
        -*) ;;
        *) addr="$1"; shift ;;
    esac
fi

transport="--tcp"
extra=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --udp-mode) transport="--udp" ;;
        *) extra+=("$arg") ;;
    esac
done

defaults=(--clients 16)
if [[ " ${extra[*]-} " != *" --lines "* ]] && [[ " ${extra[*]-} " != *" --duration "* ]]; then
    defaults+=(--duration 10)
fi
exec "$flood" "$transport" "$addr" "${defaults[@]}" "${extra[@]}"
