// The configuration file: every key is declared once in keys() below (section, name, kind, allowed
// values, help, and where it lives in Config); parsing, validation, --check-config output and the --help
// reference are all driven by that one table, so they cannot drift apart.
//
// Boost.Program_options reads the INI syntax and finds unknown keys. Every key is declared to it as a
// list of strings: we convert and range-check ourselves, so every message names the file, the
// [section] key and the problem in our words, and a key given twice is caught for single-valued keys.
#include "core/config/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "core/config/config_checks.hpp"
#include "core/base/config_file_access.hpp"
#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/metrics/server.hpp"

namespace relay {
namespace {

namespace po = boost::program_options;

enum class Kind { text, secret, number, duration, flag, choice, list, mode };

using TextRef = std::string& (*)(Config&);
using NumberRef = unsigned& (*)(Config&);
using FlagRef = bool& (*)(Config&);
using ListRef = std::vector<std::string>& (*)(Config&);

struct Key {
    Key(const char* section_, const char* name_, Kind kind_, const char* values_, unsigned min_ = 0, unsigned max_ = 0)
        : section(section_), name(name_), kind(kind_), values(values_), min(min_), max(max_) {}

    const char* section;
    const char* name;
    Kind kind;
    const char* values;   // text/list: the allowed values in words; choice: "a|b|c"; number, duration: the unit
    unsigned min = 0;     // number, duration (in the field's unit)
    unsigned max = 0;
    unsigned unit_ms = 0; // duration: the field's unit, 1 (milliseconds) or 1000 (seconds)
    const char* auto_word = nullptr;  // number: a word that stands for 0, "let the daemon choose"
    ConfigCheck check = nullptr;  // text/list: extra syntax check, returns the problem or ""
    const char* help = "";
    TextRef text = nullptr;       // text, secret, choice, mode
    NumberRef number = nullptr;
    FlagRef flag = nullptr;
    ListRef list = nullptr;
    // choice kept as an enum: its values in the order of `values` ("a|b|c" -> 0, 1, 2)
    std::function<void(Config&, std::size_t)> set_choice;
    std::function<std::size_t(Config&)> get_choice;
};

Key text(const char* section, const char* name, TextRef field, const char* values, ConfigCheck check,
         const char* help) {
    Key key{section, name, Kind::text, values};
    key.check = check;
    key.help = help;
    key.text = field;
    return key;
}

Key secret(const char* section, const char* name, TextRef field, const char* help) {
    Key key{section, name, Kind::secret, "any text; quote it if it contains #"};
    key.help = help;
    key.text = field;
    return key;
}

Key number(const char* section, const char* name, NumberRef field, unsigned min, unsigned max,
           const char* unit, const char* help) {
    Key key{section, name, Kind::number, unit, min, max};
    key.help = help;
    key.number = field;
    return key;
}

// A number that may also be `auto` (stored as 0): the daemon derives the value when it starts.
Key number_or_auto(const char* section, const char* name, NumberRef field, unsigned min, unsigned max,
                   const char* unit, const char* help) {
    Key key = number(section, name, field, min, max, unit, help);
    key.auto_word = "auto";
    return key;
}

// A duration: the value is a whole number with an optional unit (ms, s, m, h, d); a bare number is seconds.
// The field holds it in seconds (unit_ms 1000) or milliseconds (unit_ms 1).
Key duration(const char* section, const char* name, NumberRef field, unsigned min, unsigned max, unsigned unit_ms,
             const char* help) {
    Key key{section, name, Kind::duration, unit_ms == 1 ? "milliseconds" : "seconds", min, max};
    key.unit_ms = unit_ms;
    key.help = help;
    key.number = field;
    return key;
}

Key flag(const char* section, const char* name, FlagRef field, const char* help) {
    Key key{section, name, Kind::flag, "yes|no"};
    key.help = help;
    key.flag = field;
    return key;
}

Key choice(const char* section, const char* name, TextRef field, const char* choices, const char* help) {
    Key key{section, name, Kind::choice, choices};
    key.help = help;
    key.text = field;
    return key;
}

// A choice parsed into an enum whose values are declared in the order of `choices`.
template <typename Enum>
Key enum_choice(const char* section, const char* name, Enum& (*field)(Config&), const char* choices,
                const char* help) {
    Key key{section, name, Kind::choice, choices};
    key.help = help;
    key.set_choice = [field](Config& c, std::size_t index) { field(c) = static_cast<Enum>(index); };
    key.get_choice = [field](Config& c) { return static_cast<std::size_t>(field(c)); };
    return key;
}

Key list(const char* section, const char* name, ListRef field, const char* values, ConfigCheck check,
         const char* help) {
    Key key{section, name, Kind::list, values};
    key.check = check;
    key.help = help;
    key.list = field;
    return key;
}

Key mode(const char* section, const char* name, TextRef field, const char* help) {
    Key key{section, name, Kind::mode, "octal file mode, 0000..0777"};
    key.help = help;
    key.text = field;
    return key;
}

#define FIELD(path) [](Config& c) -> decltype(auto) { return (c.path); }

// The order here is the order of --check-config, --help and the example file: contract keys first.
const std::vector<Key>& keys() {
    static const std::vector<Key> table = {
        list("database", "host", FIELD(database.host),
             "HOST, HOST:PORT or [IPV6]:PORT; repeat the key for more servers, in order of preference",
             check_database_host,
             "MariaDB/MySQL server reached over TCP. Give the key several times for a Galera cluster (or "
             "several servers holding the same data): every process uses the first healthy server in this "
             "order for everything and switches to the next one when it fails. Healthy: it answers and, "
             "for a Galera node, wsrep_ready is ON and wsrep_local_state is 4 (Synced). Deploy the same "
             "order on every host, so that all daemons write to one node (docs/cluster.md). Ignored when "
             "socket is set."),
        number("database", "port", FIELD(database.port), 1, 65535, "TCP port",
               "TCP port of the servers whose host entry names none."),
        text("database", "socket", FIELD(database.socket), "absolute path, or empty", check_socket_path,
             "Unix socket of a server on this host, e.g. /run/mysqld/mysqld.sock. When set, the "
             "connection uses it instead of host:port."),
        text("database", "user", FIELD(database.user), "MariaDB user name", check_db_user,
             "Database account. It needs SELECT on the rule tables, INSERT on relay_events, UPDATE on "
             "smtp_authorities and rate_counters (relayctl needs more: see docs/sql.md)."),
        secret("database", "password", FIELD(database.password),
               "Password of the database account. Never printed: --check-config shows ********. Keep the "
               "file readable by root and the daemon's group only (mode 0640)."),
        text("database", "name", FIELD(database.name), "database name (letters, digits, _ and $)",
             check_db_name, "The database holding the relay_authority schema."),
        duration("database", "connect_timeout", FIELD(database.connect_timeout), 1, 300, 1000,
               "How long to wait for a connection before the database counts as unavailable."),
        duration("database", "read_timeout", FIELD(database.read_timeout), 1, 3600, 1000,
               "How long to wait for a query's answer before the database counts as unavailable."),
        duration("database", "write_timeout", FIELD(database.write_timeout), 1, 3600, 1000,
               "How long to wait while sending a query before the database counts as unavailable."),
        number("database", "pool_size", FIELD(database.pool_size), 1, 256, "connections",
               "Database connections per process (of each of its two pools: rules and audit trail, rate "
               "limits). Waiting END-OF-MESSAGE charges share a transaction, so they need few."),
        duration("database", "failback_after", FIELD(database.failback_after), 0, 86400, 1000,
               "With several host entries: after a switch, a server earlier in the list is used again once it "
               "has been healthy this long without interruption (0: at once). Keeps a flapping server "
               "from pulling the daemons back and forth."),
        duration("database", "health_interval", FIELD(database.health_interval_ms), 100, 10000, 1,
               "With several host entries: how often a background thread checks each server (one "
               "connection per server). A failed query switches at once; this finds a server that left "
               "the Synced state, and one that came back."),

        list("policyd", "listen", FIELD(policyd.listen),
             "inet:HOST:PORT (IPv6: inet:[ADDR]:PORT) or unix:/absolute/path; repeat the key for more",
             check_policyd_listen,
             "Where relay-policyd accepts Postfix's policy connections (check_policy_service). Give the "
             "key several times to listen on several sockets."),
        text("policyd", "user", FIELD(policyd.user), "user name", check_account_name,
             "relay-policyd drops root privileges to this user after binding its sockets."),
        text("policyd", "group", FIELD(policyd.group), "group name", check_account_name,
             "Group relay-policyd runs as after dropping privileges."),
        flag("policyd", "allow_root", FIELD(policyd.allow_root),
             "Keep running as root instead of dropping privileges (not recommended)."),
        text("policyd", "socket_owner", FIELD(policyd.socket_owner), "user name, or empty",
             check_account_name_or_empty, "Owner of unix: listen sockets; empty: the daemon's user."),
        text("policyd", "socket_group", FIELD(policyd.socket_group), "group name, or empty",
             check_account_name_or_empty,
             "Group of unix: listen sockets; empty: the daemon's group. Postfix's smtpd must be able to "
             "connect, e.g. socket_group = postfix."),
        mode("policyd", "socket_mode", FIELD(policyd.socket_mode), "Permissions of unix: listen sockets."),
        number_or_auto("policyd", "threads", FIELD(policyd.threads), 1, 64, "threads",
               "I/O threads serving the connections (parse, decide from the cached rules, answer). "
               "auto: half the CPUs relay-policyd may run on, at least 1 (on 2 CPUs: 1), leaving the "
               "rest to Postfix's smtpd processes and the database that send and serve its requests."),
        number("policyd", "workers", FIELD(policyd.workers), 1, 256, "threads",
               "Threads for requests that may wait on the database (END-OF-MESSAGE charging), so "
               "cached RCPT decisions never wait behind them. Charges waiting together are written in "
               "one transaction, so more workers mean larger batches."),
        duration("policyd", "idle_timeout", FIELD(policyd.idle_timeout), 1, 86400, 1000,
               "A connection idle this long is closed. Keep it above Postfix's "
               "smtpd_policy_service_max_idle (300 s), so Postfix closes first."),
        duration("policyd", "request_timeout", FIELD(policyd.request_timeout), 1, 3600, 1000,
               "A request must be complete this long after its first byte, however often bytes arrive; "
               "a slower client is disconnected. Keep it below Postfix's smtpd_policy_service_timeout."),
        number("policyd", "max_connections", FIELD(policyd.max_connections), 1, 1000000, "connections",
               "Connections held at once; more are refused until one closes. Postfix keeps one per "
               "smtpd process."),
        number("policyd", "max_line_length", FIELD(policyd.max_line_length), 64, 1048576, "bytes",
               "Longest name=value line accepted; a longer one closes the connection."),
        number("policyd", "max_attributes", FIELD(policyd.max_attributes), 8, 4096, "attributes",
               "Most attributes in one request; more closes the connection."),
        number("policyd", "max_request_bytes", FIELD(policyd.max_request_bytes), 256, 16777216, "bytes",
               "Largest request (all its lines); larger closes the connection."),
        number("policyd", "instance_cache_size", FIELD(policyd.instance_cache_size), 16, 10000000,
               "messages", "Messages in flight whose recipients are counted (by Postfix's instance)."),
        duration("policyd", "instance_ttl", FIELD(policyd.instance_ttl), 10, 86400, 1000,
               "How long a message's recipient count is kept after its last request."),

        text("milter", "listen", FIELD(milter.listen), "inet:PORT@HOST, inet6:PORT@HOST or unix:/absolute/path",
             check_milter_listen,
             "Where relay-milter listens, in libmilter syntax (Sendmail's INPUT_MAIL_FILTER S= value, "
             "Postfix's smtpd_milters)."),
        text("milter", "user", FIELD(milter.user), "user name", check_account_name,
             "relay-milter drops root privileges to this user after binding its socket."),
        text("milter", "group", FIELD(milter.group), "group name", check_account_name,
             "Group relay-milter runs as after dropping privileges."),
        flag("milter", "allow_root", FIELD(milter.allow_root),
             "Keep running as root instead of dropping privileges (not recommended)."),
        choice("milter", "header_from_action", FIELD(milter.header_from_action), "reject|tempfail|off",
               "What to do when a From: or Sender: header address is not owned by the authenticated "
               "account: reject (5.7.1), tempfail (4.7.1), or off (do not check headers)."),
        enum_choice<FailureAnswer>(
            "milter", "on_rules_unavailable", FIELD(milter.on_rules_unavailable), "tempfail|reject",
            "Answer for authenticated mail while no valid rules are loaded (database down longer than "
            "[cache] max_stale, or never read since the start): tempfail (451 4.3.0) or reject "
            "(550 5.3.0). Only this case: rate limits that cannot be checked and internal errors are always "
            "a temporary failure. Never accept. Old name: on_store_unavailable."),
        enum_choice<FailureAnswer>("milter", "on_rate_limited", FIELD(milter.on_rate_limited), "tempfail|reject",
                                   "Answer when a rate limit whose action is defer is exceeded."),
        duration("milter", "timeout", FIELD(milter.timeout), 1, 86400, 1000,
               "libmilter's socket timeout (smfi_settimeout)."),

        duration("cache", "poll_interval", FIELD(cache.poll_interval_ms), 100, 60000, 1,
               "How often the change generation is read; an SQL edit takes effect within about this "
               "long."),
        duration("cache", "max_stale", FIELD(cache.max_stale_seconds), 1, 604800, 1000,
               "While the database is unreachable, the last rules read keep serving this long; after "
               "that authenticated mail gets a temporary failure (never a permit)."),

        text("general", "node", FIELD(general.node), "name (letters, digits, . _ -), empty: host name",
             check_node, "This host's name in relay_events.node and the logs."),
        choice("general", "log_level", FIELD(general.log_level), "debug|info|notice|warning|error",
               "Least important messages logged."),
        choice("general", "syslog_facility", FIELD(general.syslog_facility),
               "mail|daemon|user|auth|local0|local1|local2|local3|local4|local5|local6|local7",
               "Syslog facility of the daemons' messages."),
        duration("general", "refusal_summary", FIELD(general.refusal_summary), 0, 3600, 1000,
                 "0: every refused request is logged on its own line. An interval (e.g. 60s): the first "
                 "refusal of each login (or client address) and reason in the interval is logged in full, "
                 "the others are counted and said in one 'refusal summary:' line per login and reason when "
                 "the interval ends. For refusal floods; the audit trail (relay_events) is not "
                 "affected."),
        text("general", "state_directory", FIELD(general.state_directory), "absolute path",
             check_state_directory,
             "Where relay-policyd and relay-milter keep files that must outlive a restart: the audit spool "
             "(relay-policyd.audit-spool, relay-milter.audit-spool). It must belong to the daemon's user "
             "and be writable by nobody else; two daemons of one kind need two directories."),

        text("audit", "spool_size", FIELD(audit.spool_size), "a size: 64M, 512k, 1G; 0: no spool", check_size,
             "Bound of the audit spool: while no database server answers, audit events wait in this file "
             "in state_directory (and are written to relay_events, in order, once one answers) instead "
             "of in memory, where at most 10,000 fit. Beyond the bound events are dropped, counted and "
             "logged. A decision takes about 200-400 bytes."),

        text("rate_limits", "time_zone", FIELD(rate_limits.time_zone), "IANA zone name, e.g. Europe/Berlin",
             check_time_zone, "Time zone of calendar windows (calendar = hour or day reset at its "
             "midnight / full hour)."),
        enum_choice<RateLimitsUnavailable>(
            "rate_limits", "on_rate_limits_unavailable", FIELD(rate_limits.on_rate_limits_unavailable),
            "tempfail|allow",
            "When the rate-limit counters cannot be read or charged (database down): tempfail the message "
            "(451 4.3.0), or allow a small local allowance (unavailable_allowance). Logged either way. Old "
            "name: on_store_unavailable."),
        number("rate_limits", "unavailable_allowance", FIELD(rate_limits.unavailable_allowance), 0,
               1000000, "messages",
               "Messages per account a process lets through while the database is down "
               "(on_rate_limits_unavailable = allow)."),
        duration("rate_limits", "charge_timeout", FIELD(rate_limits.charge_timeout), 1, 60, 1000,
               "Longest wait for an END-OF-MESSAGE charge, queueing and database included. When the "
               "database has not answered by then, relay-policyd answers a temporary failure. At least "
               "[database] read_timeout and write_timeout; keep it well below Postfix's "
               "smtpd_policy_service_timeout."),
        duration("rate_limits", "retry_time", FIELD(rate_limits.retry_time), 0, 10000, 1,
               "How long a charge, a last-use stamp or an abuse observation that lost to a conflict "
               "(deadlock, Galera certification conflict), to a cluster node not ready (errors 1047, 1180) "
               "or to a connection lost in the middle is run again, with exponential backoff and jitter, "
               "on a fresh connection. Only when it still fails does the message get a temporary failure "
               "(that message alone). 0: no retry. Below charge_timeout."),
        number("rate_limits", "lease_size", FIELD(rate_limits.lease_size), 0, 10000, "messages",
               "Most messages one lease reserves for this process on a `messages` counter, spent without a "
               "database transaction (docs/rate-limits.md, Leases). 0 or 1: no leases, every message is "
               "charged in the database."),
        duration("rate_limits", "lease_time", FIELD(rate_limits.lease_time), 100, 60000, 1,
                 "How long a lease may be spent; then what is left of it goes back to the counter (and a "
                 "lease never outlives a calendar period)."),

        flag("abuse", "enabled", FIELD(abuse.enabled), "Suspend accounts that look abused (below)."),
        number("abuse", "max_networks", FIELD(abuse.max_networks), 1, 100000, "networks",
               "Suspend an account used from more distinct client networks (/24 IPv4, /48 IPv6) than "
               "this within networks_window."),
        duration("abuse", "networks_window", FIELD(abuse.networks_window), 60, 2592000, 1000,
               "Window for max_networks."),
        number("abuse", "max_rate_refusals", FIELD(abuse.max_rate_refusals), 1, 10000000, "refusals",
               "Suspend an account refused for rate limits more often than this within refusals_window."),
        duration("abuse", "refusals_window", FIELD(abuse.refusals_window), 60, 2592000, 1000,
               "Window for max_rate_refusals."),
        duration("abuse", "suspend_for", FIELD(abuse.suspend_seconds), 60, 315360000, 1000,
               "Length of an automatic suspension (sets smtp_authorities.suspended_until)."),
        text("abuse", "notify_command", FIELD(abuse.notify_command), "absolute path, or empty",
             check_command, "Program run (no shell) with the event as arguments when an account is "
             "suspended automatically; empty: none."),

        number("relayctl", "min_password_length", FIELD(relayctl.min_password_length), 8, 500, "characters",
               "relayctl account add/passwd refuse shorter passwords (and trivially weak ones); generated "
               "passwords (--generate-password) have 20."),
        text("relayctl", "retention", FIELD(relayctl.retention), "a duration: 90d, 12w, 2160h", check_retention,
             "How long relayctl prune keeps audit events and rate-limit bookkeeping when --older-than is "
             "not given."),
        number("relayctl", "prune_batch_size", FIELD(relayctl.prune_batch_size), 1, 100000, "rows",
               "Rows relayctl prune deletes per statement (--batch). Each batch is one short statement in "
               "primary-key order: no lock is held between batches."),
        duration("relayctl", "prune_pause", FIELD(relayctl.prune_pause_ms), 0, 60000, 1,
               "How long relayctl prune sleeps between two batches (--pause), so that deleting takes only "
               "a share of the database server's CPU and disk and the daemons' requests do not queue "
               "behind it. 0: no pause (fastest, for a quiet hour)."),
        text("relayctl", "submission_server", FIELD(relayctl.submission_server), "host name, or empty",
             check_submission_server,
             "The server name devices are told to use (account show); empty: this host's fully qualified "
             "name."),
        number("relayctl", "submission_port", FIELD(relayctl.submission_port), 1, 65535, "TCP port",
               "The submission port devices with a login are told to use (587 in contrib/postfix)."),
        choice("relayctl", "submission_tls", FIELD(relayctl.submission_tls), "starttls|tls|none",
               "The security devices are told to use on submission_port: starttls (required on 587 by "
               "contrib/postfix), tls (implicit TLS, port 465), none."),
        number("relayctl", "ip_port", FIELD(relayctl.ip_port), 1, 65535, "TCP port",
               "The port IP-authorised devices (auth_mode ip, no login) are told to use (25 in "
               "docs/postfix.md)."),
        text("relayctl", "after_change_command", FIELD(relayctl.after_change_command),
             "absolute path and arguments, or empty", check_after_change_command,
             "Run (no shell) after relayctl changes a password, disables or deletes an account, e.g. "
             "/usr/bin/doveadm auth cache flush %{login}: %{login} is replaced by the login as one argument."),
        text("metrics", "policyd_listen", FIELD(metrics.policyd_listen), "IP:PORT or [IPV6]:PORT, or empty",
             metrics::check_endpoint, "Where relay-policyd serves /metrics and /healthz for Prometheus "
             "(docs/monitoring.md); empty: off. Bound before privileges are dropped. No authentication: "
             "use loopback or a firewalled address."),
        text("metrics", "milter_listen", FIELD(metrics.milter_listen), "IP:PORT or [IPV6]:PORT, or empty",
             metrics::check_endpoint, "The same for relay-milter (its own port: both read this file)."),
    };
    return table;
}

#undef FIELD

// Old key names, still read for one release (from 2026-12, issue 14) with a warning naming the new one.
// A file that sets both is refused: which one would win is not obvious.
struct Alias {
    const char* section;
    const char* old_name;
    const char* name;
    const char* bare_unit;  // appended to a bare number (the old key's unit), or nullptr
};

const std::vector<Alias>& aliases() {
    static const std::vector<Alias> table = {
        {"milter", "on_store_unavailable", "on_rules_unavailable", nullptr},
        {"rate_limits", "on_store_unavailable", "on_rate_limits_unavailable", nullptr},
        // Names carry no unit: a duration's unit is written in the value (docs/configuration.md).
        {"cache", "poll_interval_ms", "poll_interval", "ms"},
        {"cache", "max_stale_seconds", "max_stale", nullptr},
        {"abuse", "suspend_seconds", "suspend_for", nullptr},
    };
    return table;
}

std::string where(const Key& key) { return std::string("[") + key.section + "] " + key.name; }
std::string option_name(const Key& key) { return std::string(key.section) + "." + key.name; }
std::string old_option_name(const Alias& alias) { return std::string(alias.section) + "." + alias.old_name; }

// ---- converting one value

constexpr char kQuotedHash = '\x01';  // stands in for '#' inside "..." while Boost reads the file

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> split_choices(const char* choices) {
    std::vector<std::string> out;
    std::string current;
    for (const char* p = choices; *p; ++p) {
        if (*p == '|') {
            out.push_back(current);
            current.clear();
        } else {
            current += *p;
        }
    }
    out.push_back(current);
    return out;
}

// "a|b|c" -> "a, b, c"
std::string words(const char* choices) {
    std::string out;
    for (const std::string& choice : split_choices(choices)) out += (out.empty() ? "" : ", ") + choice;
    return out;
}

// "330", "330s", "5m", "500ms" -> milliseconds; nullopt when it is none of these.
std::optional<unsigned long long> duration_ms(const std::string& value) {
    std::size_t digits = 0;
    while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
    if (digits == 0 || digits > 10) return std::nullopt;
    const std::string unit = value.substr(digits);
    unsigned long long scale = 0;
    if (unit.empty() || unit == "s") scale = 1000;
    else if (unit == "ms") scale = 1;
    else if (unit == "m") scale = 60 * 1000;
    else if (unit == "h") scale = 3600 * 1000;
    else if (unit == "d") scale = 86400 * 1000;
    else return std::nullopt;
    return std::stoull(value.substr(0, digits)) * scale;
}

// A duration as --check-config prints it: seconds keys as a bare number (as written before units were
// accepted), milliseconds keys with their unit.
std::string duration_text(const Key& key, unsigned value) {
    if (key.unit_ms == 1000) return std::to_string(value);
    return value % 1000 == 0 ? std::to_string(value / 1000) + "s" : std::to_string(value) + "ms";
}

// Returns the problem with the value, or "" when it was stored into config.
std::string assign(const Key& key, const std::string& value, Config& config) {
    switch (key.kind) {
    case Kind::text:
    case Kind::secret: {
        if (key.check) {
            std::string problem = key.check(value);
            if (!problem.empty()) return problem;
        }
        key.text(config) = value;
        return "";
    }
    case Kind::number: {
        if (key.auto_word && value == key.auto_word) {
            key.number(config) = 0;
            return "";
        }
        const bool digits = !value.empty() && value.size() <= 10 &&
                            std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        const unsigned long long n = digits ? std::stoull(value) : 0;
        if (!digits || n < key.min || n > key.max) {
            return "want a whole number from " + std::to_string(key.min) + " to " + std::to_string(key.max) +
                   " (" + key.values + ")" + (key.auto_word ? std::string(" or ") + key.auto_word : "");
        }
        key.number(config) = static_cast<unsigned>(n);
        return "";
    }
    case Kind::duration: {
        const auto ms = duration_ms(value);
        const std::string want = std::string("want a whole number of ") + key.values + " from " +
                                 std::to_string(key.min) + " to " + std::to_string(key.max) +
                                 " (or with a unit: 500ms, 30s, 5m, 2h, 1d; a bare number is seconds)";
        if (!ms || *ms % key.unit_ms != 0) return want;
        const unsigned long long n = *ms / key.unit_ms;
        if (n < key.min || n > key.max) return want;
        key.number(config) = static_cast<unsigned>(n);
        return "";
    }
    case Kind::flag: {
        const std::string v = lower(value);
        if (v == "yes" || v == "true" || v == "on" || v == "1") key.flag(config) = true;
        else if (v == "no" || v == "false" || v == "off" || v == "0") key.flag(config) = false;
        else return "want yes or no";
        return "";
    }
    case Kind::choice: {
        const std::vector<std::string> choices = split_choices(key.values);
        for (std::size_t i = 0; i < choices.size(); ++i) {
            if (value != choices[i]) continue;
            if (key.set_choice) key.set_choice(config, i);
            else key.text(config) = value;
            return "";
        }
        return std::string("want one of: ") + words(key.values);
    }
    case Kind::list: {
        std::string problem = key.check ? key.check(value) : "";
        if (!problem.empty()) return problem;
        key.list(config).push_back(value);
        return "";
    }
    case Kind::mode: {
        std::string problem = check_octal_mode(value);
        if (!problem.empty()) return problem;
        key.text(config) = value.size() == 3 ? "0" + value : value;
        return "";
    }
    }
    return "unknown kind of key";
}

// What the value looks like in dump_config and in the reference's "default:".
std::vector<std::string> format(const Key& key, Config& config) {
    switch (key.kind) {
    case Kind::choice:
        if (key.get_choice) return {split_choices(key.values).at(key.get_choice(config))};
        return {key.text(config)};
    case Kind::text:
    case Kind::mode: return {key.text(config)};
    case Kind::secret: return {key.text(config).empty() ? "" : "********"};
    case Kind::number:
        if (key.auto_word && key.number(config) == 0) return {key.auto_word};
        return {std::to_string(key.number(config))};
    case Kind::duration: return {duration_text(key, key.number(config))};
    case Kind::flag: return {key.flag(config) ? "yes" : "no"};
    case Kind::list: return key.list(config);
    }
    return {};
}

// ---- reading the file

// Boost's reader cuts every line at '#', which would silently truncate a password like "pa#ss". A value
// written in double quotes keeps its '#' (and its edge spaces): they are hidden from Boost here and
// restored by unquote().
std::string protect_quoted_values(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const std::size_t first = line.find_first_not_of(" \t");
        const std::size_t eq = line.find('=');
        if (first != std::string::npos && line[first] != '#' && eq != std::string::npos) {
            const std::size_t open = line.find_first_not_of(" \t", eq + 1);
            if (open != std::string::npos && line[open] == '"') {
                const std::size_t close = line.find('"', open + 1);
                const std::size_t end = close == std::string::npos ? line.size() : close;
                std::replace(line.begin() + static_cast<std::ptrdiff_t>(open), line.begin() + static_cast<std::ptrdiff_t>(end),
                             '#', kQuotedHash);
            }
        }
        out += line;
        out += '\n';
    }
    return out;
}

// Returns false when a quote is opened and not closed.
bool unquote(std::string& value) {
    if (!value.empty() && value.front() == '"') {
        if (value.size() < 2 || value.back() != '"') return false;
        value = value.substr(1, value.size() - 2);
    }
    std::replace(value.begin(), value.end(), kQuotedHash, '#');
    return true;
}

int line_number(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.find(needle) != std::string::npos) return n;
    }
    return 0;
}

