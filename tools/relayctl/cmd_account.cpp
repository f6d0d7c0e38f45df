// relayctl account add|set|passwd|enable|disable|suspend|unsuspend|delete: the commands that change an
// account. Reading (list, show, unused) is in cmd_account_view.cpp.
#include <ctime>
#include <iostream>

#include "core/base/errors.hpp"
#include "core/admin/password.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

std::int64_t local_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void add_authority_options(po::options_description& o) {
    o.add_options()
        ("customer", po::value<std::string>(), "customer it sends for (name or id; default: the login domain's)")
        ("sender-policy", po::value<std::string>(),
         "which envelope senders it may use: own_address (default), own_domain, customer_domains, listed_only "
         "(plus the sender patterns in every case)")
        ("relay-external", "may send to domains not hosted here (the default)")
        ("no-relay-external", "may only send to local domains")
        ("require-tls", "refuse mail unless the session uses TLS")
        ("no-require-tls", "do not require TLS")
        ("auth-mode", po::value<std::string>(),
         "sasl (login with password, default), ip (no login: the client network authorises), sasl_and_ip "
         "(both)")
        ("allow-null-sender", "may send with the null sender <> (bounces)")
        ("no-allow-null-sender", "may not use the null sender")
        ("max-recipients", po::value<std::string>(), "recipients per message, or none")
        ("max-size", po::value<std::string>(), "message size cap (10M, 512k, bytes), or none")
        ("valid-until", po::value<std::string>(), "expiry: YYYY-MM-DD [HH:MM], +30d, or never")
        ("note", po::value<std::string>(), "free text for admins");
}

std::optional<bool> flag_pair(const po::variables_map& vm, const char* yes, const char* no) {
    if (vm.count(yes) && vm.count(no))
        throw UsageError(std::string("--") + yes + " and --" + no + " contradict each other");
    if (vm.count(yes)) return true;
    if (vm.count(no)) return false;
    return std::nullopt;
}

AuthorityChanges read_changes(const po::variables_map& vm) {
    AuthorityChanges ch;
    if (vm.count("sender-policy")) {
        ch.sender_policy = sender_policy_from_string(vm["sender-policy"].as<std::string>());
        if (!ch.sender_policy)
            throw UsageError("--sender-policy: '" + printable(vm["sender-policy"].as<std::string>(), 40) +
                             "' is not one of own_address, own_domain, customer_domains, listed_only");
    }
    if (vm.count("auth-mode")) {
        ch.auth_mode = auth_mode_from_string(vm["auth-mode"].as<std::string>());
        if (!ch.auth_mode)
            throw UsageError("--auth-mode: '" + printable(vm["auth-mode"].as<std::string>(), 40) +
                             "' is not one of sasl, ip, sasl_and_ip");
    }
    ch.may_relay_external = flag_pair(vm, "relay-external", "no-relay-external");
    ch.require_tls = flag_pair(vm, "require-tls", "no-require-tls");
    ch.allow_null_sender = flag_pair(vm, "allow-null-sender", "no-allow-null-sender");
    if (vm.count("max-recipients"))
        ch.max_recipients_per_message = parse_count(vm["max-recipients"].as<std::string>(), "--max-recipients", true);
    if (vm.count("max-size")) ch.max_message_bytes = parse_size(vm["max-size"].as<std::string>(), "--max-size");
    if (vm.count("valid-until"))
        ch.valid_until = parse_time(vm["valid-until"].as<std::string>(), local_now(), "--valid-until");
    if (vm.count("note")) ch.note = vm["note"].as<std::string>();
    return ch;
}

void add_password_options(po::options_description& o) {
    o.add_options()
        ("password-stdin", "read the password from stdin (on a terminal: asked twice, not echoed); at least "
                           "[relayctl] min_password_length (12) characters, not the login, not a common password")
        ("generate-password", "generate a strong random password and print it once")
        ("scheme", po::value<std::string>()->default_value("SHA512-CRYPT"), "hash scheme: SHA512-CRYPT or BLF-CRYPT");
}

struct NewPassword {
    std::string hash;
    std::string generated;  // empty unless --generate-password
};

