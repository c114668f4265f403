#!/usr/bin/env bash
# Floods a running upcase server with sensible defaults.
#
#   scripts/flood.sh [--udp] [ADDR] [extra upcase-flood flags]
#
# ADDR defaults to 127.0.0.1:7878 (the server's default); --udp floods the
# UDP port at ADDR instead of TCP (upcase-flood's own --udp ADDR). Builds
# the release binaries first if needed. Examples:
#   scripts/flood.sh                                  # 16 TCP clients, 10 s ping-pong
#   scripts/flood.sh --udp                            # the same over UDP
#   scripts/flood.sh 127.0.0.1:7878 --pipeline 64 --clients 1 --line-bytes 128
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flood="$root/target/release/upcase-flood"
usage() {
    print_help "$0"
    echo
    echo "Defaults: --clients 16 --duration 10. Any upcase-flood flag may follow ADDR."
    echo "upcase-flood --help:"
    echo
    if [ -x "$flood" ]; then "$flood" --help; else echo "(not built yet: cargo build --release -p upcase-flood)"; fi
}
for arg in "$@"; do
    case "$arg" in -h|--help) usage; exit 0 ;; esac
done

if [ ! -x "$flood" ] || [ -n "$(find "$root/src" "$root/flood" -newer "$flood" -name '*.rs' -print -quit 2>/dev/null)" ]; then
    (cd "$root" && cargo build --release --quiet -p upcase-flood --bin upcase-flood)
fi

transport="--tcp"
if [ "${1-}" = "--udp" ]; then
    transport="--udp"
    shift
fi
addr="127.0.0.1:7878"
case "${1-}" in
    ""|-*) ;;
    *) addr="$1"; shift ;;
esac

defaults=(--clients 16)
if [[ " $* " != *" --lines "* ]] && [[ " $* " != *" --duration "* ]]; then
    defaults+=(--duration 10)
fi
exec "$flood" "$transport" "$addr" "${defaults[@]}" "$@"