// The line where [section] key is set for the (nth + 1)-th time, for messages (0: not found).
int key_line(const std::string& text, const std::string& section, const std::string& name, std::size_t nth = 0) {
    std::istringstream in(text);
    std::string line, current;
    for (int n = 1; std::getline(in, line); ++n) {
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        if (line[first] == '[') {
            const std::size_t close = line.find(']', first);
            current = close == std::string::npos ? "" : line.substr(first + 1, close - first - 1);
            continue;
        }
        std::string key = line.substr(first, line.find('=') - first);
        key.erase(key.find_last_not_of(" \t") + 1);
        if (current == section && key == name && nth-- == 0) return n;
    }
    return 0;
}

std::string at_line(int line) { return line > 0 ? " (line " + std::to_string(line) + ")" : ""; }

[[noreturn]] void fail(const std::string& origin, const std::string& message) {
    throw ConfigError(origin + ": " + message);
}

void reject_control_characters(const std::string& text, const std::string& origin) {
    int line = 1;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte == '\n') ++line;
        else if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f)
            fail(origin, "line " + std::to_string(line) + ": control character in the file");
    }
}

po::variables_map read_ini(const std::string& text, const std::string& origin) {
    po::options_description description;
    for (const Key& key : keys()) {
        description.add_options()(option_name(key).c_str(), po::value<std::vector<std::string>>()->composing());
    }
    for (const Alias& alias : aliases()) {
        description.add_options()(old_option_name(alias).c_str(), po::value<std::vector<std::string>>()->composing());
    }
    std::istringstream in(protect_quoted_values(text));
    po::variables_map values;
    try {
        po::store(po::parse_config_file(in, description, false), values);
    } catch (const po::unknown_option& e) {
        const std::string name = e.get_option_name();
        const std::size_t dot = name.find('.');
        if (dot == std::string::npos)
            fail(origin, "unknown key " + sanitize(name) + " outside any [section]" + at_line(line_number(text, name)));
        const std::string section = name.substr(0, dot), key = name.substr(dot + 1);
        fail(origin, "unknown key [" + sanitize(section) + "] " + sanitize(key) + at_line(key_line(text, section, key)));
    } catch (const po::invalid_config_file_syntax& e) {
        fail(origin, "cannot read line '" + sanitize(e.tokens(), 80) + "'" + at_line(line_number(text, e.tokens())) +
                         ": want key = value, or [section]");
    } catch (const po::error& e) {
        fail(origin, e.what());
    }
    return values;
}

