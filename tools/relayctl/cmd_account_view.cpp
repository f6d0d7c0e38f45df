// relayctl account list | show, unused: reading accounts.
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "core/config/config_checks.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"
#include "tools/relayctl/views.hpp"

namespace relay::ctl {
namespace {

const char* const kStatuses[] = {"active", "disabled", "domain-disabled", "customer-disabled", "suspended",
                                 "expired"};

Json account_json(const AccountRow& a, std::int64_t now) {
    return Json::object()
        .set("login", a.login)
        .set("authority_id", a.authority_id)
        .set("user_id", a.user_id)
        .set("customer", a.customer)
        .set("customer_id", a.customer_id)
        .set("status", account_status(a, now))
        .set("facilities", facility_letters(a))
        .set("active", a.authority_active)
        .set("user_active", a.user_active)
        .set("domain_active", a.domain_active)
        .set("customer_active", a.customer_active)
        .set("has_password", a.has_password)
        .set("password_changed_at", json_time(a.password_changed_at))
        .set("sender_policy", a.sender_policy)
        .set("may_relay_external", a.may_relay_external)
        .set("require_tls", a.require_tls)
        .set("auth_mode", a.auth_mode)
        .set("allow_null_sender", a.allow_null_sender)
        .set("max_recipients_per_message", a.max_recipients_per_message)
        .set("max_message_bytes", a.max_message_bytes)
        .set("valid_until", json_time(a.valid_until))
        .set("suspended_until", json_time(a.suspended_until))
        .set("suspend_reason", a.suspend_reason.empty() ? Json() : Json(a.suspend_reason))
        .set("last_used_at", json_time(a.last_used_at))
        .set("last_client_address", a.last_client_address.empty() ? Json() : Json(a.last_client_address))
        .set("note", a.note.empty() ? Json() : Json(a.note))
        .set("senders", a.sender_count)
        .set("networks", a.network_count);
}

std::string last_use(const AccountRow& a) {
    if (!a.last_used_at) return "never";
    return format_time(a.last_used_at) + (a.last_client_address.empty() ? "" : " from " + a.last_client_address);
}

// What a device is told: server, port, security, and whether it logs in. From [relayctl] submission_*
// and ip_port, whose defaults match contrib/postfix (STARTTLS required on 587; devices without a login on
// port 25, docs/postfix.md).
struct DeviceSettings {
    std::string server;
    unsigned port = 587;
    std::string security;  // STARTTLS, TLS, none
    bool login = true;
};

std::string this_host_name() {
    char name[256] = {0};
    if (gethostname(name, sizeof name - 1) != 0) return "this-server";
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo* res = nullptr;
    std::string fqdn = name;
    if (getaddrinfo(name, nullptr, &hints, &res) == 0 && res) {
        if (res->ai_canonname && std::strchr(res->ai_canonname, '.')) fqdn = res->ai_canonname;
        freeaddrinfo(res);
    }
    return fqdn;
}

DeviceSettings device_settings(Context& ctx, const po::variables_map& vm, const AccountRow& a) {
    const RelayctlConfig& rc = ctx.config().relayctl;
    DeviceSettings d;
    d.server = vm.count("server") ? vm["server"].as<std::string>()
                                  : !rc.submission_server.empty() ? rc.submission_server : this_host_name();
    d.login = a.auth_mode != "ip";
    if (d.login) {
        d.port = rc.submission_port;
        d.security = rc.submission_tls == "starttls" ? "STARTTLS" : rc.submission_tls == "tls" ? "TLS" : "none";
    } else {
        d.port = rc.ip_port;
        d.security = a.require_tls ? "STARTTLS" : "none";
    }
    return d;
}

std::string security_text(const DeviceSettings& d, const AccountRow& a) {
    if (d.security == "STARTTLS") return "STARTTLS (required" + std::string(a.require_tls ? " for this account" : "") + ")";
    if (d.security == "TLS") return "TLS from the first byte (SSL/TLS, 'SMTPS')";
    return d.login ? "none" : "none required (STARTTLS if the device offers it)";
}

void print_device_settings(const AccountRow& a, const std::vector<NetworkRow>& networks, const DeviceSettings& d) {
    std::cout << "\nDevice settings (what to type into the printer, scanner or application):\n";
    std::vector<std::pair<std::string, std::string>> f = {{"  SMTP server", d.server},
                                                          {"  port", std::to_string(d.port)},
                                                          {"  security", security_text(d, a)}};
    if (!d.login) {
        f.push_back({"  authentication", "none: the device must connect from one of the networks below"});
    } else {
        f.push_back({"  authentication", std::string("yes (PLAIN or LOGIN") +
                                             (d.security == "STARTTLS" ? ", after STARTTLS)" : ")")});
        f.push_back({"  username", a.login + " (the full address)"});
        f.push_back({"  password", a.has_password ? "the one set for it (relayctl cannot show it; reset with "
                                                    "relayctl account passwd)"
                                                  : "NONE SET: set one with relayctl account passwd"});
    }
    if (!networks.empty()) {
        std::string list;
        for (const auto& n : networks) list += (list.empty() ? "" : ", ") + n.cidr;
        f.push_back({"  from networks", list});
    }
    f.push_back({"  sender address", a.sender_policy == "own_address" ? a.login + " (its own address)"
                                                                       : "see sender policy above"});
    print_fields(std::cout, f);
}

Json show_json(const AccountRow& a, std::int64_t now, const std::string& scheme, const std::vector<SenderRow>& senders,
               const std::vector<NetworkRow>& networks, const LimitsView& limits, const UsageView& usage,
               const DeviceSettings& d) {
    Json j = account_json(a, now);
    j.set("password_scheme", scheme == "-" ? Json() : Json(scheme));
    Json s = Json::array(), n = Json::array();
    for (const auto& x : senders) s.push(x.pattern);
    for (const auto& x : networks) n.push(x.cidr);
    j.set("sender_patterns", s).set("client_networks", n);
    j.set("effective_limits", limits.json()).set("usage", usage.json());
    j.set("device_settings", Json::object().set("server", d.server).set("port", static_cast<std::int64_t>(d.port))
                                 .set("security", d.security).set("authentication", d.login)
                                 .set("username", d.login ? Json(a.login) : Json()));
    return j;
}

}  // namespace

int cmd_account_list(Context& ctx, const Args& args) {
    Command cmd("account list [--domain D] [--customer C] [--status S] [--password-older-than AGE]",
                "Lists accounts. FAC shows the facilities (as the v_accounts view does): R may relay to external "
                "domains, T TLS required, I IP-authorised (auth_mode ip or sasl_and_ip), N bound to client "
                "networks, Z may use the null sender <>. --password-older-than lists the accounts due for a new "
                "password, with the time each was set.");
    cmd.options.add_options()("domain", po::value<std::string>(), "only logins in this domain")(
        "customer", po::value<std::string>(), "only accounts sending for this customer")(
        "status", po::value<std::string>(),
        "only accounts in this state: active, disabled, domain-disabled, customer-disabled, suspended, expired, "
        "or inactive (anything but active)")(
        "password-older-than", po::value<std::string>(),
        "only accounts whose password was set longer ago than AGE (180d, 26w, 4320h); accounts without a "
        "password are left out");
    auto vm = cmd.parse(ctx, args);
    AccountFilter filter;
    if (vm.count("domain")) filter.domain = parse_domain_name(vm["domain"].as<std::string>());
    if (vm.count("customer")) filter.customer = ctx.store().find_customer(vm["customer"].as<std::string>()).name;
    std::string status = vm.count("status") ? vm["status"].as<std::string>() : "";
    if (!status.empty() && status != "inactive" &&
        std::none_of(std::begin(kStatuses), std::end(kStatuses), [&](const char* s) { return status == s; }))
        throw UsageError("--status: '" + printable(status, 40) +
                         "' is not one of active, disabled, domain-disabled, customer-disabled, suspended, expired, "
                         "inactive");
    const std::string password_age = vm.count("password-older-than") ? vm["password-older-than"].as<std::string>() : "";
    const std::uint64_t password_seconds = password_age.empty() ? 0 : parse_age_seconds(password_age);
    if (vm.count("password-older-than") && password_seconds == 0)
        throw UsageError("--password-older-than: '" + printable(password_age, 40) +
                         "' is not an age such as 180d, 26w or 4320h");
    const std::int64_t now = ctx.store().now();
    if (password_seconds) filter.password_changed_before = now - static_cast<std::int64_t>(password_seconds);
    std::vector<AccountRow> rows;
    for (auto& a : ctx.store().list_accounts(filter)) {
        const std::string st = account_status(a, now);
        if (status.empty() || st == status || (status == "inactive" && st != "active")) rows.push_back(std::move(a));
    }
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& a : rows) list.push(account_json(a, now));
        emit(list);
        return kExitOk;
    }
    Table t{{"LOGIN", "CUSTOMER", "STATUS", "FAC", "AUTH", "MAXRCPT", "MAXSIZE", "LAST USED"}, {}};
    for (const auto& a : rows)
        t.rows.push_back({a.login, a.customer, account_status(a, now), facility_letters(a), a.auth_mode,
                          a.max_recipients_per_message ? std::to_string(*a.max_recipients_per_message) : "-",
                          format_size(a.max_message_bytes), a.last_used_at ? format_time(a.last_used_at) : "never"});
    if (filter.password_changed_before) {
        t.headers.push_back("PASSWORD SET");
        for (std::size_t i = 0; i < rows.size(); ++i)
            t.rows[i].push_back(format_time(rows[i].password_changed_at, "unknown"));
    }
    t.print(std::cout);
    if (filter.password_changed_before)
        std::cout << rows.size() << " account(s) with a password set before " << format_time(filter.password_changed_before)
                  << " (" << password_age << ")\n";
    return kExitOk;
}

