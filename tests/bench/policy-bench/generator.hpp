// policy-bench: what each connection sends. A Conversation produces the next request of its connection
// and learns each answer, so that, like Postfix's smtpd, it only sends END-OF-MESSAGE for a message
// with at least one accepted recipient, and counts messages that were limited.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/policy-bench/accounts.hpp"
#include "tests/bench/policy-bench/answer.hpp"
#include "tests/bench/policy-bench/options.hpp"

namespace relay::bench {

// A request of a --requests-file, with its protocol_state (for the per-state latencies).
struct FileRequest {
    std::string text;   // the attribute lines and the terminating empty line
    std::string state;  // protocol_state value, "(none)" when absent
};

// Splits a file of requests separated by empty lines; CR LF is accepted. Adds request=smtpd_access_policy
// when a request lacks it. Throws std::runtime_error when the file cannot be read or holds no request.
std::vector<FileRequest> load_requests_file(const std::string& path);

// How many messages may still be started, shared by all connections. take() hands out sequence numbers
// 1, 2, 3, ... and 0 once the limit (0 = none) is reached.
class MessageBudget {
public:
    explicit MessageBudget(std::uint64_t limit) : limit_(limit) {}
    std::uint64_t take() {
        const std::uint64_t seq = next_.fetch_add(1, std::memory_order_relaxed) + 1;
        return (limit_ == 0 || seq <= limit_) ? seq : 0;
    }

private:
    std::atomic<std::uint64_t> next_{0};
    std::uint64_t limit_;
};

// A message whose last request was answered.
struct MessageResult {
    std::uint64_t seq = 0;         // order in which messages were started (1-based)
    bool refused_at_rcpt = false;  // some RCPT refused
    bool refused_at_eom = false;   // END-OF-MESSAGE refused
    bool held = false;             // some answer was HOLD
    bool eom_sent = false;         // END-OF-MESSAGE was asked (some recipient accepted)
    bool limited() const { return refused_at_rcpt || refused_at_eom || held; }
    bool delivered() const { return eom_sent && !refused_at_eom; }  // accepted (maybe with fewer recipients)
};

struct Outgoing {
    const std::string* text = nullptr;
    const char* state = "";  // protocol_state for the statistics
};

class Conversation {
public:
    virtual ~Conversation() = default;
    // The next request; false when this connection has nothing more to send (message budget used up).
    virtual bool next(Outgoing* out) = 0;
    // The answer to the request next() returned last. True when it finished a message (*done filled).
    virtual bool answered(Outcome outcome, MessageResult* done) = 0;
    // The connection broke: the message in progress is abandoned, as Postfix would.
    virtual void reset() = 0;
};

struct GeneratorConfig {
    Mix mix = Mix::realistic;
    AccountNaming naming;
    std::uint32_t accounts = 1000;
    std::uint32_t account = 0;
    unsigned unauth_percent = 10;
    unsigned foreign_percent = 5;
    unsigned max_recipients = 8;
    std::uint64_t seed = 1;
    const std::vector<FileRequest>* file = nullptr;  // Mix::file
};

std::unique_ptr<Conversation> make_conversation(const GeneratorConfig& config, unsigned connection,
                                                MessageBudget& budget);

// One RCPT request of account `account` (own sender, one external recipient): for --idle.
std::string single_rcpt_request(const AccountNaming& naming, std::uint32_t account, std::uint64_t serial);

}  // namespace relay::bench
