// The one INI file every binary reads (--config FILE, default /etc/relay-authority/relay-authority.conf).
// Each option is declared once in config.cpp with its type, default, range and help; unknown keys are an
// error naming the key. Names here are the INI keys: [section] key -> Config::section.key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace relay {

// Choice keys are parsed into these (the words are those of the file, in this order).
// [milter] on_rules_unavailable, on_rate_limited: answer a temporary trouble with a 4xx or a 5xx.
enum class FailureAnswer { tempfail, reject };
// [rate_limits] on_rate_limits_unavailable: tempfail, or let the local allowance through.
enum class RateLimitsUnavailable { tempfail, allow };

struct DatabaseConfig {
    // Servers in order of preference, each HOST, HOST:PORT or [IPV6]:PORT (repeatable key). A daemon uses
    // the first healthy one (core/database_servers.hpp).
    std::vector<std::string> host{"127.0.0.1"};
    unsigned port = 3306;               // for host entries without :PORT
    std::string socket;                 // set: connect through this unix socket instead of host:port
    std::string user = "relay";
    std::string password;               // never printed: --check-config shows "********"
    std::string name = "relay_authority";
    unsigned connect_timeout = 5;       // seconds
    unsigned read_timeout = 5;
    unsigned write_timeout = 5;
    unsigned pool_size = 4;             // connections per process (charges share them: group commit)
    unsigned failback_after = 30;       // seconds a preferred server must stay healthy before it is used again
    unsigned health_interval_ms = 500;  // how often each server's health is checked (several hosts only)
};

struct CacheConfig {
    unsigned poll_interval_ms = 1000;   // how often the change generation is read
    unsigned max_stale_seconds = 300;   // how long the last good rules serve without the database
};

struct GeneralConfig {
    std::string node;                   // name in relay_events.node; default: the host name
    std::string log_level = "info";     // debug, info, notice, warning, error
    std::string syslog_facility = "mail";
    unsigned refusal_summary = 0;       // seconds; 0: one line per refusal (docs/monitoring.md "Logs")
    std::string state_directory = "/var/lib/relay-authority";  // the audit spool lives here
};

struct AuditConfig {
    std::string spool_size = "64M";     // bound of the audit spool file (parse_size_bytes); "0": no spool
};

struct PolicydConfig {
    std::vector<std::string> listen{"inet:127.0.0.1:10040"};  // inet:HOST:PORT or unix:PATH, repeatable
    std::string user = "relay";         // drop privileges to this user after binding
    std::string group = "relay";
    bool allow_root = false;            // keep running as root (not recommended)
    std::string socket_owner;           // unix socket owner/group/mode (default: the daemon's user)
    std::string socket_group;
    std::string socket_mode = "0660";
    unsigned threads = 0;               // I/O threads; 0: auto (Server::io_threads_for)
    unsigned workers = 32;              // threads for work that may wait on the database
    unsigned idle_timeout = 330;        // seconds; above Postfix's smtpd_policy_service_max_idle (300)
    unsigned request_timeout = 10;      // seconds from a request's first byte to its end; below Postfix's timeouts
    unsigned max_connections = 10000;
    unsigned max_line_length = 4096;
    unsigned max_attributes = 64;
    unsigned max_request_bytes = 32768;
    unsigned instance_cache_size = 100000;  // messages tracked by Postfix instance
    unsigned instance_ttl = 3600;           // seconds a message's recipient count is kept
};

struct MilterConfig {
    std::string listen = "inet:10041@127.0.0.1";  // libmilter syntax
    std::string user = "relay";
    std::string group = "relay";
    bool allow_root = false;
    std::string header_from_action = "reject";     // reject, tempfail, off
    FailureAnswer on_rules_unavailable = FailureAnswer::tempfail;  // only while no valid rules are loaded
    FailureAnswer on_rate_limited = FailureAnswer::tempfail;       // when the limit's action is defer
    unsigned timeout = 7210;                       // libmilter socket timeout, seconds
};