// The values given under an old name, as if given under the new one; a warning per old name used.
po::variables_map renamed(po::variables_map values, const std::string& text, const std::string& origin,
                          std::vector<std::string>& warnings) {
    for (const Alias& alias : aliases()) {
        const auto old = values.find(old_option_name(alias));
        if (old == values.end()) continue;
        const std::string old_where = std::string("[") + alias.section + "] " + alias.old_name;
        const std::string new_where = std::string("[") + alias.section + "] " + alias.name;
        const std::string new_name = std::string(alias.section) + "." + alias.name;
        if (values.count(new_name))
            fail(origin, old_where + at_line(key_line(text, alias.section, alias.old_name)) + " and its new name " +
                             new_where + " are both set; keep " + new_where + " only");
        auto given = old->second.as<std::vector<std::string>>();
        if (alias.bare_unit) {
            for (std::string& value : given) {
                const bool bare = !value.empty() && std::all_of(value.begin(), value.end(),
                                                                [](char c) { return c >= '0' && c <= '9'; });
                if (bare) value += alias.bare_unit;
            }
        }
        warnings.push_back(origin + ": " + old_where + at_line(key_line(text, alias.section, alias.old_name)) +
                           " is deprecated and will be removed in the next release; rename it " + new_where);
        values.erase(old);
        values.emplace(new_name, po::variable_value(given, false));
    }
    return values;
}

