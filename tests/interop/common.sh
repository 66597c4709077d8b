# Sourced by servers.sh and mailservers.sh (set SCRIPT_NAME first): the helpers both need.
# shellcheck shell=bash

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# install_packages HINT PKG...: install the missing packages with apt-get (idempotent; needs
# root), without letting them start their own services on the default ports. HINT tells users
# without apt-get what to install instead. A function `before_apt_install`, if the caller
# defines one, runs (as root) just before apt-get.
install_packages() {
    local hint=$1
    shift
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get is not available here; $hint"
        return 0
    fi
    local missing=() pkg
    for pkg in "$@"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "already installed: $*"
        return 0
    fi
    if ! is_root; then
        log "not root; run as root: $0 install   (missing: ${missing[*]})"
        return 0
    fi
    log "installing: ${missing[*]}"
    if declare -F before_apt_install >/dev/null; then
        before_apt_install
    fi
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
        # shellcheck disable=SC2064
        trap "rm -f '$policy'" EXIT
    fi
    local apt=(apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}"; then
        log "install failed; refreshing the package lists and retrying once"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}"
    fi
    if [ "$created_policy" = 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    log "installed: ${missing[*]}"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
}
