// Policy: what both adapters call. Takes the current snapshot, runs the engine, then the side effects the
// engine must not do itself: rate-limit peek (RCPT) and charge (end of message), the audit trail and the
// account's last use. evaluate() may block on the database only at end of message (the charge); adapters
// that must not block call it from a worker thread when may_block() says so.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/base/clock.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/request.hpp"
#include "core/policy/snapshot_cache.hpp"

namespace relay {

class EventWriter;  // event_writer.hpp
class RateGate;     // core/rules/rate_gate.hpp

struct PolicyOptions {
    std::string node;  // written into relay_events.node
};

class Policy {
public:
    // rate_gate and events may be null (no rate limits / no audit trail).
    Policy(SnapshotCache& cache, const Clock& clock, PolicyOptions options, RateGate* rate_gate = nullptr,
           EventWriter* events = nullptr);

    Decision evaluate(const Request& request);
    // The same against a snapshot the caller pinned (relay-milter pins one per SMTP connection, so all
    // stages of a session see the same rules). A null snapshot means "no rules we can trust", exactly as
    // when the cache has none.
    Decision evaluate(const Request& request, const SnapshotPtr& pinned);
    // The decision when it needs no database: everything but an END-OF-MESSAGE that must charge rate
    // limits (authenticated or IP-authorised, allowed by the rules, some limit applies). For that one it
    // returns nullopt without any side effect: call evaluate() from a thread that may wait. Unauthenticated
    // mail, refused accounts and accounts without limits are thus answered from the cached rules, never
    // behind charges waiting on a slow database.
    std::optional<Decision> evaluate_without_waiting(const Request& request);
    // Whether evaluate() may wait at all for this request (a coarse test by stage, before any rule).
    bool may_block(const Request& request) const { return may_block(request, rate_gate_); }
    // The same rule for callers that hold the rate gate but not a Policy (relay-policyd asks it for
    // every request, before choosing the thread: no need to load the current rules for that).
    static bool may_block(const Request& request, const RateGate* rate_gate);

private:
    std::optional<Decision> run(const Request& request, const SnapshotPtr& snapshot, bool may_wait);

    SnapshotCache& cache_;
    const Clock& clock_;
    PolicyOptions options_;
    RateGate* rate_gate_;
    EventWriter* events_;
};

}  // namespace relay