// The name the file gives the key, its own or an old one, for messages.
const char* written_name(const Key& key, const std::string& text) {
    if (key_line(text, key.section, key.name)) return key.name;
    for (const Alias& alias : aliases()) {
        if (std::string(alias.section) == key.section && std::string(alias.name) == key.name &&
            key_line(text, alias.section, alias.old_name))
            return alias.old_name;
    }
    return key.name;
}

void apply_values(const po::variables_map& values, const std::string& text, const std::string& origin,
                  Config& config) {
    for (const Key& key : keys()) {
        const auto found = values.find(option_name(key));
        if (found == values.end()) continue;
        auto given = found->second.as<std::vector<std::string>>();
        Key named = key;  // messages name the key as the file writes it
        named.name = written_name(key, text);
        const int line = key_line(text, key.section, named.name);
        if (key.kind != Kind::list && given.size() > 1)
            fail(origin, where(named) + " is set " + std::to_string(given.size()) + " times" + at_line(line) +
                             "; it takes one value");
        if (key.kind == Kind::list) key.list(config).clear();  // the file replaces the default list
        for (std::size_t i = 0; i < given.size(); ++i) {
            std::string& value = given[i];
            const int entry_line = key_line(text, key.section, named.name, i);  // a list's entries: each its own line
            const std::string shown = key.kind == Kind::secret ? "" : " = '" + sanitize(value, 80) + "'";
            if (!unquote(value)) fail(origin, where(named) + shown + at_line(entry_line) + ": the closing \" is missing");
            const std::string problem = assign(key, value, config);
            if (!problem.empty()) fail(origin, where(named) + shown + at_line(entry_line) + ": " + problem);
        }
    }
}

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

