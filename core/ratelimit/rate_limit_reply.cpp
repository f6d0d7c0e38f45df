#include "core/ratelimit/rate_limit_reply.hpp"

#include <chrono>
#include <cstdio>

#include "core/ratelimit/rate_limit_scope.hpp"
#include "core/base/text.hpp"

namespace relay {

namespace {

std::string count(std::int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

std::string local_text(TimePoint t, const TimeZone& zone) {
    const std::int64_t unix = to_unix(t);
    const CivilTime c = zone.local(unix);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02u:%02u", static_cast<long long>(c.year), c.month, c.day,
                  c.hour, c.minute);
    std::string abbreviation = zone.abbreviation_at(unix);
    return std::string(buf) + " " + printable(abbreviation.empty() ? zone.name() : abbreviation, 40);
}

}  // namespace

std::string retry_text(const RateLimit& limit, TimePoint retry_at, TimePoint now, const TimeZone& zone) {
    if (limit.calendar != RateCalendar::rolling) return "after " + local_text(retry_at, zone);
    // Rounded up: a client retrying after the stated time must find room.
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at - now).count();
    const std::int64_t seconds = wait <= 0 ? 1 : (wait + 999) / 1000;
    if (seconds < 120) return "in " + count(seconds, "second");
    if (seconds < 2 * 3600) return "in " + count((seconds + 59) / 60, "minute");
    return "in " + count((seconds + 3599) / 3600, "hour");
}

Decision rate_limit_refusal(const RateLimit& limit, const LimitCheck& check, const std::string& login,
                            const Snapshot& snapshot, TimePoint now, const TimeZone& zone) {
    const std::string who = printable(login, 100);
    const std::string what = describe_limit(limit, snapshot) + " (limit " + std::to_string(limit.id) + ")";
    Decision d;
    switch (limit.action) {
        case RateAction::hold:
            d = make_refusal(Verdict::hold, Reason::rate_limited, 0, "", "Held: rate limit reached for " + who + ": " + what);
            break;
        case RateAction::defer:
            if (!check.never_fits) {
                d = make_refusal(Verdict::defer, Reason::rate_limited, 450, "4.7.1",
                                 "Rate limit reached for " + who + ": " + what + "; try again " +
                                     retry_text(limit, check.retry_at, now, zone));
                break;
            }
            [[fallthrough]];  // a message larger than the whole allowance: waiting cannot help
        case RateAction::reject:
            d = make_refusal(Verdict::reject, Reason::rate_limited, 550, "5.7.1",
                             (check.never_fits ? "Message alone exceeds the rate limit for " : "Rate limit exceeded for ") +
                                 who + ": " + what);
            break;
    }
    return d;
}

}  // namespace relay
