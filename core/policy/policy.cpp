#include "core/policy/policy.hpp"

#include <exception>
#include <utility>

#include "core/rules/engine.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_writer.hpp"
#include "core/base/log.hpp"
#include "core/rules/rate_gate.hpp"
#include "core/rules/sent_reply.hpp"
#include "core/metrics/metrics.hpp"

namespace relay {

namespace {

// A temporary failure for a request we could not decide, keeping the account it was for (logs, audit).
Decision failed(Failure failure, const Request& request, const Decision& so_far) {
    Decision d = fail_closed(failure);
    d.authority_id = so_far.authority_id;
    d.login = so_far.login.empty() ? request.sasl_login : so_far.login;
    return d;
}

// A plain "not ours" and an allowed MAIL/RCPT/DATA are the bulk of the traffic and say nothing an admin
// needs later; refusals at any stage, holds and every accepted message are the audit trail.
bool worth_recording(const Request& request, const Decision& d) {
    if (d.verdict == Verdict::cont && d.reason == Reason::not_ours) return false;
    if (d.verdict == Verdict::hold) return true;
    if (allowed(d)) return request.stage == Stage::end_of_message;
    return true;
}

}  // namespace

Policy::Policy(SnapshotCache& cache, const Clock& clock, PolicyOptions options, RateGate* rate_gate,
               EventWriter* events)
    : cache_(cache), clock_(clock), options_(std::move(options)), rate_gate_(rate_gate), events_(events) {}

bool Policy::may_block(const Request& request, const RateGate* rate_gate) {
    return rate_gate != nullptr && request.stage == Stage::end_of_message;
}

Decision Policy::evaluate(const Request& request) { return evaluate(request, cache_.current()); }

Decision Policy::evaluate(const Request& request, const SnapshotPtr& snapshot) {
    return *run(request, snapshot, true);
}

std::optional<Decision> Policy::evaluate_without_waiting(const Request& request) {
    return run(request, cache_.current(), false);
}

// may_wait false: returns nullopt, before any side effect, when the decision needs a charge.
std::optional<Decision> Policy::run(const Request& request, const SnapshotPtr& snapshot, bool may_wait) {
    const TimePoint now = clock_.now();
    Decision decision;
    std::optional<Account> account;
    try {
        if (!snapshot) {
            // No rules we can trust. Authenticated mail: a temporary failure, never a permit. Unauthenticated
            // requests are answered "not ours" even though one might come from an IP-authorised device:
            // we cannot tell, and refusing them would block all inbound mail while the database is down.
            // Nothing is permitted by this: Postfix's own restrictions (reject_unauth_destination) still
            // refuse unauthenticated relaying, so the device's mail waits (4xx from Postfix) or is refused.
            if (!request.authenticated()) return Decision{};
            decision = failed(Failure::rules_unavailable, request, decision);
        } else {
            EngineResult result = decide(request, *snapshot, now);
            decision = std::move(result.decision);
            account = std::move(result.account);
        }
        if (snapshot && account && rate_gate_ && allowed(decision) &&
            (request.stage == Stage::rcpt || request.stage == Stage::end_of_message)) {
            // Without waiting (on an I/O thread), a charge that needs the database is made only from this
            // process's leases; without one, nullopt sends the request to a worker that may wait.
            const bool needs_database = !may_wait && request.stage == Stage::end_of_message &&
                                 rate_gate_->charge_may_wait(request, *account, *snapshot);
            if (needs_database && !rate_gate_->charge_from_leases(request, *account, *snapshot, now)) return std::nullopt;
            std::optional<Decision> limited = needs_database ? std::nullopt
                                              : request.stage == Stage::rcpt
                                                  ? rate_gate_->peek(request, *account, *snapshot, now)
                                                  : rate_gate_->charge(request, *account, *snapshot, now);
            if (limited) {
                if (limited->authority_id == 0) limited->authority_id = decision.authority_id;
                if (limited->login.empty()) limited->login = decision.login;
                decision = std::move(*limited);
            }
        }
    } catch (const std::exception& e) {
        // Fail closed for what we would have allowed, and keep Postfix's own rules for what is not ours.
        // Only the rate gate talks to the database here (the rules come from the snapshot): a store error
        // is its counters being out of reach; anything else is a bug and must not pass for an outage.
        const bool store = dynamic_cast<const StoreTransientError*>(&e) || dynamic_cast<const StorePermanentError*>(&e);
        const std::string what = std::string(" for ") +
                                 (request.authenticated() ? "login " + sanitize(request.sasl_login, 100)
                                                          : "client " + sanitize(request.client_address, 60)) +
                                 " at " + to_string(request.stage) + ": " + sanitize(e.what());
        if (store) log_warning("rate limits unavailable" + what);
        else log_error("internal error while deciding (answering a temporary failure)" + what);
        decision = failed(store ? Failure::rate_limits_unavailable : Failure::internal_error, request, decision);
        if (!request.authenticated() && !account) return Decision{};
    }

    if (events_) {
        if (worth_recording(request, decision)) events_->submit(make_event(request, decision, now, options_.node));
        if (request.stage == Stage::end_of_message && allowed(decision) && decision.authority_id != 0) {
            events_->submit_use(decision.authority_id, now, request.client_address);
        }
    }
    if (metrics::enabled()) metrics::on_decision(request.stage, decision, std::chrono::duration<double>(clock_.now() - now).count());
    return decision;
}

}  // namespace relay
