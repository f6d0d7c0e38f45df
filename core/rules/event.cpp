#include "core/rules/event.hpp"

#include "core/base/random_key.hpp"

namespace relay {

std::string new_event_key() { return random_key(); }

Event make_event(const Request& request, const Decision& decision, TimePoint at, const std::string& node) {
    Event e;
    e.at = at;
    e.node = node;
    e.stage = request.stage;
    e.authority_id = decision.authority_id;
    // The account the rules applied to (an IP-authorised device has no SASL login), else what was typed.
    e.login = decision.login.empty() ? request.sasl_login : decision.login;
    e.client_address = request.client_address;
    e.sender = request.sender;
    e.recipient_count = request.recipient_count;
    e.size = request.size;
    e.verdict = decision.verdict;
    e.reason = decision.reason;
    e.queue_id = request.queue_id;
    // The reply text says which rule or limit refused; the current recipient makes a refusal at RCPT
    // traceable. Lengths are capped where the row is written (MysqlStore).
    e.detail = decision.reply();
    if (request.stage == Stage::rcpt && !request.recipient.empty()) {
        e.detail += (e.detail.empty() ? "" : "; ") + std::string("recipient ") + request.recipient;
    }
    return e;
}

}  // namespace relay
