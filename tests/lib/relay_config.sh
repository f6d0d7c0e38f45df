# shellcheck shell=bash
# The relay-authority configuration files the test scripts write: one writer and the sections most tests
# share, so that each test spells out only the settings that matter to it.
#
#   relay_write_config FILE LINE...   writes FILE, mode 0600 (it holds a database password), LINE after
#                                     LINE; a LINE may hold several lines (one of the sections below, or a
#                                     test's extra text), an empty LINE is left out. A section may be named
#                                     again further down: the daemons' reader continues it.
#   relay_policyd_section PORT|LISTEN...   "[policyd]" listening on each LISTEN (a bare PORT means
#                                     inet:127.0.0.1:PORT), user and group root with allow_root: the tests
#                                     have no "relay" account to drop to. More [policyd] lines may follow.
#   relay_milter_section PORT         "[milter]" on inet:PORT@127.0.0.1, as root likewise.
#   relay_hosts_section USER PASSWORD PORT...
#                                     "[database]" on the servers 127.0.0.1:PORT... (a Galera cluster's
#                                     nodes), database relay_authority; more [database] lines may follow.
# The [database] section of a private MariaDB on its socket: mariadb_database_section (mariadb.sh).

relay_write_config() {
    local file=$1 line
    shift
    : >"$file" && chmod 0600 "$file" || return 1
    for line in "$@"; do
        if [ -n "$line" ]; then printf '%s\n' "$line"; fi
    done >>"$file"
}

relay_policyd_section() {
    local listen
    echo "[policyd]"
    for listen in "$@"; do
        case $listen in
            *[!0-9]*) echo "listen = $listen" ;;
            *) echo "listen = inet:127.0.0.1:$listen" ;;
        esac
    done
    printf 'user = root\ngroup = root\nallow_root = yes\n'
}

relay_milter_section() {
    printf '[milter]\nlisten = inet:%s@127.0.0.1\nuser = root\ngroup = root\nallow_root = yes\n' "$1"
}

relay_hosts_section() {
    local user=$1 password=$2 port
    shift 2
    echo "[database]"
    for port in "$@"; do echo "host = 127.0.0.1:$port"; done
    printf 'user = %s\npassword = %s\nname = relay_authority\n' "$user" "$password"
}
