// What happens to one complete request between the parser and the socket: map the attributes to a
// Request, decide (the server may run decide() on a worker thread), then track the message, log and
// build the answer. No sockets here, so unit tests drive it directly.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/policy/decider.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/request.hpp"
#include "policyd/instance_tracker.hpp"
#include "policyd/protocol.hpp"

namespace relay::policyd {

using SteadyTime = std::chrono::steady_clock::time_point;

class RequestHandler {
public:
    RequestHandler(Decider& decider, InstanceTracker& tracker);

    // The engine's decision; an exception from it becomes a temporary failure (never a permit).
    Decision decide(const Request& request);
    // The same when it needs no database (on the I/O thread); nullopt: run decide() on a worker.
    std::optional<Decision> decide_without_waiting(const Request& request);
    bool may_block(const Request& request) const;
    // The answer to a charge whose worker did not finish within [rate_limits] charge_timeout (or had not
    // started it): a temporary failure, never a permit.
    static Decision charge_timed_out(const Request& request);

    // Records the message, logs (decisions that are not plain DUNNO, every accepted END-OF-MESSAGE)
    // and returns the bytes to send: "action=...\n\n".
    std::string finish(const Request& request, const Decision& decision, SteadyTime started);

    // For requests map_policy_request() leaves to us (MapStatus::ignore / unknown_state), with its
    // error and the peer for the log. DUNNO for a state we have no rules for (ETRN) and for
    // unauthenticated requests (not ours). An authenticated request at a stage we do not know gets a
    // temporary failure naming the cause: a security gate that does not understand fails closed.
    static std::string ignored_answer(MapStatus status, std::string_view sasl_username, const std::string& error,
                                      const std::string& peer);

    // Log plain DUNNO answers too (log_level = debug); off by default because it costs a line per RCPT.
    void set_debug(bool on) { debug_.store(on, std::memory_order_relaxed); }

private:
    std::optional<Decision> decide(const Request& request, bool may_wait);

    Decider& decider_;
    InstanceTracker& tracker_;
    std::atomic<bool> debug_{false};
};

// The log line for one decision (without the logger's prefix); exposed for tests.
std::string decision_log_line(const Request& request, const Decision& decision, const std::string& action,
                              long long latency_us, const std::string& correlation);

}  // namespace relay::policyd
