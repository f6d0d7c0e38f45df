#!/bin/bash
# The Debian packages as an admin gets them: build them from a copy of the tree (dpkg-buildpackage -b,
# with ccache), lintian (an error fails the test), install them with dpkg on this machine, check the
# files, the system user, the conffile's mode, the installed units (systemd-analyze verify), run the
# installed relay-policyd --check-config and relayctl db init against a private MariaDB, start the
# installed relay-policyd as root so that it drops to the relay user, ask it one policy request, then
# purge the packages and check that only what Debian policy keeps is left (the system user).
#
#   tests/e2e/test_packages.sh BUILD_DIR          (ctest: e2e_packages)
#
# Root only (dpkg -i on this machine): exit 77 when not root. It refuses to run when the packages are
# already installed (it would purge an admin's installation). The package tree is copied to the fixed
# path BUILD_DIR/e2e-packages/src/relay-authority-VERSION, so that ccache (CCACHE_DIR: the user's
# default cache) finds the previous run's objects. relay-policyd listens on 127.0.0.1:12290.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e mariadb; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_POLICY=12290
PACKAGES=(relay-authority-common relay-policyd relay-milter)
CONF=/etc/relay-authority/relay-authority.conf
DB_NAME=relay_authority
DB_USER=relay_pkgtest
DB_PASSWORD='pkg#test-pw'   # a '#': the conffile must quote it
ALICE="sasl_method=PLAIN;sasl_username=alice@example.com;sender=alice@example.com"

[ "$(id -u)" -eq 0 ] || skip "dpkg -i needs root"
e2e_init packages "$BUILD_DIR"
for pkg in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qv '^not-installed$'; then
        not_ok "$pkg is not installed before the test" "the test installs and purges it; remove it first"
        e2e_finish
    fi
done
missing=
for prog in dpkg-buildpackage dh lintian fakeroot systemd-analyze adduser mariadbd mariadb python3; do
    command -v "$prog" >/dev/null 2>&1 || missing="$missing $prog"
done
if [ -n "$missing" ]; then
    not_ok "build and test tools installed" "missing:$missing (scripts/install-deps.sh)"
    e2e_finish
fi

VERSION=$(dpkg-parsechangelog -l "$SRC_DIR/debian/changelog" -S Version)
UPSTREAM=${VERSION%-*}
TREE=$E2E_DIR/src/relay-authority-$UPSTREAM

# ---- build
mkdir -p "$TREE"
(cd "$SRC_DIR" && tar -c --exclude=./.git --exclude=./build --exclude='./build-*' --exclude='./_build*' \
    --exclude=./run --exclude="./${E2E_BUILD_DIR#"$SRC_DIR"/}" .) | tar -x -C "$TREE"
build_start=$(e2e_now_ms)
if (cd "$TREE" && CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$TREE CCACHE_NOHASHDIR=1 \
        DEB_BUILD_OPTIONS="nocheck parallel=2" nice dpkg-buildpackage -us -uc -b) >"$E2E_DIR/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b ($(( ($(e2e_now_ms) - build_start) / 1000 )) s)"
else
    not_ok "dpkg-buildpackage -us -uc -b"
    e2e_show_file "$E2E_DIR/build.log" 40
    e2e_finish
fi
ARCH=$(dpkg --print-architecture)
DEBS=()
for pkg in "${PACKAGES[@]}"; do DEBS+=("$E2E_DIR/src/${pkg}_${VERSION}_$ARCH.deb"); done
CHANGES=$E2E_DIR/src/relay-authority_${VERSION}_$ARCH.changes

# ---- lintian: errors fail; warnings are shown
lintian --fail-on error --suppress-tags-from-file /dev/null "$CHANGES" >"$E2E_DIR/lintian.log" 2>&1
lintian_status=$?
if [ "$lintian_status" -eq 0 ]; then
    ok "lintian: no errors ($(grep -c '^W:' "$E2E_DIR/lintian.log") warnings)"
else
    not_ok "lintian: no errors (exit $lintian_status)" "$(grep -v '^[IPN]:' "$E2E_DIR/lintian.log" | head -30)"
fi
grep '^W:' "$E2E_DIR/lintian.log" | sed 's/^/# lintian /'

