#include "policyd/handler.hpp"

#include <exception>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "policyd/action.hpp"

namespace relay::policyd {

RequestHandler::RequestHandler(Decider& decider, InstanceTracker& tracker)
    : decider_(decider), tracker_(tracker) {}

bool RequestHandler::may_block(const Request& request) const {
    try {
        return decider_.may_block(request);
    } catch (const std::exception&) {
        return true;  // unsure: keep it off the I/O threads
    }
}

Decision RequestHandler::decide(const Request& request) {
    return *decide(request, true);
}

std::optional<Decision> RequestHandler::decide_without_waiting(const Request& request) {
    return decide(request, false);
}

Decision RequestHandler::charge_timed_out(const Request& request) {
    Decision d = fail_closed(Failure::rate_limits_unavailable);
    d.login = request.sasl_login;
    return d;
}

std::optional<Decision> RequestHandler::decide(const Request& request, bool may_wait) {
    const auto evaluate = [this, may_wait](const Request& r) {
        return may_wait ? std::optional<Decision>(decider_.evaluate(r)) : decider_.evaluate_without_waiting(r);
    };
    try {
        // Postfix fills recipient_count only from DATA on (SMTPD_POLICY_README): at RCPT it is always 0.
        // The per-message cap needs the recipients already accepted, which only our tracker knows.
        if (request.stage == Stage::rcpt && request.recipient_count == 0) {
            if (const auto record = tracker_.peek(request.instance)) {
                Request counted = request;
                counted.recipient_count = record->recipients_allowed;
                return evaluate(counted);
            }
        }
        return evaluate(request);
    } catch (const StoreTransientError& e) {
        // Policy answers the rate gate's store errors itself: one that gets here came from somewhere the
        // request never reaches the database, so it is a bug, not an outage.
        log_error(std::string("internal error while deciding (a database error outside the rate gate; "
                              "answering a temporary failure): ") + sanitize(e.what()));
    } catch (const std::exception& e) {
        log_error(std::string("internal error while deciding (answering a temporary failure): ") +
                  sanitize(e.what()));
    }
    Decision d = fail_closed(Failure::internal_error);
    d.login = request.sasl_login;
    return d;
}

std::string RequestHandler::ignored_answer(MapStatus status, std::string_view sasl_username,
                                          const std::string& error, const std::string& peer) {
    if (status == MapStatus::unknown_state && !sasl_username.empty()) {
        log_warning("answering a temporary failure to " + peer + ": " + sanitize(error, 80) + " for login=" +
                    sanitize(sasl_username, 120));
        return "action=451 4.3.5 Policy request with an unknown protocol_state; try again later\n\n";
    }
    log_debug("answering DUNNO to " + peer + ": " + sanitize(error, 80));
    return "action=DUNNO\n\n";
}

namespace {

// Postfix has not yet assigned a queue id before the first accepted RCPT: log "-" like Postfix does
// for missing values, rather than an empty field.
std::string field(const std::string& value, std::size_t max_len = 200) {
    return value.empty() ? std::string("-") : sanitize(value, max_len);
}

}  // namespace

std::string decision_log_line(const Request& r, const Decision& d, const std::string& action,
                              long long latency_us, const std::string& correlation) {
    std::string line;
    line.reserve(300);
    line += to_string(r.stage);
    line += ": queue_id=" + field(r.queue_id, 40);
    line += " login=" + field(d.login.empty() ? r.sasl_login : d.login, 120);
    line += " client=" + field(r.client_address, 60);
    line += " sender=<" + sanitize(r.sender, 120) + ">";
    if (r.stage == Stage::rcpt || !r.recipient.empty()) line += " recipient=<" + sanitize(r.recipient, 120) + ">";
    line += " recipients=" + std::to_string(r.recipient_count);
    if (!correlation.empty()) line += " " + correlation;
    line += " size=" + std::to_string(r.size);
    line += " verdict=" + std::string(to_string(d.verdict));
    line += " reason=" + std::string(to_string(d.reason));
    if (action != "DUNNO") line += " action=\"" + sanitize(action, 300) + "\"";
    line += " latency_us=" + std::to_string(latency_us);
    return line;
}

std::string RequestHandler::finish(const Request& r, const Decision& d, SteadyTime started) {
    std::string correlation;
    bool log_it = d.verdict != Verdict::cont;
    switch (r.stage) {
        case Stage::mail: tracker_.begin(r.instance); break;
        case Stage::rcpt:
            // Only messages we decide on (authenticated or IP-authorised): inbound mail that is not ours
            // would fill the tracker with entries nobody reads (most of it never reaches END-OF-MESSAGE).
            if (r.sender_known && d.reason != Reason::not_ours) tracker_.note_recipient(r.instance, allowed(d));
            break;
        case Stage::end_of_message: {
            const auto record = tracker_.finish(r.instance);
            correlation = record ? "allowed_by_us=" + std::to_string(record->recipients_allowed) + "/" +
                                       std::to_string(record->recipients_seen)
                                 : std::string("allowed_by_us=unknown");
            log_it = log_it || allowed(d);
            break;
        }
        case Stage::connect:
        case Stage::helo:
        case Stage::data: break;
    }
    const std::string action = policy_action(d);
    const std::string answer = "action=" + action + "\n\n";
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - started).count();
    if (log_it && d.refused()) {
        // [general] refusal_summary may count it instead (a refusal flood); accepted ones always log.
        const std::string who = d.login.empty() && r.sasl_login.empty() ? "client=" + field(r.client_address, 60)
                                                                        : "login=" + field(d.login.empty() ? r.sasl_login : d.login, 120);
        if (log_refusal_in_full(LogLevel::info, who, to_string(d.reason)))
            log_info(decision_log_line(r, d, action, latency, correlation));
    } else if (log_it) {
        log_info(decision_log_line(r, d, action, latency, correlation));
    } else if (debug_.load(std::memory_order_relaxed)) {
        log_debug(decision_log_line(r, d, action, latency, correlation));
    }
    return answer;
}

}  // namespace relay::policyd
