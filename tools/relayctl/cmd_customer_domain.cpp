// relayctl customer add|list|enable|disable and domain add|list|enable|disable|set.
#include <iostream>

#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

std::string name_arg(const po::variables_map& vm, const char* key, const char* what) {
    std::string v = vm[key].as<std::string>();
    if (v.empty()) throw UsageError(std::string(what) + " must not be empty");
    if (v.size() > 255) throw UsageError(std::string(what) + " is longer than 255 characters");
    return v;
}

Json customer_json(const CustomerRow& c) {
    return Json::object().set("id", c.id).set("name", c.name).set("active", c.active).set("domains", c.domains)
        .set("accounts", c.accounts);
}

Json domain_json(const DomainRow& d) {
    return Json::object().set("id", d.id).set("name", d.name).set("customer", d.customer)
        .set("customer_id", d.customer_id).set("active", d.active).set("is_local", d.is_local)
        .set("accounts", d.accounts);
}

int customer_toggle(Context& ctx, const Args& args, bool active) {
    Command cmd(std::string("customer ") + (active ? "enable" : "disable") + " NAME",
                active ? "Enables a customer: its accounts relay again (unless disabled themselves)."
                       : "Disables a customer: every account sending on its behalf is refused at once.");
    cmd.positional = {"name"};
    cmd.destructive = !active;
    auto vm = cmd.parse(ctx, args);
    const std::string name = name_arg(vm, "name", "the customer name");
    CustomerRow c = ctx.store().find_customer(name);
    if (!active) confirm(ctx, "Disable customer '" + printable(c.name, 100) + "' and stop all its accounts?");
    ctx.store().set_customer_active(name, active);
    if (ctx.json) emit(Json::object().set("customer", c.name).set("id", c.id).set("active", active));
    else say(ctx, "customer " + c.name + (active ? " enabled" : " disabled"));
    return kExitOk;
}

int domain_toggle(Context& ctx, const Args& args, bool active) {
    Command cmd(std::string("domain ") + (active ? "enable" : "disable") + " DOMAIN",
                active ? "Enables a domain: its logins relay again."
                       : "Disables a domain: every login in it is refused at once (the rows stay).");
    cmd.positional = {"domain"};
    cmd.destructive = !active;
    auto vm = cmd.parse(ctx, args);
    const std::string name = parse_domain_name(vm["domain"].as<std::string>());
    DomainRow d = ctx.store().find_domain(name);
    if (!active)
        confirm(ctx, "Disable domain " + d.name + " and stop its " + std::to_string(d.accounts) + " account(s)?");
    ctx.store().set_domain_flags(name, active, std::nullopt);
    if (ctx.json) emit(Json::object().set("domain", d.name).set("id", d.id).set("active", active));
    else say(ctx, "domain " + d.name + (active ? " enabled" : " disabled"));
    return kExitOk;
}

}  // namespace

int cmd_customer_add(Context& ctx, const Args& args) {
    Command cmd("customer add NAME [--disabled]", "Adds a customer: the party on whose behalf accounts send.");
    cmd.positional = {"name"};
    cmd.options.add_options()("disabled", "create it disabled");
    auto vm = cmd.parse(ctx, args);
    const std::string name = name_arg(vm, "name", "the customer name");
    const bool active = !vm.count("disabled");
    Id id = ctx.store().add_customer(name, active);
    if (ctx.json) emit(Json::object().set("id", id).set("name", name).set("active", active));
    else say(ctx, "customer " + name + " added (id " + std::to_string(id) + ")");
    return kExitOk;
}

int cmd_customer_list(Context& ctx, const Args& args) {
    Command cmd("customer list", "Lists customers with their number of domains and accounts.");
    cmd.parse(ctx, args);
    auto rows = ctx.store().list_customers();
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& c : rows) list.push(customer_json(c));
        emit(list);
        return kExitOk;
    }
    Table t{{"ID", "NAME", "ACTIVE", "DOMAINS", "ACCOUNTS"}, {}};
    for (const auto& c : rows)
        t.rows.push_back({std::to_string(c.id), c.name, yes_no(c.active), std::to_string(c.domains),
                          std::to_string(c.accounts)});
    t.print(std::cout);
    return kExitOk;
}

