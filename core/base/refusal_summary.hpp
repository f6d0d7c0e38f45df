// [general] refusal_summary (docs/monitoring.md "Logs"): under a refusal flood, one line per refusal is
// megabytes of log a second. With an interval set, the first refusal of each (who, reason) pair in an
// interval is written in full and the rest are only counted; when the interval ends, one line per pair
// says how many more there were. The audit trail (relay_events) is not affected: this is the log only.
//
// Intervals are aligned to the clock (interval 60 s: whole minutes), so every daemon on every host
// summarises the same minutes. The time is passed in: tests move a ManualClock, they never sleep.
//
// Bounded memory: at most `capacity` pairs per interval; refusals of further pairs are counted as "not
// itemised" (never written in full) and said in one line. Thread-safe without one lock for everything:
// pairs are spread over shards by hash, each with its own mutex, so request threads refusing different
// accounts rarely meet; with the interval 0 (the default) note() is one relaxed atomic load.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/clock.hpp"

namespace relay {

class RefusalSummary {
public:
    static constexpr std::size_t kDefaultCapacity = 4096;

    explicit RefusalSummary(std::chrono::seconds interval = std::chrono::seconds(0),
                            std::size_t capacity = kDefaultCapacity);

    // 0: every refusal is written in full (note() always answers true). Counts of the running interval
    // stay and are said by the next due()/rest().
    void set_interval(std::chrono::seconds interval);
    std::chrono::seconds interval() const { return std::chrono::seconds(interval_s_.load(std::memory_order_relaxed)); }

    // Whether to write this refusal's own line: the first of its (who, reason) pair in the interval;
    // otherwise it is counted (level: the level its own line would have had; the summary uses it).
    bool note(std::string_view who, std::string_view reason, int level, TimePoint now);

    struct Line {
        int level;
        std::string text;
    };
    // The summary lines of every interval that ended by `now`, in no particular order; what is returned
    // is forgotten. Empty while nothing is due.
    std::vector<Line> due(TimePoint now);
    // Everything counted, whatever the time (at shutdown, so nothing counted goes unsaid).
    std::vector<Line> rest();

private:
    struct Count {
        std::uint64_t more = 0;  // refusals after the first, which was written in full
        int level = 0;
    };
    struct Shard {
        std::mutex mutex;
        std::int64_t window = -1;                       // the interval `pairs` counts (unix time / length)
        std::int64_t length_s = 0;                      // its length (the interval may change on SIGHUP)
        std::unordered_map<std::string, Count> pairs;  // key: who '\n' reason
        std::uint64_t not_itemised = 0;
        int not_itemised_level = 0;
        std::vector<Line> finished;  // lines of ended intervals not yet returned
    };
    static constexpr std::size_t kShards = 16;

    static std::int64_t window_of(TimePoint now, std::int64_t interval_s);
    static void close_window(Shard& shard);  // with shard.mutex held: counts -> finished lines, empty

    std::atomic<std::int64_t> interval_s_;
    std::size_t per_shard_;
    std::array<Shard, kShards> shards_;
};

}  // namespace relay
