#!/usr/bin/env bash
# Installs the system packages the tests and system checks need (Debian):
# iproute2 (`ss`, `ip netns`), python3, Chromium (the admin page check),
# HAProxy (the rolling restart, `haproxy -c`), nginx with its stream module
# (libnginx-mod-stream: the UDP balancer in deploy/nginx-udp.conf), systemd
# (`systemd-analyze`, `systemd-socket-activate`), Prometheus (`prometheus`,
# `promtool`), nftables and tcpdump (the lab's packet loss and its
# eavesdropper), openssl and socat (TLS clients nobody here wrote:
# scripts/tls-checks.sh), dpkg and man-db (the .deb installed and its man
# page rendered: scripts/deb-checks.sh). Run as root; .ci/run calls
# it. Fails loudly if a package cannot be installed or a tool is missing
# afterwards.
#
# Packages come without their recommendations (prometheus would bring
# node_exporter). Debian starts a service on installation unless
# /usr/sbin/policy-rc.d says no (as it does in this image): the checks
# start their own nginx, HAProxy and Prometheus, on loopback or in a
# namespace, and stop them by pid.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
need=()
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v systemd-socket-activate >/dev/null 2>&1 || need+=(systemd)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v socat >/dev/null 2>&1 || need+=(socat)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for tool in ss ip python3 chromium haproxy nginx systemd-analyze systemd-socket-activate \
    prometheus promtool dpkg-deb man nft tcpdump strace taskset openssl socat; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing after install: $tool" >&2; exit 1; }
done
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] \
    || { echo "missing after install: nginx's stream module (libnginx-mod-stream)" >&2; exit 1; }
