# shellcheck shell=bash
# A real Postfix with relay-milter in smtpd_milters (contrib/postfix/milter.cf as pasted), Dovecot SASL on
# our users table, the rules in a private MariaDB (milter/common.sh's fixtures), smtp-sink as relayhost.
# Shared by tests/e2e/test_postfix_milter.sh and tests/bench/postfix_milter.sh; source it after e2e_init.
#
#   postfix_milter_start_all    start MariaDB, Dovecot, smtp-sink, relay-milter and Postfix (each stop
#                               registered with e2e_defer)
#   submit (tests/lib/swaks.sh) reaches the submission port, with the From: header = FROM
#   unauth CLIENT_IP FROM TO EXPECT DESC [SWAKS_ARGS...]   no AUTH, on the MX-like port
#
# Ports (127.0.0.1): Postfix 12270 (submission: STARTTLS then AUTH), 12271 (no AUTH, like an MX),
# 12272 (AUTH without TLS), 12275 (benchmark, with milter), 12276 (benchmark, smtpd_milters empty);
# smtp-sink 12273; relay-milter 12274.

# shellcheck source=/dev/null
. "$E2E_SRC_DIR/tests/e2e/milter/common.sh"

PORT_SUBMISSION=12270
PORT_MX=12271
PORT_NOTLS=12272
PORT_SINK=12273
PORT_MILTER=12274
PORT_BENCH_MILTER=12275
PORT_BENCH_PLAIN=12276
POSTFIX_MILTER_PORTS=("$PORT_SUBMISSION" "$PORT_MX" "$PORT_NOTLS" "$PORT_SINK" "$PORT_MILTER" "$PORT_BENCH_MILTER"
    "$PORT_BENCH_PLAIN")
DOVECOT_DB_PASSWORD=dovecot-e2e-pw
MTA_SUBMISSION_PORT=$PORT_SUBMISSION
SUBMIT_FROM_HEADER=yes   # submit: tests/lib/swaks.sh
mkdir -p "$E2E_DIR/swaks"

unauth() {
    local ip=$1 from=$2 to=$3 expect=$4 desc=$5
    shift 5
    expect_case "$desc" "$expect" --server "127.0.0.1:$PORT_MX" --local-interface "$ip" --from "$from" --to "$to" \
        --header "From: $from" "$@"
}

_postfix_milter_setup_postfix() {
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "$DOVECOT_AUTH_SOCKET" || return 1
    # The main.cf lines we ship for relay-milter, as an admin pastes them (only the socket differs).
    postfix_main_file "$E2E_SRC_DIR/contrib/postfix/milter.cf" "s/127\.0\.0\.1:10041/127.0.0.1:$PORT_MILTER/g" ||
        return 1
    postfix_main "relay_domains = example.test example.org other.test" \
        "default_process_limit = 200" "smtpd_client_connection_count_limit = 0" || return 1
    postfix_listener_submission "$PORT_SUBMISSION"
    postfix_listener_plain "$PORT_MX"
    postfix_listener_auth_notls "$PORT_NOTLS"
    postfix_listener_plain "$PORT_BENCH_MILTER"
    postfix_listener_plain "$PORT_BENCH_PLAIN" "smtpd_milters="
    postfix_start
}

postfix_milter_start_all() {
    tls_make_cert "$E2E_DIR/tls" || return 1
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    milter_setup_database relay_authority || return 1
    milter_db "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON relay_authority.users TO 'dovecot'@'localhost';
        GRANT SELECT ON relay_authority.domains TO 'dovecot'@'localhost';" || return 1
    # A verified password keeps working while the database is down (as in production), so the
    # database-down case reaches relay-milter.
    DOVECOT_EXTRA_CONF=$'auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 0'
    dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=relay_authority user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    milter_start "$PORT_MILTER" || return 1
    _postfix_milter_setup_postfix
}
