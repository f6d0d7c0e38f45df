// relayctl: the admin CLI. relayctl [global options] GROUP [ACTION] [arguments]; every command has --help.
// This file: global options, the command table, and the one place where errors become exit codes.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/admin/admin_store.hpp"
#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

struct Entry {
    const char* group;
    const char* action;  // nullptr: the group is the whole command
    Handler handler;
    const char* summary;
};

const Entry kCommands[] = {
    {"db", "init", cmd_db_init, "create the schema in an empty database (all migrations)"},
    {"db", "migrate", cmd_db_migrate, "apply the migrations newer than the schema version"},
    {"db", "status", cmd_db_status, "show the schema version and pending migrations"},
    {"db", "grants", cmd_db_grants, "print the GRANT statements for the daemons, relayctl or Dovecot"},
    {"customer", "add", cmd_customer_add, "add a customer"},
    {"customer", "list", cmd_customer_list, "list customers"},
    {"customer", "enable", cmd_customer_enable, "enable a customer (its accounts work again)"},
    {"customer", "disable", cmd_customer_disable, "disable a customer (all its accounts stop relaying)"},
    {"domain", "add", cmd_domain_add, "add a domain for a customer (--local/--no-local)"},
    {"domain", "list", cmd_domain_list, "list domains"},
    {"domain", "enable", cmd_domain_enable, "enable a domain"},
    {"domain", "disable", cmd_domain_disable, "disable a domain (its logins stop relaying)"},
    {"domain", "set", cmd_domain_set, "mark a domain as hosted here (--local) or not (--no-local)"},
    {"account", "add", cmd_account_add, "create a relay account (user + SMTP authority)"},
    {"account", "set", cmd_account_set, "change fields of an account's SMTP authority"},
    {"account", "passwd", cmd_account_passwd, "set a new password"},
    {"account", "enable", cmd_account_enable, "enable an account"},
    {"account", "disable", cmd_account_disable, "disable an account (SMTP access stops at once)"},
    {"account", "suspend", cmd_account_suspend, "suspend an account until a time (--until)"},
    {"account", "unsuspend", cmd_account_unsuspend, "lift a suspension"},
    {"account", "delete", cmd_account_delete, "delete an account (SMTP access stops at once)"},
    {"account", "list", cmd_account_list, "list accounts with status and facility letters"},
    {"account", "show", cmd_account_show, "everything about one account, and its device settings"},
    {"sender", "add", cmd_sender_add, "allow an account an extra sender address or @domain"},
    {"sender", "remove", cmd_sender_remove, "remove a sender pattern"},
    {"sender", "list", cmd_sender_list, "list sender patterns"},
    {"network", "add", cmd_network_add, "bind an account to a client network (CIDR)"},
    {"network", "remove", cmd_network_remove, "remove a client network"},
    {"network", "list", cmd_network_list, "list client networks"},
    {"limit", "set", cmd_limit_set, "add or change a rate limit"},
    {"limit", "remove", cmd_limit_remove, "remove a rate limit"},
    {"limit", "list", cmd_limit_list, "list rate limits"},
    {"usage", nullptr, cmd_usage, "current rate usage per account and pool"},
    {"unused", nullptr, cmd_unused, "accounts not used for relaying since an age (--since 90d), never-used included"},
    {"explain", nullptr, cmd_explain, "why would this mail be accepted or refused? (no side effects)"},
    {"test-send", nullptr, cmd_test_send, "submit a test message like a device would, step by step"},
    {"export", "sendmail-access", cmd_export, "Sendmail access-db lines for IP-authorised accounts"},
    {"export", "csv", cmd_export_csv, "every account as CSV (with password hashes), as import csv reads it"},
    {"import", "csv", cmd_import_csv, "accounts from a CSV file (all or nothing, --dry-run)"},
    {"import", "postfix-sender-map", cmd_import_postfix, "sender patterns from a smtpd_sender_login_maps file"},
    {"import", "dovecot-passwd", cmd_import_dovecot, "accounts from a Dovecot passwd-file"},
    {"prune", nullptr, cmd_prune, "delete old audit events and rate-limit bookkeeping (--older-than 90d)"},
    {"status", nullptr, cmd_status, "every daemon of every host from its heartbeat; flags the stale ones"},
};

const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  bad usage or bad input (malformed login, CIDR, pattern, date; config file problem)\n"
    "  2  not found (unknown login, domain, customer, pattern, limit; data not available)\n"
    "  3  conflict (already exists, a second authority for one user, constraint refused)\n"
    "  4  database unavailable (cannot connect, timeout): try again\n"
    "  5  permanent database error (credentials, privileges, schema too old)\n"
    "  6  test-send: the server refused the test message or the session failed\n";

