#include "core/base/log_throttle.hpp"

namespace relay {

bool CauseLog::should_log(const std::string& cause, TimePoint now) {
    const bool changed = !last_ || *last_ != cause;
    last_ = cause;
    if (!changed) return false;
    const auto found = logged_.find(cause);
    if (found != logged_.end() && now - found->second < interval_ && now >= found->second) return false;
    if (logged_.size() >= kMaxCauses) logged_.clear();
    logged_[cause] = now;
    return true;
}

void CauseLog::end_outage() {
    last_.reset();
    logged_.clear();
}

void EventTally::add(const std::string& kind, std::uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[kind] += n;
}

std::optional<std::string> EventTally::summary(TimePoint now) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (counts_.empty()) return std::nullopt;
    if (last_summary_ && now - *last_summary_ < interval_ && now >= *last_summary_) return std::nullopt;
    last_summary_ = now;
    return take();
}

std::optional<std::string> EventTally::rest() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (counts_.empty()) return std::nullopt;
    return take();
}

std::optional<std::string> EventTally::take() {
    std::string line;
    for (const auto& [kind, n] : counts_) line += (line.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
    counts_.clear();
    return line;
}

}  // namespace relay
