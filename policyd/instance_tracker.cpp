#include "policyd/instance_tracker.hpp"

#include <functional>
#include <string_view>

namespace relay::policyd {

InstanceTracker::InstanceTracker(std::size_t capacity, std::chrono::seconds ttl, const Clock& clock)
    : clock_(clock), capacity_(capacity), ttl_(ttl) {}

// The library's string hash, and FNV-1a as the independent check.
InstanceTracker::Key InstanceTracker::key_of(const std::string& instance) {
    std::uint64_t fnv = 1469598103934665603ull;
    for (unsigned char c : instance) {
        fnv ^= c;
        fnv *= 1099511628211ull;
    }
    return Key{static_cast<std::uint64_t>(std::hash<std::string_view>{}(instance)), fnv};
}

InstanceTracker::Entry* InstanceTracker::find(const Key& key) const {
    auto& entries = const_cast<Map&>(entries_);  // the entry is only read through a const member
    const auto it = entries.find(key.hash);
    if (it == entries.end() || it->second.check != key.check) return nullptr;
    return &it->second;
}

bool InstanceTracker::expired(const Entry& entry, TimePoint now) const {
    return now - entry.record.last_seen > ttl_;
}

void InstanceTracker::unlink(Entry* e) {
    (e->newer ? e->newer->older : newest_) = e->older;
    (e->older ? e->older->newer : oldest_) = e->newer;
    e->newer = e->older = nullptr;
}

void InstanceTracker::push_front(Entry* e) {
    e->newer = nullptr;
    e->older = newest_;
    (newest_ ? newest_->newer : oldest_) = e;
    newest_ = e;
}

void InstanceTracker::erase(Entry* e) {
    unlink(e);
    const std::uint64_t hash = e->hash;  // a copy: the entry goes with the erase
    entries_.erase(hash);
}

// The least recently used entry is also the one seen longest ago, so expired entries are found there first.
void InstanceTracker::make_room() {
    const TimePoint now = clock_.now();
    while (oldest_ != nullptr) {
        const bool stale = expired(*oldest_, now);
        if (!stale && entries_.size() < capacity_) break;
        if (!stale) ++evicted_;
        erase(oldest_);
    }
}

void InstanceTracker::begin(const std::string& instance) {
    if (instance.empty()) return;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    if (Entry* e = find(key)) erase(e);
}

void InstanceTracker::note_recipient(const std::string& instance, bool allowed) {
    if (instance.empty() || capacity_ == 0) return;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    const TimePoint now = clock_.now();
    Entry* e = find(key);
    if (e != nullptr && expired(*e, now)) {
        erase(e);
        e = nullptr;
    }
    if (e == nullptr) {
        // The slot may hold another instance with the same first hash: that one gives way.
        const auto taken = entries_.find(key.hash);
        if (taken != entries_.end()) erase(&taken->second);
        make_room();
        e = &entries_[key.hash];
        e->hash = key.hash;
        e->check = key.check;
        e->record.first_seen = now;
    } else {
        unlink(e);
    }
    push_front(e);
    MessageRecord& r = e->record;
    r.last_seen = now;
    ++r.recipients_seen;
    if (allowed) ++r.recipients_allowed;
}

std::optional<MessageRecord> InstanceTracker::finish(const std::string& instance) {
    if (instance.empty()) return std::nullopt;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    const bool stale = expired(*e, clock_.now());
    const MessageRecord record = e->record;
    erase(e);
    if (stale) return std::nullopt;
    return record;
}

std::optional<MessageRecord> InstanceTracker::peek(const std::string& instance) const {
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* e = find(key);
    if (e == nullptr || expired(*e, clock_.now())) return std::nullopt;
    return e->record;
}

void InstanceTracker::set_limits(std::size_t capacity, std::chrono::seconds ttl) {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = capacity;
    ttl_ = ttl;
    // Trim to the new bound now; make_room() leaves room for one more, so trim to exactly capacity.
    const TimePoint now = clock_.now();
    while (oldest_ != nullptr) {
        const bool stale = expired(*oldest_, now);
        if (!stale && entries_.size() <= capacity_) break;
        if (!stale) ++evicted_;
        erase(oldest_);
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

}  // namespace relay::policyd