void print_help() {
    std::cout << "Usage: relayctl [--config FILE] [--json] [--yes] COMMAND [ARGS]\n\n"
                 "Administers relay-authority: SMTP relay accounts, their senders, networks and limits.\n\n"
                 "Global options:\n"
                 "  -c, --config FILE  configuration file (default " RELAY_DEFAULT_CONFIG ")\n"
                 "  --json             JSON output for scripts (also accepted after the command)\n"
                 "  -y, --yes          do not ask for confirmation on a terminal\n"
                 "  --sql-dir DIR      migrations directory for db init/migrate\n"
                 "  --verbose          log database reconnects and other details to stderr\n"
                 "  --check-config     read the configuration, print it (passwords masked), exit\n"
                 "  --version, --help\n\nCommands:\n";
    for (const Entry& e : kCommands) {
        std::string name = std::string(e.group) + (e.action ? std::string(" ") + e.action : "");
        std::cout << "  " << name << std::string(name.size() < 26 ? 26 - name.size() : 1, ' ') << e.summary << "\n";
    }
    std::cout << "\nEvery command has --help. Passwords are read from stdin or the terminal, never from the\n"
                 "command line. See relayctl(8) and docs/relayctl.md.\n\n"
              << kExitCodes;
}

void print_group_help(const std::string& group) {
    std::cout << "Usage: relayctl " << group << " ACTION [ARGS] (each action has --help)\n\nActions:\n";
    for (const Entry& e : kCommands)
        if (group == e.group && e.action)
            std::cout << "  " << e.action << std::string(18 - std::min<std::size_t>(17, std::strlen(e.action)), ' ')
                      << e.summary << "\n";
}

bool group_known(const std::string& group) {
    for (const Entry& e : kCommands)
        if (group == e.group) return true;
    return false;
}

int fail(Context& ctx, int code, const std::string& message) {
    std::cerr << "relayctl: " << message << "\n";
    if (ctx.json) emit(Json::object().set("error", message).set("exit_code", code));
    return code;
}

// Global options before the command; returns the index of the command word, or -1 after handling
// --help/--version/--check-config itself (exit code in *done).
int parse_globals(Context& ctx, int argc, char** argv, int* done) {
    int i = 1;
    auto value = [&](const char* name) -> std::string {
        std::string arg = argv[i];
        auto eq = arg.find('=');
        if (eq != std::string::npos) return arg.substr(eq + 1);
        if (i + 1 >= argc) throw UsageError(std::string(name) + " needs a value");
        return argv[++i];
    };
    bool check_config = false;
    for (; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.empty() || arg[0] != '-') return i;
        std::string name = arg.substr(0, arg.find('='));
        if (name == "--config" || name == "-c") ctx.config_path = value("--config");
        else if (name == "--sql-dir") ctx.sql_dir = value("--sql-dir");
        else if (arg == "--json") ctx.json = true;
        else if (arg == "--yes" || arg == "-y") ctx.yes = true;
        else if (arg == "--verbose" || arg == "-v") ctx.verbose = true;
        else if (arg == "--check-config") check_config = true;
        else if (arg == "--help" || arg == "-h") { print_help(); *done = kExitOk; return -1; }
        else if (arg == "--version") { std::cout << "relayctl " RELAY_VERSION "\n"; *done = kExitOk; return -1; }
        else throw UsageError("unknown option " + arg + " (see relayctl --help)");
    }
    if (check_config) {
        std::cout << dump_config(ctx.config());
        *done = kExitOk;
        return -1;
    }
    print_help();
    *done = kExitUsage;
    return -1;
}

int dispatch(Context& ctx, int argc, char** argv) {
    int done = 0;
    int at = parse_globals(ctx, argc, argv, &done);
    if (at < 0) return done;
    const std::string group = argv[at];
    if (!group_known(group)) throw UsageError("unknown command '" + group + "' (see relayctl --help)");
    std::string action = at + 1 < argc ? argv[at + 1] : "";
    for (const Entry& e : kCommands) {
        if (group != e.group) continue;
        if (!e.action) return e.handler(ctx, Args(argv + at + 1, argv + argc));
        if (action == e.action) return e.handler(ctx, Args(argv + at + 2, argv + argc));
    }
    if (action.empty() || action == "--help" || action == "-h" || action == "help") {
        print_group_help(group);
        return action.empty() ? kExitUsage : kExitOk;
    }
    throw UsageError("unknown action '" + action + "' for " + group + " (see relayctl " + group + " --help)");
}

}  // namespace
}  // namespace relay::ctl

int main(int argc, char** argv) {
    using namespace relay;
    using namespace relay::ctl;
    Context ctx;
    ctx.config_path = RELAY_DEFAULT_CONFIG;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--verbose") == 0 || std::strcmp(argv[i], "-v") == 0) ctx.verbose = true;
    LogOptions log_options;
    log_options.ident = "relayctl";
    log_options.to_stderr = true;
    log_options.min_level = ctx.verbose ? LogLevel::debug : LogLevel::warning;
    log_init(log_options);
    try {
        return dispatch(ctx, argc, argv);
    } catch (const HelpShown&) {
        return kExitOk;
    } catch (const ExitWith& e) {
        return e.code;
    } catch (const UsageError& e) {
        return fail(ctx, kExitUsage, e.what());
    } catch (const ConfigError& e) {
        return fail(ctx, kExitUsage, e.what());
    } catch (const NotFoundError& e) {
        return fail(ctx, kExitNotFound, e.what());
    } catch (const StoreConflictError& e) {
        return fail(ctx, kExitConflict, e.what());
    } catch (const StoreTransientError& e) {
        return fail(ctx, kExitUnavailable, std::string(e.what()) + " (database unavailable: try again)");
    } catch (const StorePermanentError& e) {
        return fail(ctx, kExitDbError, e.what());
    } catch (const std::exception& e) {
        return fail(ctx, kExitUsage, e.what());
    }
}