int cmd_account_show(Context& ctx, const Args& args) {
    Command cmd("account show LOGIN [--server HOST]",
                "Shows everything about one account: its state, facilities, senders, networks, effective limits, "
                "usage, last use, and the settings to type into a device.");
    cmd.positional = {"login"};
    cmd.options.add_options()("server", po::value<std::string>(),
                              "the server name devices use (default: [relayctl] submission_server, else this host's name)");
    auto vm = cmd.parse(ctx, args);
    Login login = parse_login(vm["login"].as<std::string>());
    AdminStore& store = ctx.store();
    AccountRow a = store.find_account(login.local_part, login.domain);
    const std::int64_t now = store.now();
    auto senders = store.list_senders(a.authority_id);
    auto networks = store.list_networks(a.authority_id);
    LimitsView limits = effective_limits(store, a);
    UsageView usage = rate_usage(store, a.login);
    std::string scheme = "-";
    if (auto hash = store.password_hash(a.user_id); hash && !hash->empty() && (*hash)[0] == '{')
        scheme = hash->substr(0, hash->find('}') + 1);

    if (ctx.json) {
        emit(show_json(a, now, scheme, senders, networks, limits, usage, device_settings(ctx, vm, a)));
        return kExitOk;
    }
    std::string status = account_status(a, now);
    if (status == "suspended")
        status += " until " + format_time(a.suspended_until) + (a.suspend_reason.empty() ? "" : " (" + a.suspend_reason + ")");
    print_fields(std::cout, {
        {"login", a.login},
        {"status", status},
        {"customer", a.customer + " (id " + std::to_string(a.customer_id) + ")"},
        {"authority id", std::to_string(a.authority_id) + " (user id " + std::to_string(a.user_id) + ")"},
        {"facilities", facility_letters(a)},
        {"password", a.has_password ? "set, " + scheme + ", changed " + format_time(a.password_changed_at, "at an unknown time")
                                    : "not set"},
        {"auth mode", a.auth_mode},
        {"sender policy", a.sender_policy},
        {"relay external", yes_no(a.may_relay_external)},
        {"require TLS", yes_no(a.require_tls)},
        {"null sender", a.allow_null_sender ? "allowed" : "not allowed"},
        {"max recipients", a.max_recipients_per_message ? std::to_string(*a.max_recipients_per_message) : "no cap"},
        {"max size", a.max_message_bytes ? format_size(a.max_message_bytes) + " (" + std::to_string(*a.max_message_bytes) + " bytes)" : "no cap"},
        {"valid until", format_time(a.valid_until, "no expiry")},
        {"last used", last_use(a)},
        {"note", a.note.empty() ? "-" : a.note},
    });
    std::cout << "\nSender patterns (besides the sender policy):" << (senders.empty() ? " none\n" : "\n");
    for (const auto& x : senders) std::cout << "  " << printable(x.pattern, 300) << "\n";
    std::cout << "\nClient networks:" << (networks.empty() ? " none (any client address)\n" : "\n");
    for (const auto& x : networks) std::cout << "  " << x.cidr << "\n";
    std::cout << "\n";
    limits.print(std::cout);
    std::cout << "\n";
    usage.print(std::cout);
    print_device_settings(a, networks, device_settings(ctx, vm, a));
    return kExitOk;
}

