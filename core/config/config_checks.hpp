// Syntax checks for configuration values, one per kind of value, used by the key table in config.cpp.
// Each returns the problem in plain words ("want ...") or "" when the value is fine. The listen parsers
// are public so relay-policyd and relay-milter read the socket specification exactly as it was checked.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace relay {

using ConfigCheck = std::string (*)(const std::string& value);

struct ListenAddress {
    enum class Family { inet, inet6, unix_path };
    Family family = Family::inet;
    std::string host;   // inet/inet6: address or host name, without brackets
    unsigned port = 0;  // inet/inet6
    std::string path;   // unix_path: absolute path of the socket
};

// One [database] host entry: HOST, HOST:PORT, [IPV6]:PORT, [IPV6] or a bare IPv6 address.
struct DatabaseHost {
    std::string host;   // name or address, without brackets
    unsigned port = 0;  // 0: not given, [database] port applies
};
DatabaseHost parse_database_host(const std::string& value);  // throws ConfigError(problem)
std::string check_database_host(const std::string& value);

// [policyd] listen: inet:HOST:PORT, inet:[IPV6]:PORT, unix:/absolute/path. Throws ConfigError(problem).
ListenAddress parse_policyd_listen(const std::string& value);
// [milter] listen, libmilter syntax: inet:PORT@HOST, inet6:PORT@HOST, unix:/path (local:/path).
ListenAddress parse_milter_listen(const std::string& value);

std::string check_policyd_listen(const std::string& value);
std::string check_milter_listen(const std::string& value);
std::string check_host(const std::string& value);            // host name, IPv4 or IPv6 address
std::string check_socket_path(const std::string& value);     // empty, or an absolute path that fits sun_path
std::string check_db_user(const std::string& value);
std::string check_db_name(const std::string& value);
std::string check_account_name(const std::string& value);    // a Unix user or group name
std::string check_account_name_or_empty(const std::string& value);
std::string check_node(const std::string& value);            // empty (= the host name) or a short name
std::string check_time_zone(const std::string& value);       // IANA name, present in /usr/share/zoneinfo
std::string check_command(const std::string& value);         // empty, or an absolute path
std::string check_octal_mode(const std::string& value);      // 660, 0660 (no set-id or sticky bits)
std::string check_state_directory(const std::string& value);  // an absolute path
// A size such as "64M", "512k", "1G" (k, M, G: 1024, 1024^2, 1024^3) or a bare number of bytes, in bytes;
// nullopt when it is not one or is over 1 TiB.
std::optional<unsigned long long> parse_size_bytes(const std::string& value);
std::string check_size(const std::string& value);

// [relayctl] (relayctl reuses the parsers, so what --check-config accepts is what relayctl does).
// An age such as "90d", "12w", "36h" in seconds (a unit is required); 0 when it is not one or is over
// 100 years.
unsigned long long parse_age_seconds(const std::string& value);
// after_change_command split into argv at white space (no quoting, no shell); empty for an empty value.
std::vector<std::string> split_command(const std::string& value);
std::string check_retention(const std::string& value);          // an age, at least one day
std::string check_submission_server(const std::string& value);  // empty, or a host name / address
std::string check_after_change_command(const std::string& value);  // empty, or /absolute/path [args]

}  // namespace relay
