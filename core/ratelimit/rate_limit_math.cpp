#include "core/ratelimit/rate_limit_math.hpp"

#include <algorithm>
#include <chrono>

namespace relay {

namespace {

using Int128 = __int128;

constexpr std::int64_t kMicros = 1000000;

std::int64_t micros(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint from_micros(std::int64_t us) {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

// Ceiling of a / b for a >= 0, b > 0.
Int128 ceil_div(Int128 a, Int128 b) { return (a + b - 1) / b; }

LimitCheck check_rolling(const RateLimit& limit, const CounterState& state, std::uint64_t cost, TimePoint now) {
    LimitCheck c;
    const std::int64_t now_us = micros(now);
    const std::int64_t window_us = static_cast<std::int64_t>(limit.window_seconds) * kMicros;
    const Int128 amount = std::max<std::uint64_t>(limit.amount, 1);
    // Rounded up, so that rounding never admits more than the limit allows.
    const Int128 increment = ceil_div(static_cast<Int128>(cost) * window_us, amount);
    const std::int64_t tat = std::max(state.tat_us, now_us);
    const std::int64_t backlog = tat - now_us;  // 0 .. window_us: time until the allowance is full
    c.used = static_cast<std::uint64_t>(std::min<Int128>(ceil_div(static_cast<Int128>(backlog) * amount, window_us), amount));
    c.remaining = static_cast<std::uint64_t>(amount) - c.used;
    c.after = state;
    if (increment > window_us) {
        c.never_fits = true;
        c.retry_at = from_unix(kNeverUnix);
    } else if (backlog + increment <= window_us) {
        c.fits = true;
        c.after.tat_us = tat + static_cast<std::int64_t>(increment);
        c.retry_at = now;
    } else {
        c.retry_at = from_micros(tat + static_cast<std::int64_t>(increment) - window_us);
    }
    c.regained_at = from_micros(std::max(c.after.tat_us, now_us));
    return c;
}

LimitCheck check_calendar(const RateLimit& limit, const CounterState& state, std::uint64_t cost, TimePoint now,
                          const TimeZone& zone) {
    LimitCheck c;
    const std::int64_t now_s = to_unix(now);
    c.after = state;
    // The stored period still runs: keep counting in it. A stored period that ends later than ours
    // (another host's clock is ahead, or the zone changed) is kept too, so a period never restarts twice.
    if (state.period_end <= now_s) {
        c.after.period_end = calendar_period_end(limit, now, zone);
        c.after.used = 0;
    }
    const std::uint64_t amount = limit.amount;
    c.used = std::min(c.after.used, amount);
    c.remaining = amount - c.used;
    if (cost > amount) {
        c.never_fits = true;
        c.retry_at = from_unix(kNeverUnix);
    } else if (cost <= c.remaining) {
        c.fits = true;
        c.after.used += cost;
        c.retry_at = now;
    } else {
        c.retry_at = from_unix(c.after.period_end);
    }
    c.regained_at = c.after.used > 0 ? from_unix(c.after.period_end) : now;
    return c;
}

int strength(RateAction a) {
    switch (a) {
        case RateAction::hold: return 1;
        case RateAction::defer: return 2;
        case RateAction::reject: return 3;
    }
    return 0;
}

}  // namespace

std::int64_t calendar_period_end(const RateLimit& limit, TimePoint now, const TimeZone& zone) {
    const std::int64_t t = to_unix(now);
    switch (limit.calendar) {
        case RateCalendar::rolling: return 0;
        case RateCalendar::hour: return zone.hour_end(t);
        case RateCalendar::day: return zone.day_end(t);
    }
    return 0;
}

LimitCheck check_limit(const RateLimit& limit, const CounterState& state, std::uint64_t cost, TimePoint now,
                       const TimeZone& zone) {
    switch (limit.calendar) {
        case RateCalendar::rolling: return check_rolling(limit, state, cost, now);
        case RateCalendar::hour:
        case RateCalendar::day: return check_calendar(limit, state, cost, now, zone);
    }
    return check_rolling(limit, state, cost, now);
}

ChargePlan plan_charge(const std::vector<Charge>& charges, const std::vector<CounterState>& states, TimePoint now,
                       const TimeZone& zone) {
    ChargePlan plan;
    plan.checks.reserve(charges.size());
    plan.charged.assign(charges.size(), false);
    for (std::size_t i = 0; i < charges.size(); ++i) {
        const Charge& charge = charges[i];
        const CounterState state = i < states.size() ? states[i] : CounterState{};
        plan.checks.push_back(check_limit(*charge.limit, state, charge.cost, now, zone));
        const LimitCheck& check = plan.checks.back();
        if (check.fits) continue;
        if (charge.limit->shadow) {
            plan.shadow_refused.push_back(i);
            continue;
        }
        if (plan.accepted || strength(charge.limit->action) > strength(plan.action)) plan.action = charge.limit->action;
        plan.accepted = false;
        plan.refused.push_back(i);
        if (check.never_fits) plan.permanent = true;
    }
    if (plan.accepted) {
        for (std::size_t i = 0; i < charges.size(); ++i) plan.charged[i] = plan.checks[i].fits;
    }
    return plan;
}

}  // namespace relay
