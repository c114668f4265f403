#!/usr/bin/env bash
# Installs the system packages the tests and system checks need (Debian):
# iproute2 (`ss`, `ip netns`), python3, Chromium (the admin page check),
# HAProxy (the rolling restart), nftables (the packet-loss lab). Run as
# root; .ci/run calls it. Fails loudly if a package cannot be installed.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
need=()
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for tool in ss ip python3 chromium haproxy nft strace taskset; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing after install: $tool" >&2; exit 1; }
done
