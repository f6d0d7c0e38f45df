// The Decision a rate-limit refusal becomes: which limit, by how much, and when to try again, in the
// words an SMTP client (and the admin reading the mail log) understands.
#pragma once

#include <string>

#include "core/base/clock.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/model.hpp"
#include "core/ratelimit/rate_limit_math.hpp"
#include "core/ratelimit/rate_limit_zone.hpp"

namespace relay {

// defer:  450 4.7.1 "Rate limit reached for LOGIN: 100 messages per 1 hour (rolling) (limit 7); try again
//         in 36 seconds"
// reject: 550 5.7.1 "Rate limit exceeded for LOGIN: ..." (also for defer when the message alone is larger
//         than the whole allowance: retrying could never help)
// hold:   Verdict::hold, no code, text "Held: rate limit reached for LOGIN: ..."
Decision rate_limit_refusal(const RateLimit& limit, const LimitCheck& check, const std::string& login,
                            const Snapshot& snapshot, TimePoint now, const TimeZone& zone);

// "in 36 seconds", "in 12 minutes", "after 2026-03-30 00:00 CEST" (calendar windows, local time).
std::string retry_text(const RateLimit& limit, TimePoint retry_at, TimePoint now, const TimeZone& zone);

}  // namespace relay
