// The rate-limit arithmetic with an injected clock: rolling refill and bursts (GCRA), calendar resets in
// UTC and around a DST day in Europe/Berlin, and the all-or-nothing plan with shadow limits.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/ratelimit/rate_limit_math.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

std::int64_t utc(std::int64_t y, unsigned mo, unsigned d, unsigned h = 0, unsigned mi = 0, unsigned s = 0) {
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

RateLimit limit(Id id, RateMeter meter, std::uint64_t amount, std::uint32_t window,
                RateCalendar calendar = RateCalendar::rolling) {
    RateLimit l;
    l.id = id;
    l.meter = meter;
    l.amount = amount;
    l.window_seconds = window;
    l.calendar = calendar;
    return l;
}

// Charges cost at `now` when it fits; returns whether it did.
bool take(const RateLimit& l, CounterState& state, std::uint64_t cost, TimePoint now, const TimeZone& zone = TimeZone()) {
    const LimitCheck c = check_limit(l, state, cost, now, zone);
    if (c.fits) state = c.after;
    return c.fits;
}

int burst(const RateLimit& l, CounterState& state, int attempts, TimePoint now, const TimeZone& zone = TimeZone()) {
    int accepted = 0;
    for (int i = 0; i < attempts; ++i) accepted += take(l, state, 1, now, zone);
    return accepted;
}

const TimePoint kStart = from_unix(utc(2026, 1, 1, 10));

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limit_math)

BOOST_AUTO_TEST_CASE(rolling_full_burst_then_steady_refill) {
    const RateLimit l = limit(1, RateMeter::messages, 100, 3600);
    CounterState s;
    BOOST_CHECK_EQUAL(burst(l, s, 150, kStart), 100);
    const LimitCheck over = check_limit(l, s, 1, kStart, TimeZone());
    BOOST_CHECK(!over.fits);
    BOOST_CHECK_EQUAL(over.used, 100u);
    BOOST_CHECK_EQUAL(over.remaining, 0u);
    BOOST_CHECK(over.retry_at == kStart + 36s);          // one message per 36 s comes back
    BOOST_CHECK(over.regained_at == kStart + 3600s);     // all of it after the window
    BOOST_CHECK(over.after == s);                        // a refusal changes nothing

    struct Case {
        const char* name;
        std::chrono::seconds idle;  // since the burst
        int admitted;               // of a new burst of 150 at that time
    } const cases[] = {
        {"35 s: nothing back yet", 35s, 0}, {"36 s: one back", 36s, 1},   {"10 min: 16 back", 600s, 16},
        {"30 min: half back", 1800s, 50},   {"1 h: all back", 3600s, 100}, {"3 h: never more than all", 10800s, 100},
    };
    for (const auto& c : cases) {
        CounterState copy = s;
        const int got = burst(l, copy, 150, kStart + c.idle);
        BOOST_CHECK_MESSAGE(got == c.admitted, "case " << c.name << ": got " << got << ", want " << c.admitted);
    }
}

BOOST_AUTO_TEST_CASE(rolling_guarantee_over_any_interval) {
    // One attempt every 7 s for 5 hours. Over any interval of length t at most amount + amount*t/window
    // are admitted (the documented guarantee), and in steady state exactly the rate: 100 per hour.
    const RateLimit l = limit(1, RateMeter::messages, 100, 3600);
    CounterState s;
    std::vector<std::int64_t> admitted;
    for (std::int64_t t = 0; t <= 5 * 3600; t += 7) {
        if (take(l, s, 1, kStart + std::chrono::seconds(t))) admitted.push_back(t);
    }
    for (std::int64_t length : {60, 600, 3600, 7200}) {
        std::size_t worst = 0;
        for (std::size_t i = 0, j = 0; i < admitted.size(); ++i) {
            while (admitted[i] - admitted[j] >= length) ++j;
            worst = std::max(worst, i - j + 1);
        }
        const std::size_t bound = 100 + static_cast<std::size_t>(100 * length / 3600);
        BOOST_CHECK_MESSAGE(worst <= bound, "interval " << length << " s: got " << worst << ", bound " << bound);
    }
    std::size_t last_hour = 0;
    for (std::int64_t t : admitted) last_hour += t > 4 * 3600;
    BOOST_CHECK_MESSAGE(last_hour >= 99 && last_hour <= 101, "steady state: got " << last_hour << " in the 5th hour");
}

