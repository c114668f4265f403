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
