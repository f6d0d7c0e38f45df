// Logging to syslog (daemons) or stderr (foreground, tools). One mutex serialises the whole line so
// lines from worker threads never interleave; the level check before it is a relaxed atomic read, so
// debug calls cost almost nothing when debug is off.
// Refusal summaries ([general] refusal_summary) are counted in a RefusalSummary and written by a thread
// started with the first refusal counted (after the daemon's fork: a thread does not survive fork()).
#include "core/base/log.hpp"

#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "core/base/refusal_summary.hpp"

namespace relay {
namespace {

struct LogState {
    std::mutex mutex;
    LogOptions options;
    bool syslog_open = false;
    // openlog() keeps the pointer it is given, so the ident must outlive every syslog() call: it lives
    // here and is only replaced after closelog().
    std::string syslog_ident;
    std::atomic<int> min_level{static_cast<int>(LogLevel::info)};
    RefusalSummary refusals;
    std::atomic<bool> summary_thread{false};  // reset in a forked child, which has no such thread
};

LogState& state() {
    // Deliberately never destroyed: destructors of other statics and threads still finishing at exit
    // (the audit writer's last flush) may log after this translation unit's statics are gone; the summary
    // thread runs until the process ends.
    static LogState* const instance = [] {
        auto* s = new LogState;
        pthread_atfork(nullptr, nullptr, [] { state().summary_thread.store(false); });
        return s;
    }();
    return *instance;
}

void write_summaries(std::vector<RefusalSummary::Line> lines) {
    for (const auto& line : lines) log(static_cast<LogLevel>(line.level), line.text);
}

// Says the summaries within about a second of their interval's end, also when no request comes.
void start_summary_thread(LogState& s) {
    bool expected = false;
    if (!s.summary_thread.compare_exchange_strong(expected, true)) return;
    std::thread([&s] {
        while (true) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            write_summaries(s.refusals.due(SystemClock::now()));
        }
    }).detach();
}

int syslog_priority(LogLevel level) {
    switch (level) {
    case LogLevel::debug: return LOG_DEBUG;
    case LogLevel::info: return LOG_INFO;
    case LogLevel::notice: return LOG_NOTICE;
    case LogLevel::warning: return LOG_WARNING;
    case LogLevel::error: return LOG_ERR;
    }
    return LOG_ERR;
}

int syslog_facility(const std::string& name) {
    struct Entry { const char* name; int facility; };
    static const Entry table[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"auth", LOG_AUTH},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
        {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (const auto& entry : table) {
        if (name == entry.name) return entry.facility;
    }
    return LOG_MAIL;  // the config validates the name; mail is the documented default
}

// Our own messages may embed values that were sanitized with a larger budget or not at all (a bug);
// a CR or LF would forge a second log line, so control characters never reach the output.
std::string one_line(std::string_view message) {
    std::string out(message);
    for (char& c : out) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte == '\t') c = ' ';
        else if (byte < 0x20 || byte == 0x7f) c = '?';
    }
    return out;
}

std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm local{};
    localtime_r(&seconds, &local);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &local);
    char zone[8];
    std::strftime(zone, sizeof zone, "%z", &local);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03d%s", date, static_cast<int>(millis), zone);
    return out;
}

}  // namespace

void log_init(const LogOptions& options) {
    LogState& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.syslog_open) {
        closelog();
        s.syslog_open = false;
    }
    s.options = options;
    s.min_level.store(static_cast<int>(options.min_level), std::memory_order_relaxed);
    s.refusals.set_interval(options.refusal_summary);
    if (!options.to_stderr) {
        s.syslog_ident = options.ident;
        openlog(s.syslog_ident.c_str(), LOG_PID | LOG_NDELAY, syslog_facility(options.facility));
        s.syslog_open = true;
    }
}

void log(LogLevel level, std::string_view message) {
    LogState& s = state();
    if (static_cast<int>(level) < s.min_level.load(std::memory_order_relaxed)) return;
    const std::string text = one_line(message);
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.options.to_stderr) {
        syslog(syslog_priority(level), "%s", text.c_str());
        return;
    }
    // Built whole and written with one call: stderr is unbuffered, and a line must stay a line.
    std::string line = timestamp();
    line += ' ';
    line += s.options.ident;
    line += '[';
    line += std::to_string(static_cast<long>(getpid()));
    line += "] ";
    line += to_string(level);
    line += ": ";
    line += text;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

bool log_refusal_in_full(LogLevel level, std::string_view who, std::string_view reason) {
    LogState& s = state();
    if (static_cast<int>(level) < s.min_level.load(std::memory_order_relaxed)) return false;
    if (s.refusals.interval().count() <= 0) return true;
    if (!s.summary_thread.load(std::memory_order_relaxed)) start_summary_thread(s);
    return s.refusals.note(who, reason, static_cast<int>(level), SystemClock::now());
}

void log_refusal_summaries_now() { write_summaries(state().refusals.rest()); }

std::optional<LogLevel> parse_log_level(std::string_view name) {
    for (LogLevel level :
         {LogLevel::debug, LogLevel::info, LogLevel::notice, LogLevel::warning, LogLevel::error}) {
        if (name == to_string(level)) return level;
    }
    return std::nullopt;
}

const char* to_string(LogLevel level) {
    switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::notice: return "notice";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    }
    return "error";
}

std::string sanitize(std::string_view untrusted, std::size_t max_len) {
    const bool truncated = untrusted.size() > max_len;
    const std::string_view kept = truncated ? untrusted.substr(0, max_len) : untrusted;
    std::string out;
    out.reserve(kept.size() + 3);
    for (char c : kept) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
    }
    if (truncated) out += "...";
    return out;
}

}  // namespace relay