BOOST_AUTO_TEST_CASE(costs_larger_than_one) {
    struct Case {
        const char* name;
        RateLimit l;
        std::vector<std::uint64_t> costs;  // charged in turn at the same instant
        std::vector<bool> fits;
    } const cases[] = {
        {"recipients fill up", limit(1, RateMeter::recipients, 10, 60), {4, 4, 3, 2}, {true, true, false, true}},
        {"exactly the amount", limit(1, RateMeter::recipients, 10, 60), {10, 1}, {true, false}},
        {"zero cost always fits", limit(1, RateMeter::bytes, 10, 60), {10, 0, 1}, {true, true, false}},
        {"terabyte per day, no overflow", limit(1, RateMeter::bytes, 1000000000000ull, 86400),
         {500000000000ull, 500000000000ull, 1}, {true, true, false}},
        {"below a microsecond per unit, each charge costs at least 1 us", limit(1, RateMeter::bytes, 3600000000ull, 1),
         {3599999999ull, 1}, {true, false}},
        {"calendar bytes", limit(1, RateMeter::bytes, 1000, 3600, RateCalendar::hour), {600, 500, 400}, {true, false, true}},
    };
    for (const auto& c : cases) {
        CounterState s;
        for (std::size_t i = 0; i < c.costs.size(); ++i) {
            const bool got = take(c.l, s, c.costs[i], kStart);
            BOOST_CHECK_MESSAGE(got == c.fits[i], "case " << c.name << ", charge " << i << " (" << c.costs[i]
                                                          << "): got " << got << ", want " << c.fits[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_cost_above_the_whole_allowance_never_fits) {
    for (RateCalendar calendar : {RateCalendar::rolling, RateCalendar::day}) {
        const RateLimit l = limit(1, RateMeter::bytes, 1000, 86400, calendar);
        const LimitCheck c = check_limit(l, CounterState{}, 1001, kStart, TimeZone());
        BOOST_CHECK(!c.fits);
        BOOST_CHECK(c.never_fits);
        BOOST_CHECK(c.retry_at == from_unix(kNeverUnix));
    }
}

BOOST_AUTO_TEST_CASE(calendar_hour_resets_at_the_full_hour) {
    const RateLimit l = limit(1, RateMeter::messages, 10, 3600, RateCalendar::hour);
    CounterState s;
    const TimePoint t = from_unix(utc(2026, 1, 1, 12, 59));
    BOOST_CHECK_EQUAL(burst(l, s, 15, t), 10);
    const LimitCheck c = check_limit(l, s, 1, t + 59s, TimeZone());
    BOOST_CHECK(!c.fits);
    BOOST_CHECK(c.retry_at == from_unix(utc(2026, 1, 1, 13)));
    BOOST_CHECK_EQUAL(s.period_end, utc(2026, 1, 1, 13));
    BOOST_CHECK_EQUAL(burst(l, s, 15, from_unix(utc(2026, 1, 1, 13))), 10);  // a fresh hour, not a refill
    BOOST_CHECK_EQUAL(s.period_end, utc(2026, 1, 1, 14));
}

BOOST_AUTO_TEST_CASE(calendar_day_in_berlin_across_dst) {
    const TimeZone berlin = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3");
    const RateLimit l = limit(1, RateMeter::messages, 5, 86400, RateCalendar::day);
    struct Case {
        const char* name;
        std::int64_t first;      // first message of the day (UTC)
        std::int64_t period_end; // local midnight after it, UTC
    } const cases[] = {
        {"spring: 23-hour day, from local 00:30", utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 22)},
        {"autumn: 25-hour day, from local 00:30", utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 23)},
        {"winter day", utc(2026, 1, 15, 8), utc(2026, 1, 15, 23)},
    };
    for (const auto& c : cases) {
        CounterState s;
        const int first = burst(l, s, 7, from_unix(c.first), berlin);
        BOOST_CHECK_MESSAGE(first == 5, "case " << c.name << ": got " << first << " admitted, want 5");
        BOOST_CHECK_MESSAGE(s.period_end == c.period_end,
                            "case " << c.name << ": period_end got " << s.period_end << ", want " << c.period_end);
        const int just_before = burst(l, s, 1, from_unix(c.period_end - 1), berlin);
        const int at_midnight = burst(l, s, 7, from_unix(c.period_end), berlin);
        BOOST_CHECK_MESSAGE(just_before == 0 && at_midnight == 5,
                            "case " << c.name << ": before midnight " << just_before << ", at midnight " << at_midnight);
    }
}

BOOST_AUTO_TEST_CASE(calendar_keeps_a_period_another_host_started_later) {
    // Host A's clock is 2 s ahead and already counts in the next hour; host B must not restart it.
    const RateLimit l = limit(1, RateMeter::messages, 3, 3600, RateCalendar::hour);
    CounterState s;
    BOOST_CHECK_EQUAL(burst(l, s, 3, from_unix(utc(2026, 1, 1, 13, 0, 1))), 3);  // host A
    BOOST_CHECK_EQUAL(burst(l, s, 3, from_unix(utc(2026, 1, 1, 12, 59, 59))), 0);  // host B
    BOOST_CHECK_EQUAL(s.period_end, utc(2026, 1, 1, 14));
}

BOOST_AUTO_TEST_CASE(plan_is_all_or_nothing) {
    const RateLimit hour = limit(1, RateMeter::messages, 100, 3600);
    const RateLimit day = limit(2, RateMeter::messages, 5, 86400, RateCalendar::day);
    RateLimit rcpt = limit(3, RateMeter::recipients, 20, 3600);
    const std::vector<Charge> charges{{&hour, 7, 1}, {&day, 7, 1}, {&rcpt, 7, 3}};
    std::vector<CounterState> states(3);
    int accepted = 0;
    for (int i = 0; i < 8; ++i) {
        const ChargePlan plan = plan_charge(charges, states, kStart, TimeZone());
        if (!plan.accepted) {
            BOOST_CHECK(std::none_of(plan.charged.begin(), plan.charged.end(), [](bool b) { return b; }));
            BOOST_CHECK_EQUAL(plan.refused.size(), 1u);
            BOOST_CHECK_EQUAL(plan.refused.front(), 1u);  // the day limit
            continue;
        }
        ++accepted;
        for (std::size_t k = 0; k < charges.size(); ++k) {
            BOOST_CHECK(plan.charged[k]);
            states[k] = plan.checks[k].after;
        }
    }
    BOOST_CHECK_EQUAL(accepted, 5);
    // The hour limits were charged exactly 5 times: nothing for the refused attempts.
    BOOST_CHECK_EQUAL(check_limit(hour, states[0], 0, kStart, TimeZone()).used, 5u);
    BOOST_CHECK_EQUAL(check_limit(rcpt, states[2], 0, kStart, TimeZone()).used, 15u);
}

BOOST_AUTO_TEST_CASE(shadow_limits_never_refuse_and_are_not_charged_when_over) {
    const RateLimit enforced = limit(1, RateMeter::messages, 10, 3600);
    RateLimit shadow = limit(2, RateMeter::messages, 2, 3600);
    shadow.shadow = true;
    const std::vector<Charge> charges{{&enforced, 7, 1}, {&shadow, 7, 1}};
    std::vector<CounterState> states(2);
    int accepted = 0, shadow_refusals = 0;
    for (int i = 0; i < 12; ++i) {
        const ChargePlan plan = plan_charge(charges, states, kStart, TimeZone());
        shadow_refusals += static_cast<int>(plan.shadow_refused.size());
        if (!plan.accepted) continue;
        ++accepted;
        for (std::size_t k = 0; k < 2; ++k) {
            if (plan.charged[k]) states[k] = plan.checks[k].after;
        }
    }
    BOOST_CHECK_EQUAL(accepted, 10);         // only the enforced limit counts
    BOOST_CHECK_EQUAL(shadow_refusals, 8 + 2);  // would have refused 8 accepted ones and the 2 refused ones
    BOOST_CHECK_EQUAL(check_limit(shadow, states[1], 0, kStart, TimeZone()).used, 2u);
}

BOOST_AUTO_TEST_CASE(strongest_action_wins) {
    struct Case {
        const char* name;
        std::vector<RateAction> actions;  // every limit is exhausted
        RateAction want;
    } const cases[] = {
        {"hold alone", {RateAction::hold}, RateAction::hold},
        {"defer over hold", {RateAction::hold, RateAction::defer}, RateAction::defer},
        {"reject over defer", {RateAction::defer, RateAction::reject, RateAction::hold}, RateAction::reject},
    };
    for (const auto& c : cases) {
        std::deque<RateLimit> limits;
        std::vector<Charge> charges;
        for (std::size_t i = 0; i < c.actions.size(); ++i) {
            limits.push_back(limit(static_cast<Id>(i + 1), RateMeter::messages, 1, 60));
            limits.back().action = c.actions[i];
            charges.push_back({&limits.back(), 7, 2});  // cost 2 > amount 1: never fits
        }
        const ChargePlan plan = plan_charge(charges, std::vector<CounterState>(charges.size()), kStart, TimeZone());
        BOOST_CHECK_MESSAGE(!plan.accepted && plan.action == c.want && plan.permanent,
                            "case " << c.name << ": got action " << static_cast<int>(plan.action));
    }
}

BOOST_AUTO_TEST_SUITE_END()