bool is_loopback_name(const std::string& host) {
    return host == "localhost" || host == "127.0.0.1" || host == "::1";
}

void check_across_keys(const po::variables_map& values, const std::string& origin, Config& config) {
    const DatabaseConfig& db = config.database;
    std::set<std::pair<std::string, unsigned>> servers;
    for (const std::string& entry : db.host) {
        const DatabaseHost parsed = parse_database_host(entry);  // checked when it was read
        if (!servers.insert({lower(parsed.host), parsed.port ? parsed.port : db.port}).second)
            fail(origin, "[database] host = '" + sanitize(entry) + "' names a server given before");
        if (!db.socket.empty() && values.count("database.host") && !is_loopback_name(parsed.host))
            fail(origin, "[database] socket and [database] host = '" + sanitize(entry) +
                             "' are both set: a unix socket reaches a server on this host only; remove one");
    }
    if (db.host.empty()) fail(origin, "[database] host: at least one server is needed");
    if (config.cache.max_stale_seconds * 1000ULL <= config.cache.poll_interval_ms)
        fail(origin, "[cache] max_stale must be longer than [cache] poll_interval, or the rules "
                     "would count as stale between two polls");
    const PolicydConfig& policyd = config.policyd;
    if (policyd.listen.empty()) fail(origin, "[policyd] listen: at least one socket is needed");
    std::set<std::string> seen;
    for (const std::string& socket : policyd.listen) {
        if (!seen.insert(socket).second) fail(origin, "[policyd] listen = '" + sanitize(socket) + "' is given twice");
    }
    if (policyd.max_line_length > policyd.max_request_bytes)
        fail(origin, "[policyd] max_line_length is larger than [policyd] max_request_bytes");
    // One statement that times out must end within the charge's bound, or every charge of a hung
    // database would be answered by the bound while its worker still waits for the statement.
    const unsigned charge_timeout = config.rate_limits.charge_timeout;
    if (db.read_timeout > charge_timeout || db.write_timeout > charge_timeout)
        fail(origin, "[rate_limits] charge_timeout (" + std::to_string(charge_timeout) +
                         " s) is shorter than [database] read_timeout (" + std::to_string(db.read_timeout) +
                         " s) or write_timeout (" + std::to_string(db.write_timeout) +
                         " s): raise charge_timeout or lower the database timeouts");
    if (config.rate_limits.retry_time >= charge_timeout * 1000)
        fail(origin, "[rate_limits] retry_time (" + std::to_string(config.rate_limits.retry_time) +
                         " ms) must be shorter than [rate_limits] charge_timeout (" + std::to_string(charge_timeout) +
                         " s)");
    if (config.general.node.empty()) config.general.node = sanitize(host_name(), 64);
}

}  // namespace

