// Value checks for the configuration (see config_checks.hpp). Messages say what is wanted, not what
// was found: config.cpp already quotes the value and names the key.
#include "core/config/config_checks.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "core/base/errors.hpp"

namespace relay {
namespace {

// Enough for sockaddr_un.sun_path (108 bytes with its terminating NUL).
constexpr std::size_t kMaxSocketPath = 107;

bool all_of(const std::string& value, bool (*allowed)(char)) {
    return std::all_of(value.begin(), value.end(), allowed);
}

bool host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }

bool is_ipv4(const std::string& value) {
    in_addr address{};
    return inet_pton(AF_INET, value.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& value) {
    in6_addr address{};
    return inet_pton(AF_INET6, value.c_str(), &address) == 1;
}

// A host name or an IPv4 address (dotted digits must be a valid address, so 127.0.0.256 is caught).
bool is_name_or_ipv4(const std::string& value) {
    if (value.empty() || value.size() > 253 || !all_of(value, host_char)) return false;
    const bool numeric = std::all_of(value.begin(), value.end(), [](char c) { return c == '.' || std::isdigit(static_cast<unsigned char>(c)); });
    return !numeric || is_ipv4(value);
}

unsigned parse_port(const std::string& text) {
    const bool digits = !text.empty() && text.size() <= 5 &&
                        std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    const unsigned port = digits ? static_cast<unsigned>(std::stoul(text)) : 0;
    if (port < 1 || port > 65535) throw ConfigError("want a port from 1 to 65535");
    return port;
}

ListenAddress unix_socket(const std::string& path) {
    const std::string problem = check_socket_path(path);
    if (path.empty() || !problem.empty()) throw ConfigError("want unix:/absolute/path (at most 107 bytes)");
    ListenAddress address;
    address.family = ListenAddress::Family::unix_path;
    address.path = path;
    return address;
}

std::string problem_of(ListenAddress (*parse)(const std::string&), const std::string& value) {
    try {
        parse(value);
        return "";
    } catch (const ConfigError& e) {
        return e.what();
    }
}

}  // namespace

ListenAddress parse_policyd_listen(const std::string& value) {
    const char* syntax = "want inet:HOST:PORT, inet:[IPV6]:PORT or unix:/absolute/path";
    if (value.rfind("unix:", 0) == 0) return unix_socket(value.substr(5));
    if (value.rfind("inet:", 0) != 0) throw ConfigError(syntax);
    const std::string rest = value.substr(5);
    ListenAddress address;
    std::size_t port_at;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') throw ConfigError(syntax);
        address.family = ListenAddress::Family::inet6;
        address.host = rest.substr(1, close - 1);
        if (!is_ipv6(address.host)) throw ConfigError("want an IPv6 address inside [ ]");
        port_at = close + 2;
    } else {
        const std::size_t colon = rest.find(':');
        if (colon == std::string::npos || colon == 0) throw ConfigError(syntax);
        address.host = rest.substr(0, colon);
        if (!is_name_or_ipv4(address.host)) throw ConfigError("want a host name or an IPv4 address (IPv6: inet:[ADDR]:PORT)");
        port_at = colon + 1;
    }
    address.port = parse_port(rest.substr(port_at));
    return address;
}

ListenAddress parse_milter_listen(const std::string& value) {
    const char* syntax = "want inet:PORT@HOST, inet6:PORT@HOST or unix:/absolute/path (libmilter syntax)";
    if (value.rfind("unix:", 0) == 0) return unix_socket(value.substr(5));
    if (value.rfind("local:", 0) == 0) return unix_socket(value.substr(6));
    ListenAddress address;
    std::string rest;
    if (value.rfind("inet:", 0) == 0) {
        rest = value.substr(5);
    } else if (value.rfind("inet6:", 0) == 0) {
        rest = value.substr(6);
        address.family = ListenAddress::Family::inet6;
    } else {
        throw ConfigError(syntax);
    }
    const std::size_t at = rest.find('@');
    if (at == std::string::npos) throw ConfigError("want PORT@HOST after the family (e.g. inet:10041@127.0.0.1; every address: @0.0.0.0)");
    address.port = parse_port(rest.substr(0, at));
    address.host = rest.substr(at + 1);
    const bool ok = address.family == ListenAddress::Family::inet ? is_name_or_ipv4(address.host)
                                                                   : is_ipv6(address.host) || is_name_or_ipv4(address.host);
    if (!ok) {
        throw ConfigError(address.family == ListenAddress::Family::inet
                              ? "want a host name or an IPv4 address after @ (IPv6: inet6:PORT@ADDR)"
                              : "want an IPv6 address (no brackets) or a host name after @");
    }
    return address;
}

DatabaseHost parse_database_host(const std::string& value) {
    const char* syntax = "want HOST, HOST:PORT or [IPV6]:PORT";
    DatabaseHost entry;
    if (is_ipv6(value)) {  // ::1, 2001:db8::5 (no port: the colons belong to the address)
        entry.host = value;
        return entry;
    }
    std::size_t port_at = std::string::npos;
    if (!value.empty() && value.front() == '[') {
        const std::size_t close = value.find(']');
        if (close == std::string::npos) throw ConfigError(syntax);
        entry.host = value.substr(1, close - 1);
        if (!is_ipv6(entry.host)) throw ConfigError("want an IPv6 address inside [ ]");
        if (close + 1 < value.size()) {
            if (value[close + 1] != ':') throw ConfigError(syntax);
            port_at = close + 2;
        }
    } else {
        const std::size_t colon = value.find(':');
        entry.host = value.substr(0, colon);
        if (!is_name_or_ipv4(entry.host)) throw ConfigError("want a host name or an IPv4 address, then :PORT if "
                                                            "the server listens on another port ([IPV6]:PORT)");
        if (colon != std::string::npos) port_at = colon + 1;
    }
    if (port_at != std::string::npos) entry.port = parse_port(value.substr(port_at));
    return entry;
}

