#include "core/rules/event.hpp"

#include <random>

namespace relay {

// Each thread seeds its own generator from 256 bits of the system's entropy, so keys of different threads,
// processes and hosts do not collide (2^-64 for a billion events).
std::string new_event_key() {
    thread_local std::mt19937_64 generator = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();
    static const char digits[] = "0123456789ABCDEF";
    std::string key;
    key.reserve(32);
    for (int half = 0; half < 2; ++half) {
        std::uint64_t bits = generator();
        for (int i = 0; i < 16; ++i, bits >>= 4) key += digits[bits & 15];
    }
    return key;
}

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
