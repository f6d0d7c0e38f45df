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
#include <unordered_map>

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
    // instance string, one small node per message, and a lookup that touches no key bytes (this runs
    // twice for every RCPT). Two instances agreeing on both hashes (128 bits) do not happen in practice.
    struct Entry {
        std::uint64_t hash = 0;   // the key, for erasing from the least-recently-used end
        std::uint64_t check = 0;  // the second hash
        MessageRecord record;
        Entry* newer = nullptr;   // least-recently-used list through the map's values (they never move)
        Entry* older = nullptr;
    };
    using Map = std::unordered_map<std::uint64_t, Entry>;
    struct Key {
        std::uint64_t hash;
        std::uint64_t check;
    };
    static Key key_of(const std::string& instance);
    Entry* find(const Key& key) const;  // nullptr if absent or a different instance
    bool expired(const Entry& entry, TimePoint now) const;
    void make_room();  // with mutex_ held
    void erase(Entry* entry);
    void unlink(Entry* entry);
    void push_front(Entry* entry);

    const Clock& clock_;
    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::chrono::seconds ttl_;
    Map entries_;
    Entry* newest_ = nullptr;
    Entry* oldest_ = nullptr;
    std::uint64_t evicted_ = 0;
};

}  // namespace relay::policyd