std::string check_database_host(const std::string& value) {
    try {
        parse_database_host(value);
        return "";
    } catch (const ConfigError& e) {
        return e.what();
    }
}

std::string check_policyd_listen(const std::string& value) { return problem_of(parse_policyd_listen, value); }
std::string check_milter_listen(const std::string& value) { return problem_of(parse_milter_listen, value); }

std::string check_host(const std::string& value) {
    if (is_name_or_ipv4(value) || is_ipv6(value)) return "";
    return "want a host name, an IPv4 or an IPv6 address (no brackets)";
}

std::string check_socket_path(const std::string& value) {
    if (value.empty()) return "";
    if (value.front() != '/') return "want an absolute path";
    if (value.size() > kMaxSocketPath) return "want a path of at most 107 bytes (a unix socket's limit)";
    return "";
}

std::string check_db_user(const std::string& value) {
    if (value.empty() || value.size() > 80) return "want a user name of 1 to 80 characters";
    return "";
}

std::string check_db_name(const std::string& value) {
    const bool ok = !value.empty() && value.size() <= 64 &&
                    all_of(value, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; });
    return ok ? "" : "want 1 to 64 letters, digits, _ or $";
}

std::string check_account_name(const std::string& value) {
    if (value.empty() || value.size() > 32 || value.front() == '-' || !all_of(value, name_char))
        return "want a user or group name (letters, digits, . _ -; at most 32)";
    return "";
}

std::string check_account_name_or_empty(const std::string& value) {
    return value.empty() ? "" : check_account_name(value);
}

std::string check_node(const std::string& value) {
    if (value.size() > 64 || !all_of(value, name_char)) return "want at most 64 letters, digits, . _ or -";
    return "";
}

std::string check_time_zone(const std::string& value) {
    const bool syntax = !value.empty() && value.size() <= 64 && value.front() != '/' &&
                        value.find("..") == std::string::npos &&
                        all_of(value, [](char c) { return name_char(c) || c == '/' || c == '+'; });
    if (!syntax) return "want an IANA time zone name such as UTC or Europe/Berlin";
    // Without tzdata nothing can be checked here; the daemon then fails when it loads the zone.
    struct stat info{};
    if (stat("/usr/share/zoneinfo", &info) != 0) return "";
    const std::string file = "/usr/share/zoneinfo/" + value;
    if (stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
        return "unknown time zone (not in /usr/share/zoneinfo); want e.g. UTC or Europe/Berlin";
    return "";
}

std::string check_command(const std::string& value) {
    if (value.empty() || value.front() == '/') return "";
    return "want an absolute path (the command runs without a shell and without PATH)";
}

std::string check_octal_mode(const std::string& value) {
    const bool octal = std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '7'; });
    const bool ok = octal && (value.size() == 3 || (value.size() == 4 && value.front() == '0'));
    return ok ? "" : "want an octal mode such as 0660 (no set-id or sticky bits)";
}

// ---- [relayctl]

unsigned long long parse_age_seconds(const std::string& value) {
    std::size_t digits = 0;
    while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return 0;
    const unsigned long long n = std::stoull(value.substr(0, digits));
    const std::string unit = value.substr(digits);
    unsigned long long mult = 0;
    if (unit == "h") mult = 3600;
    else if (unit == "d") mult = 86400;
    else if (unit == "w") mult = 7 * 86400;
    if (mult == 0 || n == 0 || n > 100ULL * 366 * 86400 / mult) return 0;
    return n * mult;
}

std::vector<std::string> split_command(const std::string& value) {
    std::vector<std::string> argv;
    std::string word;
    for (char c : value) {
        if (c == ' ' || c == '\t') {
            if (!word.empty()) argv.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) argv.push_back(word);
    return argv;
}

std::string check_retention(const std::string& value) {
    const unsigned long long s = parse_age_seconds(value);
    if (s == 0) return "want an age such as 90d, 12w or 72h (a number and a unit h, d or w)";
    if (s < 86400) return "want at least one day (1d): shorter would delete the audit trail of today";
    return "";
}

std::string check_state_directory(const std::string& value) {
    if (value.empty() || value.front() != '/') return "want an absolute path";
    return "";
}

std::optional<unsigned long long> parse_size_bytes(const std::string& value) {
    std::size_t digits = 0;
    while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
    if (digits == 0 || digits > 13) return std::nullopt;
    const std::string unit = value.substr(digits);
    unsigned long long scale = 0;
    if (unit.empty()) scale = 1;
    else if (unit == "k" || unit == "K") scale = 1ULL << 10;
    else if (unit == "M") scale = 1ULL << 20;
    else if (unit == "G") scale = 1ULL << 30;
    else return std::nullopt;
    const unsigned long long n = std::stoull(value.substr(0, digits));
    if (n > (1ULL << 40) / scale) return std::nullopt;
    return n * scale;
}

std::string check_size(const std::string& value) {
    if (!parse_size_bytes(value)) return "want a size such as 64M, 512k or 1G (k, M, G; a bare number is bytes), at most 1024G";
    return "";
}

std::string check_submission_server(const std::string& value) { return value.empty() ? "" : check_host(value); }

std::string check_after_change_command(const std::string& value) {
    const auto argv = split_command(value);
    if (argv.empty() || argv.front().front() == '/') return "";
    return "want an absolute path, then arguments (the command runs without a shell and without PATH)";
}

}  // namespace relay