Config parse_config(const std::string& text, const std::string& origin) {
    reject_control_characters(text, origin);
    Config config;
    config.path = origin;
    const po::variables_map values = renamed(read_ini(text, origin), text, origin, config.warnings);
    apply_values(values, text, origin, config);
    check_across_keys(values, origin, config);
    return config;
}

namespace {

// The file's text, read through the descriptor whose owner and mode were checked (no second lookup by
// name between the check and the read).
std::string read_all(int fd, const std::string& path) {
    std::string text;
    char buf[8192];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ConfigError(path + ": cannot read the configuration file: " + std::strerror(errno));
        if (n == 0) return text;
        text.append(buf, static_cast<std::size_t>(n));
    }
}

struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
};

}  // namespace

Config load_config(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) throw ConfigError(path + ": cannot open the configuration file: " + std::strerror(errno));
    const FdCloser closer{fd};
    check_config_file_access(path, fd, ::geteuid());
    Config config = parse_config(read_all(fd, path), path);
    for (const std::string& warning : config.warnings) log_warning(warning);
    if (!config.database.password.empty() && world_readable(fd))
        log_warning(path + ": the configuration file is readable by everyone and holds the database password. "
                           "Fix: chown root:relay " + path + " && chmod 0640 " + path);
    return config;
}

