// Rate counters in process memory, for unit tests: one mutex stands in for the database's row locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "core/ratelimit/counter_rate_gate.hpp"

namespace relay {

// In-process counters for unit tests (one mutex stands in for the row locks).
class MemoryRateCounters final : public RateCounters {
public:
    void update(const std::vector<CounterKey>& keys, TimePoint now,
                const std::function<CounterWrite(const std::vector<CounterState>&)>& decide,
                ChargeDeadline deadline) override;
    void set_failing(bool failing);
    // The next n update() calls throw StoreContentionError (a write that lost to other writers).
    void set_contended(unsigned n);
    std::optional<CounterState> state(Id limit_id, Id subject_id) const;
    std::uint64_t refusals(Id limit_id, Id subject_id) const;
    std::size_t updates() const;  // successful update() calls

private:
    struct Row {
        CounterState state;
        std::uint64_t refusals = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::pair<Id, Id>, Row> rows_;
    bool failing_ = false;
    unsigned contended_ = 0;
    std::size_t updates_ = 0;
};

}  // namespace relay