// The password the options ask for; nullopt when none was asked for and none is needed.
std::optional<NewPassword> obtain_password(Context& ctx, const po::variables_map& vm, const std::string& login,
                                           bool required) {
    const bool from_stdin = vm.count("password-stdin") > 0, generate = vm.count("generate-password") > 0;
    if (from_stdin && generate) throw UsageError("--password-stdin and --generate-password contradict each other");
    auto scheme = password_scheme_from_string(vm["scheme"].as<std::string>());
    if (!scheme) throw UsageError("--scheme: use SHA512-CRYPT or BLF-CRYPT");
    std::string plain;
    NewPassword out;
    if (generate) {
        plain = out.generated = generate_password();
    } else if (from_stdin || (required && ctx.stdin_is_terminal())) {
        plain = read_password(ctx, "New password for " + login, true);
        const std::string weak = password_weakness(plain, login, ctx.config().relayctl.min_password_length);
        if (!weak.empty()) {
            std::fill(plain.begin(), plain.end(), '\0');
            throw UsageError(weak + "; nothing changed (--generate-password makes a strong one)");
        }
    } else if (required) {
        throw UsageError("no password given: use --password-stdin or --generate-password (passwords are never "
                         "taken from the command line)");
    } else {
        return std::nullopt;
    }
    out.hash = hash_password(plain, HashOptions{*scheme, 0});
    std::fill(plain.begin(), plain.end(), '\0');
    return out;
}

// An auth_mode ip account is authorised by its client address and has no login: relayctl gives it no
// password (one would let the device log in by SASL too, which is what sasl_and_ip says).
void refuse_password_for_ip(const po::variables_map& vm, const std::string& login) {
    if (vm.count("password-stdin") || vm.count("generate-password"))
        throw UsageError("--auth-mode ip: " + login + " is authorised by its client address and has no login, so no "
                         "password; for a device that also logs in use --auth-mode sasl_and_ip; nothing changed");
}

void warn(Context& ctx, const std::string& message) {
    (void)ctx;
    std::cerr << "warning: " << message << "\n";
}

// A user that already had a password (a mailbox login, say) keeps it; say what it means for SMTP.
void warn_kept_password(Context& ctx, const std::string& login) {
    warn(ctx, login + " keeps the password its user already has (e.g. a mailbox login); an SMTP login with it is "
                      "held to the account's networks like sasl_and_ip");
}

// The generated password goes to stdout in text mode, to stderr with --json (never into JSON output).
void show_generated(Context& ctx, const std::optional<NewPassword>& pw) {
    if (!pw || pw->generated.empty()) return;
    if (ctx.json) std::cerr << "generated password (shown once): " << pw->generated << "\n";
    else std::cout << "generated password (shown once, store it now): " << pw->generated << "\n";
}

AccountRow lookup(Context& ctx, const po::variables_map& vm) {
    Login login = parse_login(vm["login"].as<std::string>());
    return ctx.store().find_account(login.local_part, login.domain);
}

Command login_command(const std::string& usage, const std::string& about) {
    Command cmd(usage, about);
    cmd.positional = {"login"};
    return cmd;
}


// A shared relay domain (accounts in it send for other customers than the domain's owner, like the
// provider's relay.example.net): the customer is not implied by the domain, so it must be named.
void require_customer_if_shared(AdminStore& store, const DomainRow& domain) {
    AccountFilter filter;
    filter.domain = domain.name;
    std::string others;
    for (const auto& a : store.list_accounts(filter))
        if (a.customer_id != domain.customer_id && others.find("'" + a.customer + "'") == std::string::npos)
            others += (others.empty() ? "'" : ", '") + a.customer + "'";
    if (!others.empty())
        throw UsageError("domain " + domain.name + " is shared: its accounts send for " + others + " besides its owner '" +
                         domain.customer + "'; say which customer this one sends for with --customer");
}

}  // namespace