int cmd_unused(Context& ctx, const Args& args) {
    Command cmd("unused --since AGE | --days N",
                "Lists accounts that relayed nothing since AGE (90d, 12w, 2160h) or in the last N days, devices "
                "that never sent included, oldest first: candidates for clean-up.");
    cmd.options.add_options()("since", po::value<std::string>(), "age without use: 90d, 12w, 2160h")(
        "days", po::value<std::string>(), "days without use (the same as --since Nd)");
    auto vm = cmd.parse(ctx, args);
    if (vm.count("days") == vm.count("since")) throw UsageError("unused needs --since AGE (e.g. 90d) or --days N");
    std::uint64_t seconds = 0;
    std::string age;
    if (vm.count("since")) {
        age = vm["since"].as<std::string>();
        seconds = parse_age_seconds(age);
        if (seconds == 0) throw UsageError("--since: '" + printable(age, 40) + "' is not an age such as 90d, 12w or 2160h");
    } else {
        const std::uint32_t days = *parse_count(vm["days"].as<std::string>(), "--days", false);
        seconds = static_cast<std::uint64_t>(days) * 86400;
        age = std::to_string(days) + " day(s)";
    }
    const std::int64_t now = ctx.store().now();
    auto rows = ctx.store().unused_accounts(now - static_cast<std::int64_t>(seconds));
    if (ctx.json) {
        Json list = Json::array();
        for (const auto& a : rows) list.push(account_json(a, now));
        emit(list);
        return kExitOk;
    }
    Table t{{"LOGIN", "CUSTOMER", "STATUS", "LAST USED"}, {}};
    for (const auto& a : rows) t.rows.push_back({a.login, a.customer, account_status(a, now), last_use(a)});
    t.print(std::cout);
    std::cout << rows.size() << " account(s) unused since " << format_time(now - static_cast<std::int64_t>(seconds))
              << " (" << age << ")\n";
    return kExitOk;
}

}  // namespace relay::ctl
