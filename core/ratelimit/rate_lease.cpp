#include "core/ratelimit/rate_lease.hpp"

#include <algorithm>

namespace relay {

namespace {

constexpr std::int64_t kMicros = 1000000;

std::int64_t micros(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

bool same_limit(const RateLimit& a, const RateLimit& b) {
    return a.amount == b.amount && a.window_seconds == b.window_seconds && a.calendar == b.calendar &&
           a.meter == b.meter && a.shadow == b.shadow;
}

}  // namespace

CounterState returned_state(const ExpiredLease& lease, const CounterState& current, TimePoint now) {
    CounterState back = current;
    if (lease.unused == 0) return back;
    if (lease.limit.calendar == RateCalendar::rolling) {
        // Only when nobody charged or returned since the reservation: then the counter is exactly "what was
        // before + our reservation", and taking off the unspent units that have not flowed back yet leaves
        // what the counter would hold had they never been reserved. Anything else: nothing (safe).
        if (current.tat_us != lease.reserved.tat_us) return back;
        const __int128 window_us = static_cast<__int128>(lease.limit.window_seconds) * kMicros;
        const __int128 amount = std::max<std::uint64_t>(lease.limit.amount, 1);
        // Rounded down: a unit was reserved at ceil(W/A), at most that goes back.
        const __int128 worth = static_cast<__int128>(lease.unused) * window_us / amount;
        const std::int64_t outstanding = std::max<std::int64_t>(0, lease.reserved.tat_us - micros(now));
        back.tat_us -= static_cast<std::int64_t>(std::min<__int128>(worth, outstanding));
        return back;
    }
    // Calendar: `used` only adds up within a period, so the unspent units come off as long as it is still
    // the period they were counted in.
    if (current.period_end == lease.reserved.period_end && to_unix(now) < current.period_end &&
        current.used >= lease.unused)
        back.used -= lease.unused;
    return back;
}

bool ProcessCount::set(std::optional<unsigned> counted) {
    // Our own row was written just before the count: 0 is impossible unless the table was emptied at that
    // moment; it still means at least this daemon.
    const unsigned n = counted ? std::max(*counted, 1u) : kDefaultProcesses;
    const bool was_known = known_.exchange(counted.has_value(), std::memory_order_relaxed);
    const unsigned before = count_.exchange(n, std::memory_order_relaxed);
    return before != n || was_known != counted.has_value();
}

bool LeaseBook::leasable(const RateLimit& limit) {
    return limit.meter == RateMeter::messages && !limit.shadow;
}

bool LeaseBook::Lease::live(const RateLimit& current, TimePoint now) const {
    return now < expires && same_limit(limit, current);
}

LeaseBook::Lease* LeaseBook::find_live(const Counter& counter, TimePoint now) {
    auto it = leases_.find(Key{counter.limit_id, counter.subject_id});
    if (it == leases_.end() || it->second.units == 0 || !it->second.live(*counter.limit, now)) return nullptr;
    return &it->second;
}

bool LeaseBook::take_all(const std::vector<Counter>& counters, TimePoint now) {
    if (counters.empty()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Lease*> found;
    for (const Counter& c : counters) {
        if (!leasable(*c.limit)) return false;
        Lease* lease = find_live(c, now);
        if (!lease) return false;
        found.push_back(lease);
    }
    for (Lease* lease : found) {
        // Spent within its time: the next block may be larger.
        if (--lease->units == 0)
            lease->next_block = std::min<std::uint64_t>(lease->next_block * 2, options_.lease_size - 1);
    }
    return true;
}

std::vector<std::uint64_t> LeaseBook::take_each(const std::vector<Counter>& counters, TimePoint now) {
    std::vector<std::uint64_t> taken(counters.size(), 0);
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < counters.size(); ++i) {
        if (!leasable(*counters[i].limit)) continue;
        if (Lease* lease = find_live(counters[i], now)) {
            if (--lease->units == 0)
                lease->next_block = std::min<std::uint64_t>(lease->next_block * 2, options_.lease_size - 1);
            taken[i] = lease->generation;
        }
    }
    return taken;
}

void LeaseBook::give_back(const std::vector<Counter>& counters, const std::vector<std::uint64_t>& taken,
                          TimePoint now) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < counters.size() && i < taken.size(); ++i) {
        if (taken[i] == 0) continue;
        auto it = leases_.find(Key{counters[i].limit_id, counters[i].subject_id});
        if (it != leases_.end() && it->second.generation == taken[i] && it->second.live(*counters[i].limit, now))
            ++it->second.units;
    }
}

