#include "core/ratelimit/rate_limit_scope.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "core/mail/cidr.hpp"
#include "core/base/text.hpp"

namespace relay {

namespace {

// 0: not part of the each_account precedence (client_network).
int specificity(RateScope scope) {
    switch (scope) {
        case RateScope::authority: return 4;
        case RateScope::domain: return 3;
        case RateScope::customer: return 2;
        case RateScope::global: return 1;
        case RateScope::client_network: return 0;
    }
    return 0;
}

bool covers(const RateLimit& limit, const Account& account, const std::optional<IpAddress>& client) {
    switch (limit.scope) {
        case RateScope::global: return true;
        case RateScope::customer: return limit.scope_id && *limit.scope_id == account.authority->customer_id;
        case RateScope::domain: return limit.scope_id && account.domain && *limit.scope_id == account.domain->id;
        case RateScope::authority: return limit.scope_id && *limit.scope_id == account.authority->id;
        case RateScope::client_network: return limit.cidr && client && limit.cidr->contains(*client);
    }
    return false;
}

// Limits that compete in the each_account precedence: same enforcement, meter and window.
using Group = std::tuple<bool, RateMeter, std::uint32_t, RateCalendar>;

std::string window_text(const RateLimit& limit) {
    switch (limit.calendar) {
        case RateCalendar::hour: return "calendar hour";
        case RateCalendar::day: return "calendar day";
        case RateCalendar::rolling: break;
    }
    const std::uint32_t s = limit.window_seconds;
    auto unit = [](std::uint32_t n, const char* word) {
        return std::to_string(n) + " " + word + (n == 1 ? "" : "s") + " (rolling)";
    };
    if (s % 86400 == 0) return unit(s / 86400, "day");
    if (s % 3600 == 0) return unit(s / 3600, "hour");
    if (s % 60 == 0) return unit(s / 60, "minute");
    return unit(s, "second");
}

std::string pool_owner(const RateLimit& limit, const Snapshot& snapshot) {
    const Id id = limit.scope_id.value_or(0);
    switch (limit.scope) {
        case RateScope::global: return "all accounts";
        case RateScope::customer: {
            auto it = snapshot.customers.find(id);
            return "customer " + (it == snapshot.customers.end() ? std::to_string(id) : printable(it->second.name, 60));
        }
        case RateScope::domain: {
            auto it = snapshot.domains.find(id);
            return "domain " + (it == snapshot.domains.end() ? std::to_string(id) : printable(it->second.name, 80));
        }
        case RateScope::authority: return "authority " + std::to_string(id);
        case RateScope::client_network: return "network " + (limit.cidr ? limit.cidr->str() : std::string("?"));
    }
    return "?";
}

}  // namespace

std::vector<AppliedLimit> applicable_limits(const Snapshot& snapshot, const Account& account,
                                            const std::string& client_address) {
    std::vector<AppliedLimit> out;
    if (!account.authority) return out;
    const std::optional<IpAddress> client = IpAddress::parse(client_address);
    std::vector<const RateLimit*> each_account;
    std::map<Group, int> best;
    for (const RateLimit& limit : snapshot.rate_limits) {
        if (!limit.active || !covers(limit, account, client)) continue;
        const Id own = account.authority->id;
        if (limit.kind == RateKind::shared_pool) {
            out.push_back({&limit, 0});
        } else if (limit.scope == RateScope::client_network) {
            out.push_back({&limit, own});
        } else {
            each_account.push_back(&limit);
            int& b = best[Group{limit.shadow, limit.meter, limit.window_seconds, limit.calendar}];
            b = std::max(b, specificity(limit.scope));
        }
    }
    for (const RateLimit* limit : each_account) {
        if (specificity(limit->scope) == best[Group{limit->shadow, limit->meter, limit->window_seconds, limit->calendar}])
            out.push_back({limit, account.authority->id});
    }
    std::sort(out.begin(), out.end(), [](const AppliedLimit& a, const AppliedLimit& b) {
        return std::make_pair(a.limit->id, a.subject_id) < std::make_pair(b.limit->id, b.subject_id);
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const AppliedLimit& a, const AppliedLimit& b) {
                              return a.limit->id == b.limit->id && a.subject_id == b.subject_id;
                          }),
              out.end());
    return out;
}

std::uint64_t message_cost(RateMeter meter, const Request& request) {
    switch (meter) {
        case RateMeter::messages: return 1;
        case RateMeter::recipients: return std::max<std::uint64_t>(request.recipient_count, 1);
        case RateMeter::bytes: return request.size;
    }
    return 1;
}

std::uint64_t peek_cost(RateMeter meter, const Request& request) {
    switch (meter) {
        case RateMeter::messages: return 1;
        case RateMeter::recipients: return static_cast<std::uint64_t>(request.recipient_count) + 1;
        case RateMeter::bytes: return std::max<std::uint64_t>(request.size, 1);
    }
    return 1;
}

const char* to_string(RateScope scope) {
    switch (scope) {
        case RateScope::global: return "global";
        case RateScope::customer: return "customer";
        case RateScope::domain: return "domain";
        case RateScope::authority: return "authority";
        case RateScope::client_network: return "client_network";
    }
    return "?";
}

const char* to_string(RateMeter meter) {
    switch (meter) {
        case RateMeter::messages: return "messages";
        case RateMeter::recipients: return "recipients";
        case RateMeter::bytes: return "bytes";
    }
    return "?";
}

const char* to_string(RateKind kind) {
    switch (kind) {
        case RateKind::each_account: return "each_account";
        case RateKind::shared_pool: return "shared_pool";
    }
    return "?";
}

const char* to_string(RateAction action) {
    switch (action) {
        case RateAction::defer: return "defer";
        case RateAction::reject: return "reject";
        case RateAction::hold: return "hold";
    }
    return "?";
}

std::string describe_limit(const RateLimit& limit, const Snapshot& snapshot) {
    std::string text = std::to_string(limit.amount) + " " + to_string(limit.meter) + " per " + window_text(limit);
    if (limit.kind == RateKind::shared_pool) text += ", shared by " + pool_owner(limit, snapshot);
    else if (limit.scope == RateScope::client_network) text += " from " + pool_owner(limit, snapshot);
    return text;
}

}  // namespace relay