# ---- install
purge_if_installed() {  # at exit, after a failed check: leave the machine as it was
    dpkg-query -W -f='${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -qv '^not-installed$' &&
        dpkg --purge "${PACKAGES[@]}" >/dev/null
}
e2e_defer purge_if_installed
if dpkg -i "${DEBS[@]}" >"$E2E_DIR/install.log" 2>&1; then
    ok "dpkg -i ${PACKAGES[*]}"
else
    not_ok "dpkg -i ${PACKAGES[*]}" "$(tail -20 "$E2E_DIR/install.log")"
    e2e_finish
fi
INSTALLED_FILES=$(dpkg -L "${PACKAGES[@]}" | sort -u)

expect_files() {
    local file
    for file in "$@"; do [ -f "$file" ] || { echo "# missing: $file"; return 1; }; done
}
check_cmd "daemons in /usr/sbin, tools in /usr/bin" \
    expect_files /usr/sbin/relay-policyd /usr/sbin/relay-milter /usr/bin/relayctl /usr/bin/policy-bench
check_cmd "migrations in /usr/share/relay-authority/sql" \
    expect_files /usr/share/relay-authority/sql/migrations/001_initial.sql
man_ok=yes
for page in man8/relay-policyd.8 man8/relay-milter.8 man8/relayctl.8 man1/policy-bench.1; do
    [ -f "/usr/share/man/$page.gz" ] || man_ok="no: /usr/share/man/$page.gz"
done
check_cmd "man pages installed ($man_ok)" test "$man_ok" = yes
check_cmd "systemd units installed" \
    expect_files /lib/systemd/system/relay-policyd.service /lib/systemd/system/relay-milter.service
check_cmd "example configuration and contrib in the common package's examples" \
    expect_files /usr/share/doc/relay-authority-common/examples/relay-authority.conf.example
check_cmd "tests are not installed" test -z "$(printf '%s\n' "$INSTALLED_FILES" | grep -E 'unit_tests|integration_tests|/tests/')"
check_cmd "only relay-milter needs libmilter" \
    test "$(dpkg-query -W -f='${Depends}' relay-milter | grep -c libmilter):$(dpkg-query -W -f='${Depends}' \
        relay-policyd relay-authority-common | grep -c libmilter)" = "1:0"

passwd=$(getent passwd relay)
check_cmd "system user relay: home /var/lib/relay-authority, shell nologin ($passwd)" \
    test "$(echo "$passwd" | cut -d: -f6,7)" = "/var/lib/relay-authority:/usr/sbin/nologin"
state=$(stat -c '%a %U:%G' /var/lib/relay-authority 2>&1)
check_cmd "state directory /var/lib/relay-authority is 750 relay:relay ($state)" test "$state" = "750 relay:relay"
check_cmd "system user relay is a system account (uid < 1000)" test "$(id -u relay)" -lt 1000
known() { getent "$1" "$2" >/dev/null; }  # known passwd|group NAME
check_cmd "system group relay" known group relay
check_cmd "$CONF is a conffile" grep -qx " *$CONF [0-9a-f]*" <(dpkg-query -W -f='${Conffiles}\n' relay-authority-common)
check_cmd "$CONF is 0640 root:relay ($(stat -c '%a %U:%G' "$CONF"))" test "$(stat -c '%a %U:%G' "$CONF")" = "640 root:relay"
enabled=$(find /etc/systemd/system -name 'relay-*.service' 2>/dev/null | wc -l)
check_cmd "units neither enabled nor started at installation ($enabled enabled)" test "$enabled" -eq 0

/usr/sbin/relay-policyd --config "$CONF" --check-config >"$E2E_DIR/check-config.out" 2>&1
status=$?
check_cmd "installed relay-policyd --check-config accepts the shipped configuration (exit $status)" test "$status" -eq 0
[ "$status" -eq 0 ] || e2e_show_file "$E2E_DIR/check-config.out"

# systemd-analyze verify needs no running systemd: it loads the unit files, checks that ExecStart*
# programs exist and that the Documentation= man pages open.
for unit in relay-policyd relay-milter; do
    if systemd-analyze verify "/lib/systemd/system/$unit.service" >"$E2E_DIR/verify-$unit.log" 2>&1; then
        ok "systemd-analyze verify $unit.service"
    else
        not_ok "systemd-analyze verify $unit.service" "$(cat "$E2E_DIR/verify-$unit.log")"
    fi
