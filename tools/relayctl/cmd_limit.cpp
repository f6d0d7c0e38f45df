// relayctl limit set|remove|list and usage: rows of rate_limits (docs/rate-limits.md) and the usage view.
#include <iostream>

#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"
#include "tools/relayctl/views.hpp"

namespace relay::ctl {
namespace {

void add_scope_options(po::options_description& o) {
    o.add_options()
        ("global", "the limit applies to every account")
        ("customer", po::value<std::string>(), "... to the accounts of this customer (name or id)")
        ("domain", po::value<std::string>(), "... to the logins of this domain")
        ("account", po::value<std::string>(), "... to this login")
        ("network", po::value<std::string>(), "... to clients in this network (CIDR)");
}

void add_key_options(po::options_description& o) {
    o.add_options()
        ("meter", po::value<std::string>(), "messages, recipients or bytes")
        ("window", po::value<std::string>()->default_value("1h"), "window length: 3600, 30m, 1h, 1d, hour, day")
        ("calendar", "reset at the start of each hour/day (in [rate_limits] time_zone) instead of a rolling window")
        ("kind", po::value<std::string>()->default_value("each_account"),
         "each_account (every account its own allowance) or shared_pool (one allowance for the whole scope)");
}

bool one_of(const std::string& v, std::initializer_list<const char*> words) {
    for (const char* w : words)
        if (v == w) return true;
    return false;
}

// Scope and target from exactly one scope option (validated, normalised).
void read_scope(const po::variables_map& vm, RateLimitKey& key) {
    int given = 0;
    for (const char* o : {"global", "customer", "domain", "account", "network"}) given += vm.count(o) ? 1 : 0;
    if (given != 1)
        throw UsageError("give exactly one scope: --global, --customer C, --domain D, --account LOGIN or --network CIDR");
    if (vm.count("global")) {
        key.scope = "global";
    } else if (vm.count("customer")) {
        key.scope = "customer";
        key.target = vm["customer"].as<std::string>();
    } else if (vm.count("domain")) {
        key.scope = "domain";
        key.target = parse_domain_name(vm["domain"].as<std::string>());
    } else if (vm.count("account")) {
        key.scope = "authority";
        key.target = parse_login(vm["account"].as<std::string>()).str();
    } else {
        key.scope = "client_network";
        key.target = parse_cidr(vm["network"].as<std::string>());
    }
}

RateLimitKey read_key(const po::variables_map& vm) {
    RateLimitKey key;
    read_scope(vm, key);
    if (!vm.count("meter")) throw UsageError("--meter is required (messages, recipients or bytes)");
    key.meter = vm["meter"].as<std::string>();
    if (!one_of(key.meter, {"messages", "recipients", "bytes"}))
        throw UsageError("--meter: '" + printable(key.meter, 40) + "' is not one of messages, recipients, bytes");
    key.window_seconds = parse_window(vm["window"].as<std::string>());
    if (vm.count("calendar")) {
        if (key.window_seconds == 3600) key.calendar = "hour";
        else if (key.window_seconds == 86400) key.calendar = "day";
        else throw UsageError("--calendar needs --window hour or --window day");
    }
    key.kind = vm["kind"].as<std::string>();
    if (!one_of(key.kind, {"each_account", "shared_pool"}))
        throw UsageError("--kind: '" + printable(key.kind, 40) + "' is not one of each_account, shared_pool");
    if (key.kind == "shared_pool" && key.scope == "authority")
        throw UsageError("--kind shared_pool needs a wider scope than one account (--customer, --domain, --global, --network)");
    return key;
}

std::string describe(const RateLimitKey& key, std::uint64_t amount) {
    std::string target = key.scope == "global" ? "every account" : key.scope + " " + key.target.value_or("");
    std::string per = key.calendar ? "per calendar " + *key.calendar : "per " + std::to_string(key.window_seconds) + " s";
    return std::to_string(amount) + " " + key.meter + " " + per + " for " + target +
           (key.kind == "shared_pool" ? " (shared pool)" : "");
}

}  // namespace

int cmd_limit_set(Context& ctx, const Args& args) {
    Command cmd("limit set SCOPE --meter M --amount N [--window W] [--calendar] [--kind K] [--action A] [--shadow]",
                "Adds a rate limit, or changes amount/action/shadow/active of the one with the same scope, "
                "meter, window and kind. SCOPE is one of --global, --customer C, --domain D, --account LOGIN, "
                "--network CIDR. Example: relayctl limit set --account printer@example.com --meter messages "
                "--amount 500 --window day --calendar");
    add_scope_options(cmd.options);
    add_key_options(cmd.options);
    cmd.options.add_options()
        ("amount", po::value<std::string>(), "allowance per window (bytes also as 100M, 2G)")
        ("action", po::value<std::string>()->default_value("defer"),
         "over the limit: defer (4xx, default), reject (5xx), hold (Postfix HOLD queue)")
        ("shadow", "only log what the limit would do; enforce nothing")
        ("disabled", "store it inactive");
    auto vm = cmd.parse(ctx, args);
    RateLimitKey key = read_key(vm);
    if (!vm.count("amount")) throw UsageError("--amount is required");
    const std::string amount_text = vm["amount"].as<std::string>();
    const std::uint64_t amount = key.meter == "bytes" ? parse_size(amount_text, "--amount").value_or(0)
                                                      : *parse_count(amount_text, "--amount", false);
    if (amount == 0) throw UsageError("--amount must be a positive number");
    const std::string action = vm["action"].as<std::string>();
    if (!one_of(action, {"defer", "reject", "hold"}))
        throw UsageError("--action: '" + printable(action, 40) + "' is not one of defer, reject, hold");
    const bool shadow = vm.count("shadow") > 0, active = !vm.count("disabled");
    auto [id, created] = ctx.store().set_rate_limit(key, amount, action, shadow, active);
    if (ctx.json)
        emit(Json::object().set("id", id).set("created", created).set("scope", key.scope).set("target", key.target)
                 .set("meter", key.meter).set("amount", amount).set("window_seconds", key.window_seconds)
                 .set("calendar", key.calendar).set("kind", key.kind).set("action", action).set("shadow", shadow)
                 .set("active", active));
    else
        say(ctx, std::string(created ? "limit added" : "limit changed") + " (id " + std::to_string(id) +
                     "): " + describe(key, amount) + ", action " + action + (shadow ? ", shadow only" : "") +
                     (active ? "" : ", disabled"));
    return kExitOk;
}

int cmd_limit_remove(Context& ctx, const Args& args) {
    Command cmd("limit remove ID | limit remove SCOPE --meter M [--window W] [--calendar] [--kind K]",
                "Removes a rate limit, named by its id (relayctl limit list) or by scope, meter, window and kind.");
    cmd.positional = {"id"};
    cmd.repeat_last = true;
    cmd.destructive = true;
    add_scope_options(cmd.options);
    add_key_options(cmd.options);
    auto vm = cmd.parse(ctx, args);
    Id id = 0;
    if (vm.count("id")) {
        auto ids = vm["id"].as<std::vector<std::string>>();
        std::string text = ids[0];
        if (ids.size() > 1 || text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
            throw UsageError("limit remove takes one numeric ID (see relayctl limit list)");
        id = std::stoll(text);
    } else {
        id = ctx.store().find_rate_limit(read_key(vm));
    }
    confirm(ctx, "Remove rate limit " + std::to_string(id) + "?");
    ctx.store().remove_rate_limit(id);
    if (ctx.json) emit(Json::object().set("id", id).set("removed", true));
    else say(ctx, "limit " + std::to_string(id) + " removed");
    return kExitOk;
}

int cmd_limit_list(Context& ctx, const Args& args) {
    Command cmd("limit list [SCOPE]", "Lists rate limits, all or those of one scope (--global, --customer C, "
                                      "--domain D, --account LOGIN, --network CIDR). For what applies to one "
                                      "account after precedence, see relayctl account show.");
    add_scope_options(cmd.options);
    auto vm = cmd.parse(ctx, args);
    RateLimitKey filter;
    int given = 0;
    for (const char* o : {"global", "customer", "domain", "account", "network"}) given += vm.count(o) ? 1 : 0;
    if (given > 1) throw UsageError("give at most one scope");
    if (given == 1) read_scope(vm, filter);
    std::optional<Id> customer_id;
    if (filter.scope == "customer") customer_id = ctx.store().find_customer(*filter.target).id;
    std::vector<RateLimitRow> rows;
    for (auto& r : ctx.store().list_rate_limits()) {
        if (given == 1) {
            if (r.scope != filter.scope) continue;
            if (filter.scope == "customer" && r.scope_id != customer_id) continue;
            if ((filter.scope == "domain" || filter.scope == "authority" || filter.scope == "client_network") &&
                r.scope_name != *filter.target)
                continue;
        }
        rows.push_back(std::move(r));
    }
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& r : rows) list.push(limit_json(r));
        emit(list);
        return kExitOk;
    }
    Table t{limit_headers(), {}};
    for (const auto& r : rows) t.rows.push_back(limit_cells(r));
    t.print(std::cout);
    return kExitOk;
}

int cmd_usage(Context& ctx, const Args& args) {
    Command cmd("usage [LOGIN]", "Shows current rate usage: per account and pool, what is used, what remains, "
                                 "when it is regained, and the last refusal.");
    cmd.positional = {"login"};
    cmd.repeat_last = true;
    auto vm = cmd.parse(ctx, args);
    std::string login;
    if (vm.count("login")) {
        auto logins = vm["login"].as<std::vector<std::string>>();
        if (logins.size() > 1) throw UsageError("usage takes at most one LOGIN");
        Login l = parse_login(logins[0]);
        login = ctx.store().find_account(l.local_part, l.domain).login;
    }
    UsageView usage = rate_usage(ctx.store(), login);
    if (!usage.available) throw NotFoundError(usage.why_not);
    if (ctx.json) emit(usage.json());
    else usage.print(std::cout);
    return kExitOk;
}

}  // namespace relay::ctl
