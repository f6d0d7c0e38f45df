// Per-message memory keyed by Postfix's `instance` attribute (the same for every request of one
// message, RCPT through END-OF-MESSAGE). Postfix already reports recipient_count; we keep our own count
// of recipients we allowed so END-OF-MESSAGE can be correlated with them in the log, and so a message
// whose recipients we never saw stands out. Bounded (least recently used entry goes first) and
// expiring (instance_ttl), because Postfix does not tell us about messages that were abandoned.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.hpp"

namespace relay {

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
    using Lru = std::list<std::string>;  // most recently used first
    struct Entry {
        MessageRecord record;
        Lru::iterator position;
    };
    bool expired(const Entry& entry, TimePoint now) const;
    void make_room();  // with mutex_ held
    void erase(std::unordered_map<std::string, Entry>::iterator it);

    const Clock& clock_;
    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::chrono::seconds ttl_;
    Lru lru_;
    std::unordered_map<std::string, Entry> entries_;
    std::uint64_t evicted_ = 0;
};

}  // namespace relay