done

# ---- the database, as an admin sets it up (docs/install.md)
e2e_defer mariadb_stop
if ! mariadb_start "$E2E_DIR/db"; then
    not_ok "private MariaDB starts"
    e2e_finish
fi
# The daemon connects after dropping to relay: it must reach the socket.
chmod 0755 "$(dirname "$MARIADB_SOCKET")"
mariadb_sql -e "CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    CREATE USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
    GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost'"
# The admin edits the conffile in place: owner and mode stay.
sed -i -e "s|^# socket =.*|socket = $MARIADB_SOCKET|" \
    -e "0,/^# user = relay\$/s||user = $DB_USER|" -e "s|^# password =.*|password = \"$DB_PASSWORD\"|" \
    -e "s|^# listen = inet:127.0.0.1:10040|listen = inet:127.0.0.1:$PORT_POLICY|" "$CONF"
check_cmd "the edited conffile kept 0640 root:relay" test "$(stat -c '%a %U:%G' "$CONF")" = "640 root:relay"

if (cd / && relayctl db init) >"$E2E_DIR/db-init.log" 2>&1 &&
        grep -q "schema version is now" "$E2E_DIR/db-init.log"; then
    ok "installed relayctl db init applies the installed migrations"
else
    not_ok "installed relayctl db init applies the installed migrations" "$(cat "$E2E_DIR/db-init.log")"
fi
mariadb_sql "$DB_NAME" </usr/share/relay-authority/sql/sample-data.sql >"$E2E_DIR/sample.log" 2>&1 ||
    not_ok "sample data loads" "$(cat "$E2E_DIR/sample.log")"

# ---- the installed daemon, started as the unit starts it: as root, it drops to relay
e2e_ports_free "$PORT_POLICY" || e2e_finish
e2e_start_bg "$E2E_DIR/policyd.log" /usr/sbin/relay-policyd --config "$CONF" --foreground
POLICYD_PID=$E2E_BG_PID
e2e_defer stop_pid "$POLICYD_PID"
if e2e_wait_port 127.0.0.1 "$PORT_POLICY" 30 "$POLICYD_PID"; then
    ok "installed relay-policyd listens on 127.0.0.1:$PORT_POLICY"
    uids=$(awk '/^Uid:/ {print $2 "/" $3}' "/proc/$POLICYD_PID/status")
    check_cmd "it runs as relay ($uids)" test "$uids" = "$(id -u relay)/$(id -u relay)"
    answer=$(timeout 20 python3 "$SRC_DIR/tests/integration/policyd/policy_client.py" --timeout 5 \
        "inet:127.0.0.1:$PORT_POLICY" "$ALICE" 2>&1)
    check_cmd "a policy request for alice@example.com: DUNNO (got '$answer')" test "$answer" = DUNNO
else
    not_ok "installed relay-policyd listens on 127.0.0.1:$PORT_POLICY"
    e2e_show_file "$E2E_DIR/policyd.log"
fi
stop_pid "$POLICYD_PID"

# ---- purge: nothing left but the system user (Debian policy keeps it: files may still belong to it)
dpkg --purge "${PACKAGES[@]}" >"$E2E_DIR/purge.log" 2>&1
check_cmd "dpkg --purge ${PACKAGES[*]}" test $? -eq 0
left=
while IFS= read -r path; do
    [ -n "$path" ] && [ -f "$path" ] && left="$left $path"
done <<<"$INSTALLED_FILES"
check_cmd "no packaged file is left${left:+:$left}" test -z "$left"
check_cmd "/etc/relay-authority is gone (conffile purged)" test ! -e /etc/relay-authority
check_cmd "/var/lib/relay-authority (the audit spool) is gone" test ! -e /var/lib/relay-authority
check_cmd "no dpkg-statoverride left" test -z "$(dpkg-statoverride --list | grep relay-authority)"
check_cmd "the relay user is kept, as Debian policy asks" known passwd relay
e2e_finish
