#!/usr/bin/env bash
# Installs the Debian 12 packages relay-authority needs to build and to run every test (unit,
# integration against a private MariaDB, end-to-end with a private Postfix / Dovecot / Sendmail).
# Idempotent: when everything is installed it changes nothing and needs neither root nor the network.
# Otherwise it must run as root; it runs `apt-get update` only then, and never starts services itself.
#
# Usage: scripts/install-deps.sh [--check]     --check: list what is missing, exit 1 if anything is
set -euo pipefail

# One list, one package a word. Add what your part needs here (and say so in your report).
RELAY_PACKAGES="
  build-essential cmake pkg-config ccache clang
  libmysqlcppconn-dev libboost-program-options-dev libboost-test-dev libboost-dev libboost-system-dev
  libssl-dev libmilter-dev libidn2-dev libcrypt-dev libcurl4-openssl-dev
  mariadb-server mariadb-client
  postfix dovecot-core dovecot-mysql dovecot-imapd sasl2-bin libsasl2-modules libsasl2-modules-db
  swaks libnet-ssleay-perl libio-socket-ssl-perl miltertest m4 openssl
  python3 util-linux iproute2 procps netcat-openbsd
  libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libwrap0 libssl3
  debhelper dpkg-dev fakeroot lintian adduser systemd
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 prometheus curl
"

missing_packages() {
    local package status
    for package in $RELAY_PACKAGES; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
        [ "$status" = "installed" ] || echo "$package"
    done
}

main() {
    local missing
    missing=$(missing_packages | tr '\n' ' ')
    missing=${missing% }
    if [ "${1:-}" = "--check" ]; then
        [ -z "$missing" ] && { echo "install-deps: all packages installed"; return 0; }
        echo "install-deps: missing: $missing"
        return 1
    fi
    if [ -z "$missing" ]; then
        echo "install-deps: all packages installed"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: $missing" >&2
        echo "install-deps: run as root (sudo $0) to install them" >&2
        return 1
    fi
    echo "install-deps: installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself; the tests run private instances, so: no configuration.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local apt_options=(-y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)
    apt-get -q -o DPkg::Lock::Timeout=600 update
    # shellcheck disable=SC2086  # the list is meant to split into words
    apt-get install "${apt_options[@]}" $missing
    missing=$(missing_packages | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then
        echo "install-deps: still missing after apt-get install: $missing" >&2
        return 1
    fi
    echo "install-deps: done"
}

main "$@"
