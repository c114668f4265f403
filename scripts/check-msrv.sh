#!/usr/bin/env bash
# Checks that Cargo.toml's rust-version is the real minimum: no crate in
# Cargo.lock's resolved graph needs a newer Rust. Prints the requirement
# that sets the minimum. (Only one toolchain is installable here, so this
# checks the lock's own declared requirements instead of building with an
# older compiler.)
. "$(dirname "$0")/lib.sh"; answer_help "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n "s/^host: //p")
cargo metadata --quiet --format-version 1 --locked --filter-platform "$host" | python3 -c '
import json, sys
meta = json.load(sys.stdin)
key = lambda v: tuple((list(map(int, v.split("."))) + [0, 0])[:3])  # "1.88" == "1.88.0"
ours = next(p for p in meta["packages"] if p["name"] == "upcase")["rust_version"]
needs = [(p["rust_version"], p["name"]) for p in meta["packages"] if p.get("rust_version") and p["name"] != "upcase"]
top, who = max(needs, key=lambda n: key(n[0]))
print(f"upcase declares rust-version {ours}; the highest a dependency needs is {top} ({who})")
if key(top) > key(ours):
    sys.exit(f"rust-version {ours} is too low: {who} needs {top}")
'
