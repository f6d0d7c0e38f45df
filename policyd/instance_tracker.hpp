// Per-message memory keyed by Postfix's `instance` attribute (the same for every request of one
// message, RCPT through END-OF-MESSAGE). Postfix already reports recipient_count; we keep our own count
// of recipients we allowed so END-OF-MESSAGE can be correlated with them in the log, and so a message
// whose recipients we never saw stands out. Bounded (least recently used entry goes first) and
// expiring (instance_ttl), because Postfix does not tell us about messages that were abandoned.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/clock.hpp"

namespace relay::policyd {

struct MessageRecord {
    std::uint32_t recipients_seen = 0;     // RCPT requests for this message
    std::uint32_t recipients_allowed = 0;  // ... that we did not refuse
    TimePoint first_seen{};
    TimePoint last_seen{};
};

class InstanceTracker {
public:
    InstanceTracker(std::size_t capacity, std::chrono::seconds ttl, const Clock& clock);

    // MAIL starts a message: forget whatever this instance held before.
    void begin(const std::string& instance);
    // One RCPT answered; allowed = we did not refuse it.
    void note_recipient(const std::string& instance, bool allowed);
    // END-OF-MESSAGE: the record, removed. nullopt when we never saw it or it expired.
    std::optional<MessageRecord> finish(const std::string& instance);
    // Read without touching (tests, diagnostics).
    std::optional<MessageRecord> peek(const std::string& instance) const;

    // SIGHUP: new bounds; shrinking evicts the oldest entries at once.
    void set_limits(std::size_t capacity, std::chrono::seconds ttl);

    std::size_t size() const;
    std::uint64_t evicted() const;  // dropped for room (not counting expiry): a sign capacity is too small

private:
    // Keyed by a 64-bit hash of the instance, checked against a second, independent one: no copy of the
    // instance string, and a lookup that touches no key bytes (this runs twice for every RCPT). Two
    // instances agreeing on both hashes (128 bits) do not happen in practice.
    //
    // Under RCPT-only traffic (messages that never reach END-OF-MESSAGE here) the tracker is full and
    // every new message evicts the oldest one, so insert and erase are as hot as lookups. Hence no
    // node-based map: the entries live in one array (freed slots reused), found through an open-addressing
    // table of 32-bit indices (linear probing, at most half full, backward-shift deletion), and the
    // least-recently-used list links indices. Each slot also holds 32 bits of the hash, so probing and
    // deleting read only the table, not the entries. No allocation once the array has grown to the capacity.
    using Index = std::uint32_t;
    static constexpr Index kNone = UINT32_MAX;
    struct Entry {
        std::uint64_t hash = 0;   // the key
        std::uint64_t check = 0;  // the second hash
        MessageRecord record;
        Index newer = kNone;      // least-recently-used list; on the free list `older` links free entries
        Index older = kNone;
    };
    struct Key {
        std::uint64_t hash;
        std::uint64_t check;
    };
    struct Slot {
        Index entry = kNone;  // kNone: empty
        std::uint32_t tag = 0;  // tag_of(the entry's hash)
    };
    static Key key_of(const std::string& instance);
    static std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash ^ (hash >> 32)); }
    std::size_t home(std::uint32_t tag) const { return tag & (slots_.size() - 1); }  // the slot probed first
    std::size_t slot_of(std::uint64_t hash) const;  // the slot holding hash, or the empty slot ending its probe
    Index find(const Key& key) const;               // kNone if absent or a different instance
    Index insert(const Key& key);                   // a new entry (the key must be absent), at the front
    bool expired(const Entry& entry, TimePoint now) const;
    void make_room();  // with mutex_ held
    void trim(std::size_t keep);  // with mutex_ held: expired entries, then the oldest until keep are left
    void erase(Index entry);
    void unlink(Index entry);
    void push_front(Index entry);
    void grow_slots();

    const Clock& clock_;
    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::chrono::seconds ttl_;
    std::vector<Entry> entries_;
    std::vector<Slot> slots_;  // size a power of two
    std::size_t size_ = 0;
    Index free_ = kNone;
    Index newest_ = kNone;
    Index oldest_ = kNone;
    std::uint64_t evicted_ = 0;
};

}  // namespace relay::policyd
