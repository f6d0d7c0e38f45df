// Rate limits (docs/rate-limits.md). The engine decides the rules; RateGate applies the limits around it:
// at RCPT it only peeks (refuse early when an allowance is already spent), at end of message it charges
// every applicable limit in one atomic database operation, all or nothing.
#pragma once

#include <optional>

#include "core/decision.hpp"
#include "core/model.hpp"
#include "core/request.hpp"

namespace relay {

class RateGate {
public:
    virtual ~RateGate() = default;
    // nullopt: within every limit (or no limit applies). Never charges.
    virtual std::optional<Decision> peek(const Request& request, const Account& account,
                                         const Snapshot& snapshot, TimePoint now) = 0;
    // Charges the message (1 message, request.recipient_count recipients, request.size bytes) against
    // every applicable limit atomically; on refusal nothing is charged. May block on the database.
    virtual std::optional<Decision> charge(const Request& request, const Account& account,
                                           const Snapshot& snapshot, TimePoint now) = 0;
};

}  // namespace relay