int cmd_customer_enable(Context& ctx, const Args& args) { return customer_toggle(ctx, args, true); }
int cmd_customer_disable(Context& ctx, const Args& args) { return customer_toggle(ctx, args, false); }

int cmd_domain_add(Context& ctx, const Args& args) {
    Command cmd("domain add DOMAIN --customer NAME [--local|--no-local] [--disabled]",
                "Adds a domain. --local (the default) means mail for it is delivered here, so sending to it is "
                "not external relay; --no-local marks a domain whose senders we host but whose mail lives "
                "elsewhere.");
    cmd.positional = {"domain"};
    cmd.options.add_options()("customer", po::value<std::string>(), "owning customer (name or id), required")(
        "local", "mail for the domain is delivered here (default)")("no-local", "mail for it is delivered elsewhere")(
        "disabled", "create it disabled");
    auto vm = cmd.parse(ctx, args);
    if (!vm.count("customer")) throw UsageError("domain add needs --customer NAME");
    if (vm.count("local") && vm.count("no-local")) throw UsageError("--local and --no-local contradict each other");
    const std::string name = parse_domain_name(vm["domain"].as<std::string>());
    const bool is_local = !vm.count("no-local");
    const bool active = !vm.count("disabled");
    const std::string customer = vm["customer"].as<std::string>();
    Id id = ctx.store().add_domain(name, customer, is_local, active);
    if (ctx.json)
        emit(Json::object().set("id", id).set("name", name).set("customer", customer).set("is_local", is_local)
                 .set("active", active));
    else
        say(ctx, "domain " + name + " added (id " + std::to_string(id) + (is_local ? ", local" : ", not local") + ")");
    return kExitOk;
}

int cmd_domain_list(Context& ctx, const Args& args) {
    Command cmd("domain list [--customer NAME]", "Lists domains with their customer, flags and number of accounts.");
    cmd.options.add_options()("customer", po::value<std::string>(), "only this customer's domains");
    auto vm = cmd.parse(ctx, args);
    auto rows = ctx.store().list_domains(vm.count("customer") ? vm["customer"].as<std::string>() : "");
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& d : rows) list.push(domain_json(d));
        emit(list);
        return kExitOk;
    }
    Table t{{"ID", "DOMAIN", "CUSTOMER", "ACTIVE", "LOCAL", "ACCOUNTS"}, {}};
    for (const auto& d : rows)
        t.rows.push_back({std::to_string(d.id), d.name, d.customer, yes_no(d.active), yes_no(d.is_local),
                          std::to_string(d.accounts)});
    t.print(std::cout);
    return kExitOk;
}

int cmd_domain_enable(Context& ctx, const Args& args) { return domain_toggle(ctx, args, true); }
int cmd_domain_disable(Context& ctx, const Args& args) { return domain_toggle(ctx, args, false); }

int cmd_domain_set(Context& ctx, const Args& args) {
    Command cmd("domain set DOMAIN --local|--no-local", "Changes whether mail for the domain is delivered here.");
    cmd.positional = {"domain"};
    cmd.options.add_options()("local", "mail for the domain is delivered here")("no-local", "delivered elsewhere");
    auto vm = cmd.parse(ctx, args);
    if (vm.count("local") == vm.count("no-local")) throw UsageError("give exactly one of --local and --no-local");
    const std::string name = parse_domain_name(vm["domain"].as<std::string>());
    const bool is_local = vm.count("local") > 0;
    ctx.store().set_domain_flags(name, std::nullopt, is_local);
    if (ctx.json) emit(Json::object().set("domain", name).set("is_local", is_local));
    else say(ctx, "domain " + name + (is_local ? " is now local" : " is now not local"));
    return kExitOk;
}

}  // namespace relay::ctl