int cmd_account_add(Context& ctx, const Args& args) {
    Command cmd = login_command(
        "account add LOGIN [options]",
        "Creates a relay account: the user LOGIN (local part @ a known domain) if it does not exist yet, and its "
        "SMTP authority. A user has at most one authority: adding a second one is refused (exit 3). Devices log "
        "in with the full LOGIN as user name.");
    add_authority_options(cmd.options);
    add_password_options(cmd.options);
    cmd.options.add_options()
        ("no-password", "set no password (keep an existing user's password); auth_mode ip never gets one")
        ("sender", po::value<std::vector<std::string>>(), "extra sender pattern (user@domain or @domain), repeatable")
        ("network", po::value<std::vector<std::string>>(), "client network (CIDR), repeatable")
        ("disabled", "create it disabled");
    auto vm = cmd.parse(ctx, args);
    const Login login = parse_login(vm["login"].as<std::string>());
    NewAccount na;
    na.local_part = login.local_part;
    na.domain = login.domain;
    na.fields = read_changes(vm);
    if (vm.count("disabled")) na.fields.active = false;
    if (vm.count("customer")) na.customer = vm["customer"].as<std::string>();
    if (vm.count("sender"))
        for (const auto& s : vm["sender"].as<std::vector<std::string>>()) na.senders.push_back(parse_pattern(s));
    if (vm.count("network"))
        for (const auto& n : vm["network"].as<std::vector<std::string>>()) na.networks.push_back(parse_cidr(n));
    if (vm.count("no-password") && (vm.count("password-stdin") || vm.count("generate-password")))
        throw UsageError("--no-password contradicts --password-stdin/--generate-password");

    // Refuse before asking for a password: unknown domain, existing authority.
    AdminStore& store = ctx.store();
    const DomainRow domain = store.find_domain(na.domain);
    if (!na.customer) require_customer_if_shared(store, domain);
    try {
        AccountRow existing = store.find_account(na.local_part, na.domain);
        throw StoreConflictError(login.str() + " already has an SMTP authority (id " +
                                 std::to_string(existing.authority_id) +
                                 "); a user has at most one: change it with relayctl account set, or delete it first");
    } catch (const NotFoundError&) {
    }
    const bool ip_only = na.fields.auth_mode == AuthMode::ip;
    if (ip_only) refuse_password_for_ip(vm, login.str());
    auto pw = obtain_password(ctx, vm, login.str(), !ip_only && !vm.count("no-password"));
    if (pw) na.password_hash = pw->hash;

    AddAccountResult r = store.add_account(na);
    if (ctx.json) {
        emit(Json::object().set("login", login.str()).set("authority_id", r.authority_id).set("user_id", r.user_id)
                 .set("user_created", r.user_created).set("password_set", pw.has_value())
                 .set("password_generated", pw && !pw->generated.empty()));
    } else {
        say(ctx, "account " + login.str() + " added (authority " + std::to_string(r.authority_id) +
                     (r.user_created ? ", new user " : ", existing user ") + std::to_string(r.user_id) +
                     (r.password_replaced ? ", password replaced" : "") + ")");
    }
    show_generated(ctx, pw);
    if (na.fields.auth_mode && *na.fields.auth_mode != AuthMode::sasl && na.networks.empty())
        warn(ctx, "auth_mode " + std::string(to_string(*na.fields.auth_mode)) +
                      " without a network matches no client: add one with relayctl network add");
    if (!pw && !ip_only && r.user_created)
        warn(ctx, "no password set: the account cannot log in until relayctl account passwd");
    if (ip_only && !r.user_created) {
        const AccountRow added = store.find_account(na.local_part, na.domain);
        if (added.has_password) warn_kept_password(ctx, added.login);
    }
    return kExitOk;
}

int cmd_account_set(Context& ctx, const Args& args) {
    Command cmd = login_command("account set LOGIN [options]",
                                "Changes fields of the account's SMTP authority; fields not given stay as they are.");
    add_authority_options(cmd.options);
    auto vm = cmd.parse(ctx, args);
    AccountRow a = lookup(ctx, vm);
    AuthorityChanges ch = read_changes(vm);
    if (vm.count("customer")) ch.customer_id = ctx.store().find_customer(vm["customer"].as<std::string>()).id;
    if (ch.empty()) throw UsageError("nothing to change (see relayctl account set --help)");
    ctx.store().update_authority(a.authority_id, ch);
    if (ctx.json) emit(Json::object().set("login", a.login).set("authority_id", a.authority_id).set("changed", true));
    else say(ctx, "account " + a.login + " changed");
    if (ch.auth_mode == AuthMode::ip && a.has_password) warn_kept_password(ctx, a.login);
    return kExitOk;
}

int cmd_account_passwd(Context& ctx, const Args& args) {
    Command cmd = login_command("account passwd LOGIN [--password-stdin | --generate-password] [--scheme S]",
                                "Sets a new password for the login (on a terminal it is asked twice).");
    add_password_options(cmd.options);
    auto vm = cmd.parse(ctx, args);
    AccountRow a = lookup(ctx, vm);
    if (a.auth_mode == to_string(AuthMode::ip))
        throw UsageError(a.login + " is an auth_mode ip account: its client address authorises it, it has no login "
                         "and so no password (docs/relayctl.md); for a device that logs in too, first relayctl "
                         "account set " + a.login + " --auth-mode sasl_and_ip");
    auto pw = obtain_password(ctx, vm, a.login, true);
    ctx.store().set_password(a.user_id, pw->hash);
    if (ctx.json)
        emit(Json::object().set("login", a.login).set("password_set", true)
                 .set("password_generated", !pw->generated.empty()));
    else
        say(ctx, "password of " + a.login + " changed");
    show_generated(ctx, pw);
    run_after_change(ctx, a.login, "the password change of " + a.login);
    return kExitOk;
}

