// Effective limits and rate usage as relayctl shows them. Both come from SQL views owned by the schema
// (v_effective_limits, v_rate_usage) whose columns may grow, so they are printed generically; when a view
// does not exist yet (an older schema), relayctl says so instead of guessing.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "core/admin/admin_store.hpp"
#include "tools/relayctl/json.hpp"

namespace relay::ctl {

Json rows_json(const GenericRows& rows);
// The columns named in preferred (those the view has), or every column when it has none of them.
void print_rows(std::ostream& out, const GenericRows& rows, const std::vector<std::string>& preferred = {});
Json limit_json(const RateLimitRow& r);
std::vector<std::string> limit_cells(const RateLimitRow& r);
std::vector<std::string> limit_headers();

struct LimitsView {
    bool from_view = false;
    GenericRows rows;                   // from v_effective_limits
    std::vector<RateLimitRow> applicable;  // without the view: every limit whose scope covers the account
    Json json() const;
    void print(std::ostream& out) const;
};
LimitsView effective_limits(AdminStore& store, const AccountRow& account);

struct UsageView {
    bool available = false;
    std::string why_not;  // "rate usage not available (...)"
    GenericRows rows;
    Json json() const;
    void print(std::ostream& out) const;
};
// login empty: every account and pool
UsageView rate_usage(AdminStore& store, const std::string& login);

}  // namespace relay::ctl
