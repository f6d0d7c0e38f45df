#include "tests/support/memory_rate_counters.hpp"

#include "core/base/errors.hpp"

namespace relay {

void MemoryRateCounters::update(const std::vector<CounterKey>& keys, TimePoint,
                                const std::function<CounterWrite(const std::vector<CounterState>&)>& decide,
                                ChargeDeadline) {
    // The deadline needs no care here: the mutex is held for microseconds, never across I/O.
    std::lock_guard<std::mutex> lock(mutex_);
    if (failing_) throw StoreTransientError("rate counters unavailable (test)");
    if (contended_ > 0) {
        --contended_;
        throw StoreContentionError("charging rate limits: still conflicting with other writers (test)");
    }
    std::vector<CounterState> states;
    states.reserve(keys.size());
    for (const CounterKey& k : keys) {
        auto it = rows_.find({k.limit_id, k.subject_id});
        states.push_back(it == rows_.end() ? CounterState{} : it->second.state);
    }
    const CounterWrite write = decide(states);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        Row& row = rows_[{keys[i].limit_id, keys[i].subject_id}];
        if (i < write.charged.size() && write.charged[i]) row.state = *write.charged[i];
        if (i < write.refused.size() && write.refused[i]) ++row.refusals;
    }
    ++updates_;
}

void MemoryRateCounters::set_contended(unsigned n) {
    std::lock_guard<std::mutex> lock(mutex_);
    contended_ = n;
}

void MemoryRateCounters::set_failing(bool failing) {
    std::lock_guard<std::mutex> lock(mutex_);
    failing_ = failing;
}

std::optional<CounterState> MemoryRateCounters::state(Id limit_id, Id subject_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = rows_.find({limit_id, subject_id});
    if (it == rows_.end()) return std::nullopt;
    return it->second.state;
}

std::uint64_t MemoryRateCounters::refusals(Id limit_id, Id subject_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = rows_.find({limit_id, subject_id});
    return it == rows_.end() ? 0 : it->second.refusals;
}

std::size_t MemoryRateCounters::updates() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return updates_;
}

}  // namespace relay
