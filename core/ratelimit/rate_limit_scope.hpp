// Which rate_limits rows apply to a message, whose allowance each one counts against, and what the
// message costs on each meter. Pure functions of the rules snapshot and the request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rules/model.hpp"
#include "core/rules/request.hpp"

namespace relay {

struct AppliedLimit {
    const RateLimit* limit = nullptr;
    Id subject_id = 0;  // the account's own allowance (smtp_authorities.id), or 0: the limit's shared pool
};

// The active limits that apply to this account sending from client_address, sorted by (limit id,
// subject id): the order in which their counters are locked.
// - kind each_account: for the same meter, window_seconds and calendar only the most specific scope
//   applies: authority > domain (the login's domain) > customer (smtp_authorities.customer_id) > global.
//   Shadow limits are resolved among themselves, so a shadow limit never replaces an enforced one.
// - kind shared_pool: every one whose scope covers the account applies, counted in one pool.
// - scope client_network: applies when the client address is inside cidr, in addition to the above (it
//   is about where the mail comes from, not who sends it): each_account = each account's own allowance
//   from that network, shared_pool = one allowance for everything from that network.
std::vector<AppliedLimit> applicable_limits(const Snapshot& snapshot, const Account& account,
                                            const std::string& client_address);

// What a message costs at end of message: 1 message, its accepted recipients (at least 1), its size.
std::uint64_t message_cost(RateMeter meter, const Request& request);
// What the RCPT peek asks for: the message itself, the recipients so far including this one, and the
// declared size (at least 1 byte): "is there room for this message at all?".
std::uint64_t peek_cost(RateMeter meter, const Request& request);

const char* to_string(RateScope scope);
const char* to_string(RateMeter meter);
const char* to_string(RateKind kind);
const char* to_string(RateAction action);

// "100 messages per 1 hour (rolling)", "500 recipients per calendar day, shared by domain example.com":
// printable ASCII, for SMTP replies and logs.
std::string describe_limit(const RateLimit& limit, const Snapshot& snapshot);

}  // namespace relay
