// relayctl sender add|remove|list and network add|remove|list.
#include <iostream>

#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

AccountRow account_of(Context& ctx, const std::string& text) {
    Login login = parse_login(text);
    return ctx.store().find_account(login.local_part, login.domain);
}

// The value is validated before the login is looked up, so a malformed value is exit 1 even for an
// unknown login (and never reaches the database).
int change_list(Context& ctx, const Args& args, bool sender, bool add) {
    const std::string what = sender ? "sender" : "network";
    const std::string value_name = sender ? "PATTERN" : "CIDR";
    std::string about = sender ? (add ? "Allows the account to use an extra envelope sender: an address "
                                        "(user@example.com, its +extensions included) or a whole domain "
                                        "(@example.com), whatever its sender policy."
                                      : "Removes a sender pattern from the account.")
                               : (add ? "Binds the account to a client network: once it has any, mail is only "
                                        "accepted from inside one of them (for auth_mode ip they are what "
                                        "authorises the client). CIDR like 192.0.2.0/24, 192.0.2.10, 2001:db8::/48."
                                      : "Removes a client network from the account.");
    Command cmd(what + (add ? " add" : " remove") + " LOGIN " + value_name, about);
    cmd.positional = {"login", "value"};
    cmd.destructive = !add;
    auto vm = cmd.parse(ctx, args);
    const std::string raw = vm["value"].as<std::string>();
    const std::string value = sender ? parse_pattern(raw) : parse_cidr(raw);
    AccountRow a = account_of(ctx, vm["login"].as<std::string>());
    AdminStore& store = ctx.store();
    if (add) {
        if (sender) store.add_sender(a.authority_id, value);
        else store.add_network(a.authority_id, value);
    } else {
        confirm(ctx, "Remove " + what + " " + printable(value, 200) + " from " + a.login + "?");
        if (sender) store.remove_sender(a.authority_id, value);
        else store.remove_network(a.authority_id, value);
    }
    if (ctx.json) emit(Json::object().set("login", a.login).set(sender ? "pattern" : "cidr", value).set(add ? "added" : "removed", true));
    else say(ctx, what + " " + value + (add ? " added to " : " removed from ") + a.login);
    if (!add && !sender && a.network_count == 1 && a.auth_mode == "sasl")
        std::cerr << "note: " << a.login << " has no client network left: it may now log in from anywhere\n";
    return kExitOk;
}


}  // namespace

int cmd_sender_add(Context& ctx, const Args& args) { return change_list(ctx, args, true, true); }
int cmd_sender_remove(Context& ctx, const Args& args) { return change_list(ctx, args, true, false); }
int cmd_network_add(Context& ctx, const Args& args) { return change_list(ctx, args, false, true); }
int cmd_network_remove(Context& ctx, const Args& args) { return change_list(ctx, args, false, false); }

int cmd_sender_list(Context& ctx, const Args& args) {
    Command cmd("sender list [LOGIN]", "Lists sender patterns, of one account or of all.");
    cmd.positional = {"login"};
    cmd.repeat_last = true;  // optional
    auto vm = cmd.parse(ctx, args);
    Id id = 0;
    if (vm.count("login")) {
        auto logins = vm["login"].as<std::vector<std::string>>();
        if (logins.size() > 1) throw UsageError("sender list takes at most one LOGIN");
        id = account_of(ctx, logins[0]).authority_id;
    }
    auto rows = ctx.store().list_senders(id);
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& r : rows) list.push(Json::object().set("id", r.id).set("login", r.login).set("pattern", r.pattern));
        emit(list);
        return kExitOk;
    }
    Table t{{"ID", "LOGIN", "PATTERN"}, {}};
    for (const auto& r : rows) t.rows.push_back({std::to_string(r.id), r.login, r.pattern});
    t.print(std::cout);
    return kExitOk;
}

int cmd_network_list(Context& ctx, const Args& args) {
    Command cmd("network list [LOGIN]", "Lists client networks, of one account or of all.");
    cmd.positional = {"login"};
    cmd.repeat_last = true;
    auto vm = cmd.parse(ctx, args);
    Id id = 0;
    if (vm.count("login")) {
        auto logins = vm["login"].as<std::vector<std::string>>();
        if (logins.size() > 1) throw UsageError("network list takes at most one LOGIN");
        id = account_of(ctx, logins[0]).authority_id;
    }
    auto rows = ctx.store().list_networks(id);
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& r : rows)
            list.push(Json::object().set("id", r.id).set("login", r.login).set("cidr", r.cidr).set("auth_mode", r.auth_mode));
        emit(list);
        return kExitOk;
    }
    Table t{{"ID", "LOGIN", "CIDR", "AUTH"}, {}};
    for (const auto& r : rows) t.rows.push_back({std::to_string(r.id), r.login, r.cidr, r.auth_mode});
    t.print(std::cout);
    return kExitOk;
}

}  // namespace relay::ctl