std::string dump_config(const Config& config) {
    Config copy = config;  // the accessors hand out non-const references
    std::ostringstream out;
    out << "# relay-authority configuration in effect";
    if (!config.path.empty()) out << " (read from " << config.path << ")";
    out << "\n";
    const char* section = "";
    for (const Key& key : keys()) {
        if (std::string(section) != key.section) {
            section = key.section;
            out << "\n[" << section << "]\n";
        }
        const std::vector<std::string> shown = format(key, copy);
        if (key.kind == Kind::secret && shown.front().empty()) {
            out << key.name << " =   # (not set)\n";
            continue;
        }
        if (shown.empty()) out << "# " << key.name << " = (none)\n";
        for (const std::string& value : shown) {
            const bool quote = value.find('#') != std::string::npos ||
                               (!value.empty() && (value.front() == ' ' || value.back() == ' ' || value.front() == '"'));
            out << key.name << (value.empty() ? " =" : " = ") << (quote ? "\"" + value + "\"" : value) << "\n";
        }
    }
    return out.str();
}

namespace {

// Help text broken into lines of at most width columns, each starting with indent.
std::string wrapped(const std::string& text, const std::string& indent, std::size_t width) {
    std::istringstream in(text);
    std::string word, line, out;
    while (in >> word) {
        if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
            out += indent + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty()) out += indent + line + "\n";
    return out;
}

}  // namespace

