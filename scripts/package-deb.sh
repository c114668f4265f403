#!/usr/bin/env bash
# Builds target/deb/upcase_VERSION_ARCH.deb with dpkg-deb from an
# assembled tree: upcase-server, upcase-client and upcase-flood in
# /usr/bin, the units from deploy/ in /lib/systemd/system,
# /etc/default/upcase as a conffile, man pages and bash/zsh/fish
# completions generated from the programs' clap definitions
# (gen-docs/). Prints the .deb's path as its last line.
#
#   scripts/package-deb.sh            build the release binaries, then the .deb
#
# No cargo-deb: dpkg-deb ships with dpkg, and installing cargo-deb costs CI
# minutes of compiling. Needs dpkg-deb and gzip.
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$root"
for tool in dpkg-deb dpkg gzip; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-system-packages.sh)" >&2; exit 1; }
done
cargo build --release --quiet -p upcase -p upcase-flood -p upcase-gen-docs \
    --bin upcase-server --bin upcase-client --bin upcase-flood --bin upcase-gen-docs
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
name="upcase_${version}_${arch}"
tree="target/deb/$name"
rm -rf "$tree" "target/deb/$name.deb"
install -d "$tree/DEBIAN" "$tree/usr/bin" "$tree/lib/systemd/system" "$tree/etc/default" \
    "$tree/usr/share/man/man1" "$tree/usr/share/bash-completion/completions" \
    "$tree/usr/share/zsh/vendor-completions" "$tree/usr/share/fish/vendor_completions.d" \
    "$tree/usr/share/doc/upcase"
for bin in upcase-server upcase-client upcase-flood; do
    install -m 0755 -s "target/release/$bin" "$tree/usr/bin/$bin"
done
install -m 0644 deploy/upcase.service deploy/upcase.socket "$tree/lib/systemd/system/"
install -m 0644 deploy/upcase.default "$tree/etc/default/upcase"

generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
target/release/upcase-gen-docs "$generated"
for page in "$generated"/man1/*.1; do
    gzip -9n <"$page" >"$tree/usr/share/man/man1/$(basename "$page").gz"
done
for bin in upcase-server upcase-client upcase-flood; do
    install -m 0644 "$generated/completions/bash/$bin.bash" "$tree/usr/share/bash-completion/completions/$bin"
    install -m 0644 "$generated/completions/zsh/_$bin" "$tree/usr/share/zsh/vendor-completions/_$bin"
    install -m 0644 "$generated/completions/fish/$bin.fish" "$tree/usr/share/fish/vendor_completions.d/$bin.fish"
done
cat >"$tree/usr/share/doc/upcase/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: upcase

Files: *
License: MIT or Apache-2.0
COPYRIGHT

echo /etc/default/upcase >"$tree/DEBIAN/conffiles"
size=$(du -ks --exclude=DEBIAN "$tree" | cut -f1)
cat >"$tree/DEBIAN/control" <<CONTROL
Package: upcase
Version: $version
Architecture: $arch
Maintainer: upcase maintainers <upcase@localhost>
Installed-Size: $size
Depends: libc6
Section: net
Priority: optional
Description: TCP + UDP uppercase service on a hand-built thread pool
 upcase-server answers every line (TCP) or datagram (UDP) uppercased;
 upcase-client talks to it; upcase-flood loads it and checks every reply.
 systemd units (socket activation) and /etc/default/upcase included.
CONTROL
dpkg-deb --root-owner-group --build "$tree" "target/deb/$name.deb" >/dev/null
echo "target/deb/$name.deb"
