#include "policyd/instance_tracker.hpp"

namespace relay {

InstanceTracker::InstanceTracker(std::size_t capacity, std::chrono::seconds ttl, const Clock& clock)
    : clock_(clock), capacity_(capacity), ttl_(ttl) {}

bool InstanceTracker::expired(const Entry& entry, TimePoint now) const {
    return now - entry.record.last_seen > ttl_;
}

void InstanceTracker::erase(std::unordered_map<std::string, Entry>::iterator it) {
    lru_.erase(it->second.position);
    entries_.erase(it);
}

// The LRU tail is also the entry seen longest ago, so expired entries are found there first.
void InstanceTracker::make_room() {
    const TimePoint now = clock_.now();
    while (!lru_.empty()) {
        auto it = entries_.find(lru_.back());
        if (!expired(it->second, now) && entries_.size() < capacity_) break;
        if (!expired(it->second, now)) ++evicted_;
        erase(it);
    }
}

void InstanceTracker::begin(const std::string& instance) {
    if (instance.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(instance);
    if (it != entries_.end()) erase(it);
}

void InstanceTracker::note_recipient(const std::string& instance, bool allowed) {
    if (instance.empty() || capacity_ == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const TimePoint now = clock_.now();
    auto it = entries_.find(instance);
    if (it != entries_.end() && expired(it->second, now)) {
        erase(it);
        it = entries_.end();
    }
    if (it == entries_.end()) {
        make_room();
        lru_.push_front(instance);
        Entry entry;
        entry.record.first_seen = now;
        entry.position = lru_.begin();
        it = entries_.emplace(instance, entry).first;
    } else {
        lru_.splice(lru_.begin(), lru_, it->second.position);
    }
    MessageRecord& r = it->second.record;
    r.last_seen = now;
    ++r.recipients_seen;
    if (allowed) ++r.recipients_allowed;
}

std::optional<MessageRecord> InstanceTracker::finish(const std::string& instance) {
    if (instance.empty()) return std::nullopt;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(instance);
    if (it == entries_.end()) return std::nullopt;
    const bool stale = expired(it->second, clock_.now());
    const MessageRecord record = it->second.record;
    erase(it);
    if (stale) return std::nullopt;
    return record;
}

std::optional<MessageRecord> InstanceTracker::peek(const std::string& instance) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(instance);
    if (it == entries_.end() || expired(it->second, clock_.now())) return std::nullopt;
    return it->second.record;
}

void InstanceTracker::set_limits(std::size_t capacity, std::chrono::seconds ttl) {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = capacity;
    ttl_ = ttl;
    // Trim to the new bound now; make_room() leaves room for one more, so trim to exactly capacity.
    const TimePoint now = clock_.now();
    while (!lru_.empty()) {
        auto it = entries_.find(lru_.back());
        const bool stale = expired(it->second, now);
        if (!stale && entries_.size() <= capacity_) break;
        if (!stale) ++evicted_;
        erase(it);
    }
}

std::size_t InstanceTracker::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
}

std::uint64_t InstanceTracker::evicted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return evicted_;
}

}  // namespace relay
