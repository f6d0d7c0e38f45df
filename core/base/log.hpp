// Logging: syslog (mail facility) for daemons, stderr in the foreground and for tools.
// Untrusted values go through sanitize() first: printable, truncated. Passwords are never logged.
#pragma once

#include <chrono>
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
    // [general] refusal_summary: 0 writes every refusal's line; otherwise see log_refusal_in_full().
    std::chrono::seconds refusal_summary{0};
};

void log_init(const LogOptions& options);
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::info, m); }
inline void log_warning(std::string_view m) { log(LogLevel::warning, m); }
inline void log_error(std::string_view m) { log(LogLevel::error, m); }
inline void log_debug(std::string_view m) { log(LogLevel::debug, m); }

// Whether to write the line of this refused request. Always, with [general] refusal_summary 0 (the
// default). Otherwise only the first refusal of its (who, reason) pair in the interval; the others are
// counted and said in one "refusal summary:" line per pair when the interval ends (core/base/
// refusal_summary.hpp), written by a thread of the log within about a second. false as well when `level`
// is not logged at all. `who` is "login=..." or "client=...", already sanitized.
bool log_refusal_in_full(LogLevel level, std::string_view who, std::string_view reason);
// Writes the refusal summaries counted so far, whatever the time (at shutdown).
void log_refusal_summaries_now();

// "debug", "info", ... (the [general] log_level words); nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);
const char* to_string(LogLevel level);

// Printable ASCII only (others become '?'), at most max_len characters (then "...").
std::string sanitize(std::string_view untrusted, std::size_t max_len = 200);

}  // namespace relay
