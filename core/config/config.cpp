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

enum class Kind { text, secret, number, flag, choice, list, mode };

using TextRef = std::string& (*)(Config&);
using NumberRef = unsigned& (*)(Config&);
using FlagRef = bool& (*)(Config&);
using ListRef = std::vector<std::string>& (*)(Config&);

struct Key {
    const char* section;
    const char* name;
    Kind kind;
    const char* values;   // text/list: the allowed values in words; choice: "a|b|c"; number: the unit
    unsigned min = 0;     // number only
    unsigned max = 0;
    ConfigCheck check = nullptr;  // text/list: extra syntax check, returns the problem or ""
    const char* help = "";
    TextRef text = nullptr;       // text, secret, choice, mode
    NumberRef number = nullptr;
    FlagRef flag = nullptr;
    ListRef list = nullptr;
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
        text("database", "host", FIELD(database.host), "host name or IP address", check_host,
             "MariaDB/MySQL server, reached over TCP at host:port. Ignored when socket is set."),
        number("database", "port", FIELD(database.port), 1, 65535, "TCP port", "TCP port of the server."),
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
        number("database", "connect_timeout", FIELD(database.connect_timeout), 1, 300, "seconds",
               "How long to wait for a connection before the database counts as unavailable."),
        number("database", "read_timeout", FIELD(database.read_timeout), 1, 3600, "seconds",
               "How long to wait for a query's answer before the database counts as unavailable."),
        number("database", "write_timeout", FIELD(database.write_timeout), 1, 3600, "seconds",
               "How long to wait while sending a query before the database counts as unavailable."),
        number("database", "pool_size", FIELD(database.pool_size), 1, 256, "connections",
               "Database connections per process (of each of its two pools: rules and audit trail, rate "
               "limits). Waiting END-OF-MESSAGE charges share a transaction, so they need few."),

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
        number("policyd", "threads", FIELD(policyd.threads), 1, 64, "threads",
               "I/O threads serving the connections."),
        number("policyd", "workers", FIELD(policyd.workers), 1, 256, "threads",
               "Threads for requests that may wait on the database (END-OF-MESSAGE charging), so "
               "cached RCPT decisions never wait behind them. Charges waiting together are written in "
               "one transaction, so more workers mean larger batches."),
        number("policyd", "idle_timeout", FIELD(policyd.idle_timeout), 1, 86400, "seconds",
               "A connection idle this long is closed. Keep it above Postfix's "
               "smtpd_policy_service_max_idle (300 s), so Postfix closes first."),
        number("policyd", "request_timeout", FIELD(policyd.request_timeout), 1, 3600, "seconds",
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
        number("policyd", "instance_ttl", FIELD(policyd.instance_ttl), 10, 86400, "seconds",
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
        choice("milter", "on_store_unavailable", FIELD(milter.on_store_unavailable), "tempfail|reject",
               "Answer for authenticated mail while the rules cannot be read (database down longer than "
               "[cache] max_stale_seconds). Never accept."),
        choice("milter", "on_rate_limited", FIELD(milter.on_rate_limited), "tempfail|reject",
               "Answer when a rate limit whose action is defer is exceeded."),
        number("milter", "timeout", FIELD(milter.timeout), 1, 86400, "seconds",
               "libmilter's socket timeout (smfi_settimeout)."),

        number("cache", "poll_interval_ms", FIELD(cache.poll_interval_ms), 100, 60000, "milliseconds",
               "How often the change generation is read; an SQL edit takes effect within about this "
               "long."),
        number("cache", "max_stale_seconds", FIELD(cache.max_stale_seconds), 1, 604800, "seconds",
               "While the database is unreachable, the last rules read keep serving this long; after "
               "that authenticated mail gets a temporary failure (never a permit)."),

        text("general", "node", FIELD(general.node), "name (letters, digits, . _ -), empty: host name",
             check_node, "This host's name in relay_events.node and the logs."),
        choice("general", "log_level", FIELD(general.log_level), "debug|info|notice|warning|error",
               "Least important messages logged."),
        choice("general", "syslog_facility", FIELD(general.syslog_facility),
               "mail|daemon|user|auth|local0|local1|local2|local3|local4|local5|local6|local7",
               "Syslog facility of the daemons' messages."),

        text("rate_limits", "time_zone", FIELD(rate_limits.time_zone), "IANA zone name, e.g. Europe/Berlin",
             check_time_zone, "Time zone of calendar windows (calendar = hour or day reset at its "
             "midnight / full hour)."),
        choice("rate_limits", "on_store_unavailable", FIELD(rate_limits.on_store_unavailable),
               "tempfail|allow",
               "When limits cannot be charged because the database is down: tempfail the message, or "
               "allow a small local allowance (unavailable_allowance). Logged either way."),
        number("rate_limits", "unavailable_allowance", FIELD(rate_limits.unavailable_allowance), 0,
               1000000, "messages",
               "Messages per account a process lets through while the database is down "
               "(on_store_unavailable = allow)."),
        number("rate_limits", "charge_timeout", FIELD(rate_limits.charge_timeout), 1, 60, "seconds",
               "Longest wait for an END-OF-MESSAGE charge, queueing and database included. When the "
               "database has not answered by then, relay-policyd answers a temporary failure. At least "
               "[database] read_timeout and write_timeout; keep it well below Postfix's "
               "smtpd_policy_service_timeout."),
        number("rate_limits", "retry_time", FIELD(rate_limits.retry_time), 0, 10000, "milliseconds",
               "How long a charge, a last-use stamp or an abuse observation that lost to a conflict "
               "(deadlock, Galera certification conflict), to a cluster node not ready (errors 1047, 1180) "
               "or to a connection lost in the middle is run again, with exponential backoff and jitter, "
               "on a fresh connection. Only when it still fails does the message get a temporary failure "
               "(that message alone). 0: no retry. Below charge_timeout."),

        flag("abuse", "enabled", FIELD(abuse.enabled), "Suspend accounts that look abused (below)."),
        number("abuse", "max_networks", FIELD(abuse.max_networks), 1, 100000, "networks",
               "Suspend an account used from more distinct client networks (/24 IPv4, /48 IPv6) than "
               "this within networks_window."),
        number("abuse", "networks_window", FIELD(abuse.networks_window), 60, 2592000, "seconds",
               "Window for max_networks."),
        number("abuse", "max_rate_refusals", FIELD(abuse.max_rate_refusals), 1, 10000000, "refusals",
               "Suspend an account refused for rate limits more often than this within refusals_window."),
        number("abuse", "refusals_window", FIELD(abuse.refusals_window), 60, 2592000, "seconds",
               "Window for max_rate_refusals."),
        number("abuse", "suspend_seconds", FIELD(abuse.suspend_seconds), 60, 315360000, "seconds",
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

std::string where(const Key& key) { return std::string("[") + key.section + "] " + key.name; }
std::string option_name(const Key& key) { return std::string(key.section) + "." + key.name; }

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
        const bool digits = !value.empty() && value.size() <= 10 &&
                            std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        const unsigned long long n = digits ? std::stoull(value) : 0;
        if (!digits || n < key.min || n > key.max) {
            return "want a whole number from " + std::to_string(key.min) + " to " + std::to_string(key.max) +
                   " (" + key.values + ")";
        }
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
        for (const std::string& allowed : split_choices(key.values)) {
            if (value == allowed) {
                key.text(config) = value;
                return "";
            }
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
    case Kind::text:
    case Kind::choice:
    case Kind::mode: return {key.text(config)};
    case Kind::secret: return {key.text(config).empty() ? "" : "********"};
    case Kind::number: return {std::to_string(key.number(config))};
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

// The line where [section] key is first set, for messages (0: not found).
int key_line(const std::string& text, const std::string& section, const std::string& name) {
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
        if (current == section && key == name) return n;
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

void apply_values(const po::variables_map& values, const std::string& text, const std::string& origin,
                  Config& config) {
    for (const Key& key : keys()) {
        const auto found = values.find(option_name(key));
        if (found == values.end()) continue;
        auto given = found->second.as<std::vector<std::string>>();
        const int line = key_line(text, key.section, key.name);
        if (key.kind != Kind::list && given.size() > 1)
            fail(origin, where(key) + " is set " + std::to_string(given.size()) + " times" + at_line(line) +
                             "; it takes one value");
        if (key.kind == Kind::list) key.list(config).clear();  // the file replaces the default list
        for (std::string& value : given) {
            const std::string shown = key.kind == Kind::secret ? "" : " = '" + sanitize(value, 80) + "'";
            if (!unquote(value)) fail(origin, where(key) + shown + at_line(line) + ": the closing \" is missing");
            const std::string problem = assign(key, value, config);
            if (!problem.empty()) fail(origin, where(key) + shown + at_line(line) + ": " + problem);
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
    if (!db.socket.empty() && values.count("database.host") && !is_loopback_name(db.host))
        fail(origin, "[database] socket and [database] host = '" + sanitize(db.host) +
                         "' are both set: a unix socket reaches a server on this host only; remove one");
    if (config.cache.max_stale_seconds * 1000ULL <= config.cache.poll_interval_ms)
        fail(origin, "[cache] max_stale_seconds must be longer than [cache] poll_interval_ms, or the rules "
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
    const po::variables_map values = read_ini(text, origin);
    Config config;
    config.path = origin;
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
            out << "      " << key.min << " .. " << key.max << " " << key.values << "\n";
        else if (key.kind == Kind::choice || key.kind == Kind::flag)
            out << "      one of: " << words(key.values) << "\n";
        else
            out << "      " << key.values << "\n";
        out << wrapped(key.help, "      ", 100);
    }
    return out.str();
}

}  // namespace relay
