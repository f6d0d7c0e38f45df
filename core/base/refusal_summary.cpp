#include "core/base/refusal_summary.hpp"

#include <algorithm>
#include <ctime>
#include <functional>

namespace relay {
namespace {

// The end of the interval as the log's own timestamps show time (local, with its offset).
std::string local_time(std::int64_t unix_seconds) {
    const auto t = static_cast<std::time_t>(unix_seconds);
    std::tm local{};
    localtime_r(&t, &local);
    char out[40];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S%z", &local);
    return out;
}

}  // namespace

RefusalSummary::RefusalSummary(std::chrono::seconds interval, std::size_t capacity)
    : interval_s_(interval.count()), per_shard_(capacity / kShards > 0 ? capacity / kShards : 1) {}

void RefusalSummary::set_interval(std::chrono::seconds interval) {
    interval_s_.store(interval.count(), std::memory_order_relaxed);
}

std::int64_t RefusalSummary::window_of(TimePoint now, std::int64_t interval_s) {
    const std::int64_t t = to_unix(now);
    return (t >= 0 ? t : 0) / interval_s;
}

bool RefusalSummary::note(std::string_view who, std::string_view reason, int level, TimePoint now) {
    const std::int64_t interval_s = interval_s_.load(std::memory_order_relaxed);
    if (interval_s <= 0) return true;
    std::string key;
    key.reserve(who.size() + 1 + reason.size());
    key.append(who).append(1, '\n').append(reason);
    Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
    const std::int64_t window = window_of(now, interval_s);
    std::lock_guard<std::mutex> lock(shard.mutex);
    // A clock stepped back stays in the running interval rather than reopening an old one.
    if (window > shard.window || interval_s != shard.length_s) {
        close_window(shard);
        shard.window = window;
        shard.length_s = interval_s;
    }
    const auto found = shard.pairs.find(key);
    if (found != shard.pairs.end()) {
        ++found->second.more;
        return false;
    }
    if (shard.pairs.size() >= per_shard_) {
        ++shard.not_itemised;
        shard.not_itemised_level = std::max(shard.not_itemised_level, level);
        return false;
    }
    shard.pairs.emplace(std::move(key), Count{0, level});
    return true;
}

// The lines name the interval and its end, so an admin can add them up per minute (docs/monitoring.md).
void RefusalSummary::close_window(Shard& shard) {
    if (shard.window < 0) return;
    const std::string until = " interval=" + std::to_string(shard.length_s) +
                              "s until=" + local_time((shard.window + 1) * shard.length_s);
    for (const auto& [key, count] : shard.pairs) {
        if (count.more == 0) continue;  // refused once: its own line said everything
        const std::size_t split = key.find('\n');
        shard.finished.push_back(
            {count.level, "refusal summary: " + key.substr(0, split) + " reason=" + key.substr(split + 1) +
                              " more=" + std::to_string(count.more) + until +
                              " (the first refusal of the interval is logged in full)"});
    }
    if (shard.not_itemised > 0) {
        shard.finished.push_back(
            {shard.not_itemised_level,
             "refusal summary: not_itemised=" + std::to_string(shard.not_itemised) + until +
                 " (more pairs of account and reason than the summary holds: these refusals are not logged "
                 "one by one)"});
    }
    shard.pairs.clear();
    shard.not_itemised = 0;
    shard.not_itemised_level = 0;
    shard.window = -1;  // the next refusal opens its interval
}

std::vector<RefusalSummary::Line> RefusalSummary::due(TimePoint now) {
    std::vector<Line> lines;
    const std::int64_t interval_s = interval_s_.load(std::memory_order_relaxed);
    for (Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        // Summaries off since (SIGHUP): what was counted is said now.
        if (shard.window >= 0 && (interval_s <= 0 || window_of(now, shard.length_s) > shard.window))
            close_window(shard);
        for (Line& line : shard.finished) lines.push_back(std::move(line));
        shard.finished.clear();
    }
    return lines;
}

std::vector<RefusalSummary::Line> RefusalSummary::rest() {
    std::vector<Line> lines;
    for (Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        close_window(shard);
        for (Line& line : shard.finished) lines.push_back(std::move(line));
        shard.finished.clear();
    }
    return lines;
}

}  // namespace relay
