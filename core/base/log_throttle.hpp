// Keeping the log readable when the same trouble repeats (docs/monitoring.md "Logs"), with the time passed
// in (tests move a ManualClock, they never sleep):
//   CauseLog    during an outage, log a cause when it changes, at most once per cause per interval
//               ("socket missing" → "access denied" → "socket missing" within a minute: the third is
//               not logged again, the second is);
//   EventTally  count what happens often (charge retries, conflicts) and say it in one line at most once
//               per interval.
// Neither logs anything itself: they answer whether, and what, so the caller keeps its level and words.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/base/clock.hpp"

namespace relay {

inline constexpr std::chrono::seconds kLogSummaryInterval{60};

// Not thread-safe: its owner serialises the calls (the rules refresh is serialised already).
class CauseLog {
public:
    explicit CauseLog(std::chrono::seconds interval = kLogSummaryInterval) : interval_(interval) {}
    // Whether to log this cause now: it differs from the last cause seen in this outage, and it was not
    // logged within the interval. The first cause of an outage is always logged.
    bool should_log(const std::string& cause, TimePoint now);
    // The outage is over: the next failure is a new outage, logged whatever its cause.
    void end_outage();

private:
    static constexpr std::size_t kMaxCauses = 64;  // distinct causes remembered (bounded memory)
    std::chrono::seconds interval_;
    std::optional<std::string> last_;                  // the cause of the latest failure of this outage
    std::unordered_map<std::string, TimePoint> logged_;  // cause -> when it was last logged
};

// Thread-safe.
class EventTally {
public:
    explicit EventTally(std::chrono::seconds interval = kLogSummaryInterval) : interval_(interval) {}
    void add(const std::string& kind, std::uint64_t n = 1);
    // "3 deadlock, 1 lock wait timeout" for what was counted since the last summary, when there is
    // something and the last summary is at least the interval old (the first one comes at once);
    // nullopt otherwise. What it returns is forgotten.
    std::optional<std::string> summary(TimePoint now);
    // The same, whatever the time (at shutdown, so nothing counted goes unsaid).
    std::optional<std::string> rest();

private:
    std::optional<std::string> take();  // with mutex_ held
    std::mutex mutex_;
    std::chrono::seconds interval_;
    std::map<std::string, std::uint64_t> counts_;  // sorted: a stable line
    std::optional<TimePoint> last_summary_;
};

}  // namespace relay