std::string config_reference() {
    Config defaults;
    std::ostringstream out;
    const char* section = "";
    for (const Key& key : keys()) {
        if (std::string(section) != key.section) {
            section = key.section;
            out << (*section && out.tellp() > 0 ? "\n" : "") << "[" << section << "]\n";
        }
        std::string shown;
        for (const std::string& value : format(key, defaults)) shown += (shown.empty() ? "" : ", ") + value;
        if (shown.empty()) shown = key.kind == Kind::text && std::string(key.name) == "node" ? "(the host name)" : "(empty)";
        out << "  " << key.name << " = " << shown << "\n";
        if (key.kind == Kind::number)
            out << "      " << key.min << " .. " << key.max << " " << key.values
                << (key.auto_word ? std::string(", or ") + key.auto_word : "") << "\n";
        else if (key.kind == Kind::duration)
            out << "      " << duration_text(key, key.min) << " .. " << duration_text(key, key.max)
                << (key.unit_ms == 1000 ? " seconds" : "") << "; a unit may follow: ms, s, m, h, d\n";
        else if (key.kind == Kind::choice || key.kind == Kind::flag)
            out << "      one of: " << words(key.values) << "\n";
        else
            out << "      " << key.values << "\n";
        out << wrapped(key.help, "      ", 100);
    }
    return out.str();
}

// ---- SIGHUP: which keys a running daemon applies, derived from the key table

namespace {

// The keys a running daemon applies on SIGHUP; every other key of its sections needs a restart (sockets,
// identity, threads, the database and what was built from it at start). docs/configuration.md, "Reloading".
bool reloadable(const Key& key) {
    static const std::set<std::string> names = {
        "general.log_level",          "general.syslog_facility",     "general.refusal_summary",
        "policyd.idle_timeout",
        "policyd.request_timeout",    "policyd.max_connections",     "policyd.max_line_length",
        "policyd.max_attributes",     "policyd.max_request_bytes",   "policyd.instance_cache_size",
        "policyd.instance_ttl",       "cache.poll_interval",         "cache.max_stale",
    };
    return names.count(std::string(key.section) + "." + key.name) > 0;
}

// Whether the daemon reads the key at all: its own section, the shared ones, its own metrics port.
bool read_by(const Key& key, DaemonKind daemon) {
    const std::string section = key.section, name = key.name;
    if (section == "relayctl") return false;
    if (section == "policyd") return daemon == DaemonKind::policyd;
    if (section == "milter") return daemon == DaemonKind::milter;
    if (section == "metrics" && name == "policyd_listen") return daemon == DaemonKind::policyd;
    if (section == "metrics" && name == "milter_listen") return daemon == DaemonKind::milter;
    return true;
}

bool same_value(const Key& key, Config& a, Config& b) {
    switch (key.kind) {
    case Kind::choice:
        if (key.get_choice) return key.get_choice(a) == key.get_choice(b);  // kept as an enum
        return key.text(a) == key.text(b);
    case Kind::text:
    case Kind::secret:
    case Kind::mode: return key.text(a) == key.text(b);
    case Kind::number:
    case Kind::duration: return key.number(a) == key.number(b);
    case Kind::flag: return key.flag(a) == key.flag(b);
    case Kind::list: return key.list(a) == key.list(b);
    }
    return true;
}

void copy_value(const Key& key, Config& to, Config& from) {
    switch (key.kind) {
    case Kind::choice:
        if (key.get_choice) key.set_choice(to, key.get_choice(from));  // kept as an enum
        else key.text(to) = key.text(from);
        break;
    case Kind::text:
    case Kind::secret:
    case Kind::mode: key.text(to) = key.text(from); break;
    case Kind::number:
    case Kind::duration: key.number(to) = key.number(from); break;
    case Kind::flag: key.flag(to) = key.flag(from); break;
    case Kind::list: key.list(to) = key.list(from); break;
    }
}

}  // namespace

std::vector<std::string> keys_needing_restart(const Config& running, const Config& fresh, DaemonKind daemon) {
    Config a = running, b = fresh;  // the accessors hand out non-const references
    std::vector<std::string> out;
    for (const Key& key : keys())
        if (read_by(key, daemon) && !reloadable(key) && !same_value(key, a, b))
            out.push_back(std::string("[") + key.section + "] " + key.name);
    return out;
}

void apply_reloadable_keys(Config& running, const Config& fresh, DaemonKind daemon) {
    Config source = fresh;
    for (const Key& key : keys())
        if (read_by(key, daemon) && reloadable(key)) copy_value(key, running, source);
}

std::vector<std::string> reloadable_keys(DaemonKind daemon) {
    std::vector<std::string> out;
    for (const Key& key : keys())
        if (read_by(key, daemon) && reloadable(key)) out.push_back(std::string("[") + key.section + "] " + key.name);
    return out;
}

}  // namespace relay
