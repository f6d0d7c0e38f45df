// The arithmetic of rate limits, free of I/O: one counter against one limit, and the all-or-nothing
// decision over every counter a message is charged to. The database only stores CounterState and runs
// these functions under a row lock (core/store/mysql_rate_gate.cpp); tests run them with a ManualClock.
//
// Rolling windows are a GCRA (generic cell rate algorithm), i.e. a token bucket of `amount` tokens
// refilling at amount / window_seconds per second, kept as one number per counter: the time at which the
// bucket will be full again (tat, "theoretical arrival time"). A unit of the meter costs
// window_seconds / amount of that time. Guarantee: from a full allowance, `amount` is admitted at once,
// and over any interval of length t at most amount + amount * t / window_seconds (rounded down) more.
// Calendar windows count `used` per period (local hour or local day in [rate_limits] time_zone) and
// start again from zero at the period's end.
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/clock.hpp"
#include "core/rules/model.hpp"
#include "core/ratelimit/rate_limit_zone.hpp"

namespace relay {

// What the database keeps per counter (a row of rate_counters).
struct CounterState {
    std::int64_t tat_us = 0;      // rolling: microseconds since the epoch when the allowance is full again
    std::int64_t period_end = 0;  // calendar: seconds since the epoch when the counted period ends
    std::uint64_t used = 0;       // calendar: amount used in that period

    bool operator==(const CounterState& o) const {
        return tat_us == o.tat_us && period_end == o.period_end && used == o.used;
    }
};

// A time that never comes (a cost larger than the whole allowance never fits).
// 2200-01-01 00:00:00 UTC: far enough to mean "never", near enough for TimePoint (nanoseconds since
// 1970 end in 2262; 9999 overflowed it).
constexpr std::int64_t kNeverUnix = 7258118400;

struct LimitCheck {
    bool fits = false;        // the cost fits now
    bool never_fits = false;  // the cost is larger than the whole allowance: it will never fit
    CounterState after;       // the state with the cost charged (fits) or as it stands now (not fits)
    std::uint64_t used = 0;       // usage now, before this cost
    std::uint64_t remaining = 0;  // amount - used
    TimePoint retry_at{};         // when this cost fits (now when it fits; kNeverUnix when never)
    TimePoint regained_at{};      // when the full allowance is back, counting from `after`
};

// One counter checked against its limit. cost 0 always fits and changes nothing.
LimitCheck check_limit(const RateLimit& limit, const CounterState& state, std::uint64_t cost, TimePoint now,
                       const TimeZone& zone);

// The end of the calendar period containing now (seconds since the epoch); for a rolling limit, 0.
std::int64_t calendar_period_end(const RateLimit& limit, TimePoint now, const TimeZone& zone);

// One counter a message is charged to: a limit, whose allowance (the account's own, or 0 = the shared
// pool of the limit), and how much of the meter this message costs.
struct Charge {
    const RateLimit* limit = nullptr;
    Id subject_id = 0;
    std::uint64_t cost = 0;
};

struct ChargePlan {
    bool accepted = true;                // no enforced (non-shadow) limit refused
    std::vector<LimitCheck> checks;      // one per charge, same order
    std::vector<bool> charged;           // one per charge: its counter takes checks[i].after
    std::vector<std::size_t> refused;    // enforced limits over their allowance
    std::vector<std::size_t> shadow_refused;  // shadow limits that would have refused
    RateAction action = RateAction::defer;    // when !accepted: the strongest action among `refused`
    bool permanent = false;              // when !accepted: some refusing limit can never fit the message
};

// All or nothing: when every enforced limit fits, each enforced counter and each shadow counter that fits
// is charged; otherwise nothing is charged at all. Shadow limits never refuse; a shadow limit that would
// have refused is not charged (as the refused message would not have been). The strongest action wins:
// reject over defer over hold.
ChargePlan plan_charge(const std::vector<Charge>& charges, const std::vector<CounterState>& states, TimePoint now,
                       const TimeZone& zone);

}  // namespace relay