bool LeaseBook::holds_unit(const Counter& counter, TimePoint now) {
    std::lock_guard<std::mutex> lock(mutex_);
    return find_live(counter, now) != nullptr;
}

std::uint64_t LeaseBook::plan_block(const Counter& counter) {
    if (!enabled() || !leasable(*counter.limit)) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    Lease& lease = leases_[Key{counter.limit_id, counter.subject_id}];
    // A reservation in flight, or units still held (another thread took them meanwhile or they belong to
    // a lease of other parameters): reserve nothing, so one counter never has two leases here.
    if (lease.reserving || lease.units > 0) return 0;
    lease.reserving = true;
    return std::max<std::uint64_t>(1, std::min<std::uint64_t>(lease.next_block, options_.lease_size - 1));
}

std::uint64_t LeaseBook::block_for(std::uint64_t planned, std::uint64_t remaining, unsigned processes) {
    const std::uint64_t share = 2 * static_cast<std::uint64_t>(std::max(processes, 1u));
    return std::min<std::uint64_t>(planned, remaining / share);
}

void LeaseBook::grant(const Counter& counter, std::uint64_t units, const CounterState& reserved, TimePoint now) {
    std::lock_guard<std::mutex> lock(mutex_);
    Lease& lease = leases_[Key{counter.limit_id, counter.subject_id}];
    lease.reserving = false;
    lease.idle_since = now;
    if (units == 0) return;
    lease.limit = *counter.limit;
    lease.units = units;
    lease.reserved = reserved;
    ++lease.generation;
    lease.expires = now + options_.lease_time;
    // Never spent in a calendar period other than the one it was counted in.
    if (counter.limit->calendar != RateCalendar::rolling)
        lease.expires = std::min(lease.expires, from_unix(reserved.period_end));
}

void LeaseBook::cancel(const Counter& counter) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = leases_.find(Key{counter.limit_id, counter.subject_id});
    if (it != leases_.end()) it->second.reserving = false;
}

ExpiredLease LeaseBook::expire(const Key& key, Lease& lease) {
    ExpiredLease e{key.first, key.second, lease.limit, lease.units, lease.reserved};
    lease.units = 0;
    lease.next_block = std::max<std::uint64_t>(1, lease.next_block / 2);  // came back unspent: smaller next time
    return e;
}

std::vector<ExpiredLease> LeaseBook::take_expired(TimePoint now) {
    std::vector<ExpiredLease> out;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = leases_.begin(); it != leases_.end();) {
        Lease& lease = it->second;
        if (lease.units > 0 && now >= lease.expires) out.push_back(expire(it->first, lease));
        // Forget counters idle for a while (the block starts small again).
        const bool idle = lease.units == 0 && !lease.reserving && now - lease.idle_since > 30 * options_.lease_time;
        it = idle ? leases_.erase(it) : std::next(it);
    }
    return out;
}

std::vector<ExpiredLease> LeaseBook::take_all_leases() {
    std::vector<ExpiredLease> out;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [key, lease] : leases_) {
        if (lease.units > 0) out.push_back(expire(key, lease));
    }
    return out;
}

std::uint64_t LeaseBook::units_held() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::uint64_t n = 0;
    for (const auto& entry : leases_) n += entry.second.units;
    return n;
}

}  // namespace relay
