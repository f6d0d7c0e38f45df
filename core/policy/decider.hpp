// The decision as an adapter asks for it. core/runtime/runtime.hpp implements it for both daemons
// (the rules cache, Policy, the rate-limit gate and the audit trail behind it); unit tests use fakes.
#pragma once

#include <optional>

#include "core/policy/snapshot_cache.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/request.hpp"

namespace relay {

class Decider {
public:
    virtual ~Decider() = default;
    // Policy::evaluate: may wait on the database at END-OF-MESSAGE (the rate-limit charge).
    virtual Decision evaluate(const Request& request) = 0;
    // The same against rules the caller pinned (relay-milter keeps one snapshot per SMTP session).
    virtual Decision evaluate(const Request& request, const SnapshotPtr& pinned) {
        (void)pinned;
        return evaluate(request);
    }
    // true: evaluate() may wait on the database, so a caller that must not wait uses a worker thread.
    virtual bool may_block(const Request& request) const = 0;
    // The decision if it needs no database, else nullopt (then call evaluate() where waiting is fine).
    virtual std::optional<Decision> evaluate_without_waiting(const Request& request) {
        if (may_block(request)) return std::nullopt;
        return evaluate(request);
    }
    // The rules to decide with now (nullptr: none loaded, or too stale to trust).
    virtual SnapshotPtr rules() const { return nullptr; }
};

}  // namespace relay