struct RateLimitConfig {
    std::string time_zone = "UTC";      // for calendar windows (hour/day): IANA name, e.g. Europe/Berlin
    RateLimitsUnavailable on_rate_limits_unavailable = RateLimitsUnavailable::tempfail;
    unsigned unavailable_allowance = 20;            // messages per account while the database is down (allow)
    unsigned charge_timeout = 5;                    // seconds: the answer to a charge comes within this
    unsigned retry_time = 400;                      // milliseconds: a write lost to a conflict is retried this long
    unsigned lease_size = 0;                        // messages a lease may reserve at most; 0 or 1: no leases
    unsigned lease_time = 2000;                     // milliseconds a lease may be spent before it goes back
};

struct AbuseConfig {
    bool enabled = true;
    unsigned max_networks = 5;          // distinct /24 (IPv4) or /48 (IPv6) client networks ...
    unsigned networks_window = 3600;    // ... within this many seconds
    unsigned max_rate_refusals = 50;    // rate-limit refusals ...
    unsigned refusals_window = 3600;    // ... within this many seconds
    unsigned suspend_seconds = 86400;   // length of an automatic suspension
    std::string notify_command;         // run (no shell) with the event as arguments
};

// relayctl only (the daemons read and ignore this section).
struct RelayctlConfig {
    unsigned min_password_length = 12;  // account add/passwd refuse shorter passwords
    std::string retention = "90d";      // prune's default --older-than
    unsigned prune_batch_size = 1000;   // prune's default --batch: rows per DELETE
    unsigned prune_pause_ms = 50;       // prune's default --pause: sleep between two batches
    std::string submission_server;      // device settings: empty = this host's fully qualified name
    unsigned submission_port = 587;     // contrib/postfix master.cf: submission, STARTTLS required
    std::string submission_tls = "starttls";  // starttls, tls (implicit, port 465), none
    unsigned ip_port = 25;              // port for IP-authorised devices (docs/postfix.md)
    std::string after_change_command;   // run (no shell) with the login after passwd/disable/delete
};

struct MetricsConfig {
    std::string policyd_listen;         // IP:PORT of relay-policyd's /metrics and /healthz; empty: off
    std::string milter_listen;          // the same for relay-milter
};

struct Config {
    std::string path;                   // the file read, for messages
    std::vector<std::string> warnings;  // e.g. an old key name still read (load_config logs them)
    GeneralConfig general;
    DatabaseConfig database;
    CacheConfig cache;
    PolicydConfig policyd;
    MilterConfig milter;
    RateLimitConfig rate_limits;
    AbuseConfig abuse;
    RelayctlConfig relayctl;
    MetricsConfig metrics;
    AuditConfig audit;
};

// Reads and validates the file; throws ConfigError naming the file, key and problem; logs the warnings
// (a deprecated key name used, ...). Refuses a file that
// anybody but root or the user running the program could change (config_file_access.hpp: owner, mode,
// the directories above it) and logs a warning when everybody may read a file holding a password.
Config load_config(const std::string& path);
// Same, from text (tests).
Config parse_config(const std::string& text, const std::string& origin = "<string>");
// The effective configuration as INI text, every key, passwords masked.
std::string dump_config(const Config& config);
// Help for every key: section, name, default, range, meaning (for --help and docs).
std::string config_reference();

// Which daemon reads a configuration (start checks, SIGHUP).
enum class DaemonKind { policyd, milter };

// SIGHUP, derived from the key table (docs/configuration.md, "Reloading"). The keys that count are those
// the daemon reads: its own section, the shared ones, its own [metrics] port.
// The keys the daemon reads whose value differs and that only a restart applies: "[policyd] listen".
std::vector<std::string> keys_needing_restart(const Config& running, const Config& fresh, DaemonKind daemon);
// Copies every key the daemon applies on SIGHUP from fresh into running; the others keep their values.
void apply_reloadable_keys(Config& running, const Config& fresh, DaemonKind daemon);
// "[general] log_level", ...: the keys apply_reloadable_keys copies (for docs and tests).
std::vector<std::string> reloadable_keys(DaemonKind daemon);

}  // namespace relay
