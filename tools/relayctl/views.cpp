#include "tools/relayctl/views.hpp"

#include <cctype>
#include <iostream>

#include "tools/relayctl/cli.hpp"

namespace relay::ctl {

namespace {
const char* kUsageView = "v_rate_usage";
const char* kLimitsView = "v_effective_limits";

std::string window_text(std::uint32_t s) {
    if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
    if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
    if (s % 60 == 0) return std::to_string(s / 60) + "m";
    return std::to_string(s) + "s";
}
}  // namespace

Json rows_json(const GenericRows& rows) {
    Json list = Json::array();
    for (const auto& row : rows.rows) {
        Json o = Json::object();
        for (std::size_t i = 0; i < rows.columns.size(); ++i) {
            if (!row[i]) o.set(rows.columns[i], Json());
            else if (rows.numeric[i]) o.set(rows.columns[i], Json::number_text(*row[i]));
            else o.set(rows.columns[i], Json(*row[i]));
        }
        list.push(o);
    }
    return list;
}

void print_rows(std::ostream& out, const GenericRows& rows, const std::vector<std::string>& preferred) {
    // The preferred columns that the view has, in that order; all columns when it has none of them.
    std::vector<std::size_t> shown;
    for (const auto& name : preferred)
        for (std::size_t i = 0; i < rows.columns.size(); ++i)
            if (rows.columns[i] == name) shown.push_back(i);
    if (shown.empty())
        for (std::size_t i = 0; i < rows.columns.size(); ++i) shown.push_back(i);
    Table t;
    for (std::size_t i : shown) {
        std::string h = rows.columns[i];
        for (auto& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        t.headers.push_back(h);
    }
    for (const auto& row : rows.rows) {
        std::vector<std::string> cells;
        for (std::size_t i : shown) cells.push_back(row[i] ? *row[i] : "-");
        t.rows.push_back(cells);
    }
    t.print(out);
}

std::vector<std::string> limit_headers() {
    return {"ID", "SCOPE", "TARGET", "METER", "AMOUNT", "WINDOW", "KIND", "ACTION", "FLAGS"};
}

std::vector<std::string> limit_cells(const RateLimitRow& r) {
    std::string window = r.calendar ? "per " + *r.calendar + " (calendar)" : window_text(r.window_seconds) + " rolling";
    std::string flags = std::string(r.active ? "" : "disabled ") + (r.shadow ? "shadow" : "");
    if (flags.empty()) flags = "-";
    return {std::to_string(r.id), r.scope, r.scope_name.empty() ? "-" : r.scope_name, r.meter, std::to_string(r.amount),
            window, r.kind, r.action, flags};
}

Json limit_json(const RateLimitRow& r) {
    return Json::object().set("id", r.id).set("scope", r.scope).set("scope_id", r.scope_id)
        .set("target", r.scope_name.empty() ? Json() : Json(r.scope_name)).set("cidr", r.cidr).set("meter", r.meter)
        .set("amount", r.amount).set("window_seconds", r.window_seconds).set("calendar", r.calendar)
        .set("kind", r.kind).set("action", r.action).set("shadow", r.shadow).set("active", r.active);
}

LimitsView effective_limits(AdminStore& store, const AccountRow& a) {
    LimitsView v;
    if (store.relation_exists(kLimitsView)) {
        v.rows = store.read_view(kLimitsView, {{"authority_id", std::to_string(a.authority_id)}, {"login", a.login}});
        v.from_view = v.rows.filtered;
        if (v.from_view) return v;
    }
    for (auto& r : store.list_rate_limits()) {
        const bool applies = r.scope == "global" || r.scope == "client_network" ||
                             (r.scope == "customer" && r.scope_id == a.customer_id) ||
                             (r.scope == "domain" && r.scope_id == a.domain_id) ||
                             (r.scope == "authority" && r.scope_id == a.authority_id);
        if (applies) v.applicable.push_back(std::move(r));
    }
    return v;
}

Json LimitsView::json() const {
    if (from_view) return rows_json(rows);
    Json list = Json::array();
    for (const auto& r : applicable) list.push(limit_json(r));
    return list;
}

void LimitsView::print(std::ostream& out) const {
    if (from_view) {
        out << "Effective limits:" << (rows.rows.empty() ? " none\n" : "\n");
        if (!rows.rows.empty())
            print_rows(out, rows, {"rate_limit_id", "source_scope", "scope_name", "description", "action"});
        return;
    }
    out << "Rate limits covering this account (no v_effective_limits view: precedence not resolved;"
           " client_network limits apply by client address):"
        << (applicable.empty() ? " none\n" : "\n");
    if (applicable.empty()) return;
    Table t{limit_headers(), {}};
    for (const auto& r : applicable) t.rows.push_back(limit_cells(r));
    t.print(out);
}

UsageView rate_usage(AdminStore& store, const std::string& login) {
    UsageView v;
    if (!store.relation_exists(kUsageView)) {
        auto version = store.schema_version();
        v.why_not = "rate usage not available (schema version " + std::to_string(version.value_or(0)) +
                    " is older than the rate-limit migration that adds the " + kUsageView +
                    " view: run relayctl db migrate)";
        return v;
    }
    v.available = true;
    if (login.empty()) v.rows = store.read_view(kUsageView);
    else v.rows = store.read_view(kUsageView, {{"login", login}, {"subject", login}});
    return v;
}

Json UsageView::json() const {
    if (!available) return Json::object().set("available", false).set("reason", why_not);
    return rows_json(rows);
}

void UsageView::print(std::ostream& out) const {
    if (!available) {
        out << why_not << "\n";
        return;
    }
    out << "Rate usage:" << (rows.rows.empty() ? " nothing counted yet\n" : "\n");
    if (!rows.rows.empty())
        print_rows(out, rows, {"subject", "description", "used", "remaining", "regained_at", "last_refusal_at",
                               "refusals", "action", "shadow"});
}

}  // namespace relay::ctl
