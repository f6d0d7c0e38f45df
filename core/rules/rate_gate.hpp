// Rate limits (docs/rate-limits.md). The engine decides the rules; RateGate applies the limits around it:
// at RCPT it only peeks (refuse early when an allowance is already spent), at end of message it charges
// every applicable limit in one atomic database operation, all or nothing.
#pragma once

#include <optional>

#include "core/rules/decision.hpp"
#include "core/rules/model.hpp"
#include "core/rules/request.hpp"

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
    // Whether charge() for this message may wait on the database (some limit applies to it). false:
    // charge() answers at once, so a caller that must not wait may call it on its own thread.
    virtual bool charge_may_wait(const Request&, const Account&, const Snapshot&) const { return true; }
    // Charges the message without waiting if this process can from what it holds (leases of allowance,
    // docs/rate-limits.md): true = charged, within every limit. false = nothing done, charge() decides.
    virtual bool charge_from_leases(const Request&, const Account&, const Snapshot&, TimePoint) { return false; }
};

}  // namespace relay
