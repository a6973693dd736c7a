#!/bin/sh
# One entry point for a fresh Debian 12 machine (run as root), and for CI:
#
#   sh bootstrap.sh scan [nodeward scan options]   set up, then scan this machine
#   sh bootstrap.sh test [pytest options]          set up, then lint, type-check and test
#
# It installs what it needs itself (apt packages, a virtualenv in .venv, the project),
# so a green run here means a green run on a clean machine. Safe to run again.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mode=${1:-}
[ $# -gt 0 ] && shift

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# Packages for running nodeward, and the real daemons the tests drive.
scan_packages="python3 python3-venv python3-pip ca-certificates"
test_packages="$scan_packages openssh-server openssh-client sudo nftables iptables iproute2 util-linux procps openssl"

install_packages() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "missing Debian packages:$missing (run as root, or install them first)"
        exit 2
    fi
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

setup_venv() {
    # Debian's own python3 is the one a fresh machine has; fall back to PATH elsewhere.
    python=/usr/bin/python3
    [ -x "$python" ] || python=$(command -v python3)
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv with $python"
        "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    say "installing nodeward$1 into .venv"
    .venv/bin/python -m pip install -q -e ".$1"
}

case "$mode" in
scan)
    install_packages $scan_packages
    setup_venv ""
    exec .venv/bin/nodeward scan --local "$@"
    ;;
test)
    install_packages $test_packages
    setup_venv "[test]"
    say "ruff"
    .venv/bin/ruff check agent tests bench
    .venv/bin/ruff format --check agent tests bench
    say "mypy --strict"
    .venv/bin/mypy
    say "pytest"
    # pytest exits 5 when it collects nothing: that is a failure here, as it should be.
    exec .venv/bin/python -m pytest "$@"
    ;;
*)
    echo "usage: sh bootstrap.sh scan [scan options] | sh bootstrap.sh test [pytest options]" >&2
    exit 2
    ;;
esac