namespace {
int set_active(Context& ctx, const Args& args, bool active) {
    Command cmd = login_command(std::string("account ") + (active ? "enable" : "disable") + " LOGIN",
                                active ? "Enables the account's SMTP authority."
                                       : "Disables the account's SMTP authority: relaying stops at once (within "
                                         "about 2 seconds on every running daemon); the rows stay.");
    auto vm = cmd.parse(ctx, args);
    AccountRow a = lookup(ctx, vm);
    AuthorityChanges ch;
    ch.active = active;
    ctx.store().update_authority(a.authority_id, ch);
    if (ctx.json) emit(Json::object().set("login", a.login).set("active", active));
    else say(ctx, "account " + a.login + (active ? " enabled" : " disabled"));
    if (active && !a.user_active) warn(ctx, "the user row is inactive (users.active = 0): its login is still refused");
    if (!active) run_after_change(ctx, a.login, "disabling " + a.login);
    return kExitOk;
}
}  // namespace

int cmd_account_enable(Context& ctx, const Args& args) { return set_active(ctx, args, true); }
int cmd_account_disable(Context& ctx, const Args& args) { return set_active(ctx, args, false); }

int cmd_account_suspend(Context& ctx, const Args& args) {
    Command cmd = login_command("account suspend LOGIN --until TIME [--reason TEXT]",
                                "Suspends the account until TIME (YYYY-MM-DD [HH:MM], +2h, +7d): mail is refused "
                                "until then, after which it works again by itself.");
    cmd.options.add_options()("until", po::value<std::string>(), "end of the suspension, required")(
        "reason", po::value<std::string>(), "why (shown by account show and in the logs)");
    auto vm = cmd.parse(ctx, args);
    if (!vm.count("until")) throw UsageError("account suspend needs --until TIME (e.g. +1d or 2026-03-01)");
    AccountRow a = lookup(ctx, vm);
    const std::int64_t now = ctx.store().now();
    auto until = parse_time(vm["until"].as<std::string>(), now, "--until");
    if (!until) throw UsageError("--until never: use relayctl account disable for an open-ended stop");
    if (*until <= now) throw UsageError("--until " + format_time(until) + " is not in the future");
    const std::string reason = vm.count("reason") ? vm["reason"].as<std::string>() : "";
    ctx.store().suspend(a.authority_id, *until, reason);
    if (ctx.json)
        emit(Json::object().set("login", a.login).set("suspended_until", json_time(until)).set("reason", reason));
    else
        say(ctx, "account " + a.login + " suspended until " + format_time(until));
    return kExitOk;
}

int cmd_account_unsuspend(Context& ctx, const Args& args) {
    Command cmd = login_command("account unsuspend LOGIN", "Lifts a suspension (manual or automatic) at once.");
    auto vm = cmd.parse(ctx, args);
    AccountRow a = lookup(ctx, vm);
    ctx.store().unsuspend(a.authority_id);
    if (ctx.json) emit(Json::object().set("login", a.login).set("suspended", false));
    else say(ctx, "account " + a.login + (a.suspended_until ? " unsuspended" : " was not suspended"));
    return kExitOk;
}

int cmd_account_delete(Context& ctx, const Args& args) {
    Command cmd = login_command("account delete LOGIN [--keep-user] [--yes]",
                                "Deletes the account: its SMTP authority, sender patterns, networks and "
                                "account limits, and the user (so the password stops working) unless "
                                "--keep-user. SMTP access stops at once.");
    cmd.destructive = true;
    cmd.options.add_options()("keep-user", "keep the users row (e.g. it is also a mailbox login)");
    auto vm = cmd.parse(ctx, args);
    AccountRow a = lookup(ctx, vm);
    const bool keep_user = vm.count("keep-user") > 0;
    confirm(ctx, "Delete account " + a.login + " (" + std::to_string(a.sender_count) + " sender pattern(s), " +
                     std::to_string(a.network_count) + " network(s))" + (keep_user ? ", keeping the user" : "") + "?");
    std::int64_t removed = ctx.store().delete_account(a, keep_user);
    if (ctx.json)
        emit(Json::object().set("login", a.login).set("deleted", true).set("user_deleted", !keep_user)
                 .set("rules_removed", removed));
    else
        say(ctx, "account " + a.login + " deleted" + (keep_user ? " (user kept)" : ""));
    run_after_change(ctx, a.login, "deleting " + a.login);
    return kExitOk;
}

}  // namespace relay::ctl
