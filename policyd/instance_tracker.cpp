#include "policyd/instance_tracker.hpp"

#include <algorithm>
#include <functional>
#include <string_view>

namespace relay::policyd {

namespace {

constexpr std::size_t kFirstSlots = 16;
constexpr std::size_t kMaxReserved = std::size_t{1} << 22;

}  // namespace

InstanceTracker::InstanceTracker(std::size_t capacity, std::chrono::seconds ttl, const Clock& clock)
    : clock_(clock), capacity_(capacity), ttl_(ttl), slots_(kFirstSlots) {}

// The library's string hash, and FNV-1a as the independent check.
InstanceTracker::Key InstanceTracker::key_of(const std::string& instance) {
    std::uint64_t fnv = 1469598103934665603ull;
    for (unsigned char c : instance) {
        fnv ^= c;
        fnv *= 1099511628211ull;
    }
    return Key{static_cast<std::uint64_t>(std::hash<std::string_view>{}(instance)), fnv};
}

std::size_t InstanceTracker::slot_of(std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    const std::uint32_t tag = tag_of(hash);
    std::size_t i = home(tag);
    while (slots_[i].entry != kNone && (slots_[i].tag != tag || entries_[slots_[i].entry].hash != hash))
        i = (i + 1) & mask;
    return i;
}

InstanceTracker::Index InstanceTracker::find(const Key& key) const {
    const Index e = slots_[slot_of(key.hash)].entry;
    if (e == kNone || entries_[e].check != key.check) return kNone;
    return e;
}

bool InstanceTracker::expired(const Entry& entry, TimePoint now) const {
    return now - entry.record.last_seen > ttl_;
}

void InstanceTracker::unlink(Index e) {
    Entry& entry = entries_[e];
    (entry.newer != kNone ? entries_[entry.newer].older : newest_) = entry.older;
    (entry.older != kNone ? entries_[entry.older].newer : oldest_) = entry.newer;
    entry.newer = entry.older = kNone;
}

void InstanceTracker::push_front(Index e) {
    Entry& entry = entries_[e];
    entry.newer = kNone;
    entry.older = newest_;
    (newest_ != kNone ? entries_[newest_].newer : oldest_) = e;
    newest_ = e;
}

// At most half full, so probes stay short.
void InstanceTracker::grow_slots() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.entry == kNone) continue;
        std::size_t i = home(slot.tag);
        while (slots_[i].entry != kNone) i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

InstanceTracker::Index InstanceTracker::insert(const Key& key) {
    if ((size_ + 1) * 2 > slots_.size()) grow_slots();
    Index e;
    if (free_ != kNone) {
        e = free_;
        free_ = entries_[e].older;
    } else {
        // Address space for the whole capacity at once (pages count only once used): growing by copies
        // would leave the old arrays behind in the heap.
        if (entries_.empty()) entries_.reserve(std::min<std::size_t>(capacity_, kMaxReserved));
        e = static_cast<Index>(entries_.size());
        entries_.emplace_back();
    }
    Entry& entry = entries_[e];
    entry = Entry{};
    entry.hash = key.hash;
    entry.check = key.check;
    slots_[slot_of(key.hash)] = Slot{e, tag_of(key.hash)};
    ++size_;
    push_front(e);
    return e;
}

// Backward-shift deletion: later entries of the same probe run move into the hole, so no tombstones.
void InstanceTracker::erase(Index e) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = slot_of(entries_[e].hash);
    for (std::size_t j = (hole + 1) & mask; slots_[j].entry != kNone; j = (j + 1) & mask) {
        const std::size_t wanted = home(slots_[j].tag);
        if (((j - wanted) & mask) >= ((j - hole) & mask)) {
            slots_[hole] = slots_[j];
            hole = j;
        }
    }
    slots_[hole] = Slot{};
    unlink(e);
    entries_[e].older = free_;
    free_ = e;
    --size_;
}

// The least recently used entry is also the one seen longest ago, so expired entries are found there first.
void InstanceTracker::trim(std::size_t keep) {
    const TimePoint now = clock_.now();
    while (oldest_ != kNone) {
        const bool stale = expired(entries_[oldest_], now);
        if (!stale && size_ <= keep) break;
        if (!stale) ++evicted_;
        erase(oldest_);
    }
}

void InstanceTracker::make_room() { trim(capacity_ - 1); }

void InstanceTracker::begin(const std::string& instance) {
    if (instance.empty()) return;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    if (const Index e = find(key); e != kNone) erase(e);
}

void InstanceTracker::note_recipient(const std::string& instance, bool allowed) {
    if (instance.empty() || capacity_ == 0) return;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    const TimePoint now = clock_.now();
    Index e = find(key);
    if (e != kNone && expired(entries_[e], now)) {
        erase(e);
        e = kNone;
    }
    if (e == kNone) {
        // The slot may hold another instance with the same first hash: that one gives way.
        if (const Index taken = slots_[slot_of(key.hash)].entry; taken != kNone) erase(taken);
        make_room();
        e = insert(key);
        entries_[e].record.first_seen = now;
    } else {
        unlink(e);
        push_front(e);
    }
    MessageRecord& r = entries_[e].record;
    r.last_seen = now;
    ++r.recipients_seen;
    if (allowed) ++r.recipients_allowed;
}

std::optional<MessageRecord> InstanceTracker::finish(const std::string& instance) {
    if (instance.empty()) return std::nullopt;
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    const Index e = find(key);
    if (e == kNone) return std::nullopt;
    const bool stale = expired(entries_[e], clock_.now());
    const MessageRecord record = entries_[e].record;
    erase(e);
    if (stale) return std::nullopt;
    return record;
}

std::optional<MessageRecord> InstanceTracker::peek(const std::string& instance) const {
    const Key key = key_of(instance);
    std::lock_guard<std::mutex> lock(mutex_);
    const Index e = find(key);
    if (e == kNone || expired(entries_[e], clock_.now())) return std::nullopt;
    return entries_[e].record;
}

void InstanceTracker::set_limits(std::size_t capacity, std::chrono::seconds ttl) {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = capacity;
    ttl_ = ttl;
    trim(capacity_);  // make_room() leaves room for one more; here trim to exactly capacity
}

std::size_t InstanceTracker::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return size_;
}

std::uint64_t InstanceTracker::evicted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return evicted_;
}

}  // namespace relay::policyd
