#!/usr/bin/env bash
# The .deb as an operator gets it (CI runs this as root): builds it with
# scripts/package-deb.sh, installs it with `dpkg -i`, runs the INSTALLED
# /usr/bin/upcase-server --version (naming the commit) and serves a line
# from it to the installed client on a free loopback port, renders the
# man page with `man -l`, loads the bash completion, checks the conffile,
# then `dpkg --purge`s it and checks that no file of it is left.
#
#   scripts/deb-checks.sh
#
# Needs root, dpkg, man (man-db) and git; the bash completion is
# sourced directly (no bash-completion package needed). Refuses to run if a package named
# upcase is already installed (it would not be ours to remove).
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$root"
fail() { echo "FAIL deb: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
for tool in dpkg dpkg-deb man git; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-system-packages.sh)"
done
if dpkg-query -W -f='${Status}' upcase 2>/dev/null | grep -q installed; then
    fail "a package named upcase is installed already; not touching it"
fi
deb=$(scripts/package-deb.sh | tail -1)
echo "built $deb ($(du -h "$deb" | cut -f1))"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    dpkg --purge upcase >/dev/null 2>&1 || true
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
files=$(dpkg -L upcase)

version=$(/usr/bin/upcase-server --version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
expected="upcase-server $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)${commit:+ ($commit)}"
[ "$version" = "$expected" ] || fail "installed --version says '$version', expected '$expected'"
echo "installed: $version"

out=$(mktemp)
/usr/bin/upcase-server --tcp 127.0.0.1:0 --udp 127.0.0.1:0 >"$out" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do grep -q '^tcp listening on' "$out" && break; sleep 0.05; done
tcp=$(sed -n 's/^tcp listening on //p' "$out")
[ -n "$tcp" ] || fail "the installed server did not announce its port"
reply=$(echo "hello from the deb" | /usr/bin/upcase-client "$tcp")
[ "$reply" = "HELLO FROM THE DEB" ] || fail "the installed server answered '$reply'"
kill -TERM "$server_pid"; wait "$server_pid" || fail "the installed server did not stop cleanly"
server_pid=""; rm -f "$out"
echo "served: hello from the deb -> $reply"

page=$(MANWIDTH=200 man -l /usr/share/man/man1/upcase-server.1.gz 2>&1) || fail "man -l failed: $page"
grep -q -- '--max-connections' <<<"$page" || fail "the man page lacks --max-connections"
grep -q 'UPCASE_MAX_CONNECTIONS' <<<"$page" || fail "the man page lacks the environment variables"
echo "man -l upcase-server.1.gz: $(wc -l <<<"$page") lines, flags and variables present"
for bin in upcase-server upcase-client upcase-flood; do
    bash -c "complete() { builtin complete \"\$@\"; }; . /usr/share/bash-completion/completions/$bin; complete -p $bin" \
        >/dev/null 2>&1 || fail "the bash completion of $bin does not load"
    [ -s "/usr/share/zsh/vendor-completions/_$bin" ] && [ -s "/usr/share/fish/vendor_completions.d/$bin.fish" ] \
        || fail "zsh or fish completion of $bin missing"
done
echo "completions: bash loads for all three; zsh and fish installed"
[ "$(dpkg-query -W -f='${Conffiles}' upcase | awk '{print $1}')" = /etc/default/upcase ] \
    || fail "/etc/default/upcase is not a conffile"
echo "conffile: /etc/default/upcase"

dpkg --purge upcase >/dev/null || fail "dpkg --purge upcase"
left=""
while read -r path; do
    if [ ! -d "$path" ] && { [ -e "$path" ] || [ -L "$path" ]; }; then left+=" $path"; fi
done <<<"$files"
[ -z "$left" ] || fail "left after purge:$left"
dpkg-query -W upcase >/dev/null 2>&1 && fail "dpkg still knows upcase"
echo "purged: no file of the package left"
