// Logging: syslog (mail facility) for daemons, stderr in the foreground and for tools.
// Untrusted values go through sanitize() first: printable, truncated. Passwords are never logged.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

enum class LogLevel { debug, info, notice, warning, error };

struct LogOptions {
    std::string ident = "relay-authority";
    bool to_stderr = true;
    std::string facility = "mail";   // syslog facility name
    LogLevel min_level = LogLevel::info;
};

void log_init(const LogOptions& options);
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::info, m); }
inline void log_warning(std::string_view m) { log(LogLevel::warning, m); }
inline void log_error(std::string_view m) { log(LogLevel::error, m); }
inline void log_debug(std::string_view m) { log(LogLevel::debug, m); }

// "debug", "info", ... (the [general] log_level words); nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);
const char* to_string(LogLevel level);

// Printable ASCII only (others become '?'), at most max_len characters (then "...").
std::string sanitize(std::string_view untrusted, std::size_t max_len = 200);

}  // namespace relay
