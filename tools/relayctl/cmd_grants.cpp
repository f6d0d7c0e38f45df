// relayctl db grants: the GRANT statements for the three database accounts relay-authority knows.
//
// The privileges are derived from the statements the code really runs, and kept as narrow as they go:
//   daemon  (relay-policyd, relay-milter): core/store/mysql_store.cpp reads the rule tables and writes
//           relay_events and the last-use stamp; core/store/mysql_rate_gate.cpp keeps rate_counters and the
//           abuse_* tables and writes the automatic suspension. It never reads users.password_hash and
//           cannot change a rule: its only UPDATE on smtp_authorities is on the four columns it stamps.
//   admin   (relayctl): reads and edits every table, and runs the migrations (db init, db migrate).
//   dovecot (contrib/dovecot/dovecot-sql.conf.ext): the columns of users and domains its password_query
//           reads, nothing else.
// The triggers on the rule tables run as their DEFINER (the account that applied the migrations), so the
// daemon account needs nothing on change_generation beyond reading it. docs/sql.md lists the output.
#include <iostream>

#include "core/config/config_checks.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

struct Grant {
    const char* privileges;  // e.g. "SELECT" or "UPDATE (last_used_at, ...)"
    const char* table;       // nullptr: the whole database
};

// What core/store/mysql_store.cpp, core/store/mysql_rate_gate.cpp and core/store/heartbeat.cpp run, table by table.
const Grant kDaemonGrants[] = {
    {"SELECT", "schema_version"},
    {"SELECT", "change_generation"},
    {"SELECT", "customers"},
    {"SELECT", "domains"},
    {"SELECT (id, domain_id, local_part, active)", "users"},
    {"SELECT, UPDATE (last_used_at, last_client_address, suspended_until, suspend_reason)", "smtp_authorities"},
    {"SELECT", "authority_senders"},
    {"SELECT", "authority_networks"},
    {"SELECT", "rate_limits"},
    {"INSERT", "relay_events"},
    {"SELECT, INSERT, UPDATE", "rate_counters"},
    {"SELECT, INSERT, DELETE", "rate_charge_keys"},  // idempotent charges; the abuse thread purges old keys
    {"SELECT, INSERT, UPDATE, DELETE", "abuse_client_networks"},
    {"SELECT, INSERT, UPDATE, DELETE", "abuse_rate_refusals"},
    {"SELECT, INSERT, UPDATE", "nodes"},  // core/store/heartbeat.cpp: INSERT ... ON DUPLICATE KEY UPDATE reads the row
};

// relayctl edits the rule tables, resets counters, lifts suspensions, prunes events, reads the views;
// db init / db migrate create tables, indexes, views and triggers.
const Grant kAdminGrants[] = {
    {"SELECT, INSERT, UPDATE, DELETE", nullptr},
    {"CREATE, ALTER, DROP, INDEX, REFERENCES, TRIGGER, CREATE VIEW, SHOW VIEW", nullptr},
};

// contrib/dovecot/dovecot-sql.conf.ext password_query: users u JOIN domains d.
const Grant kDovecotGrants[] = {
    {"SELECT (id, domain_id, local_part, password_hash, active)", "users"},
    {"SELECT (id, name, active)", "domains"},
};

// A SQL string literal: quotes and backslashes escaped (NO_BACKSLASH_ESCAPES off, the default).
std::string literal(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

// `name`; in a database-level grant (db.*) '_' and '%' are wildcards and are escaped, so the grant names
// exactly this database.
std::string identifier(const std::string& name, bool database_level) {
    std::string out = "`";
    for (char c : name) {
        if (c == '`') out += '`';
        if (database_level && (c == '_' || c == '%')) out += '\\';
        out += c;
    }
    return out + "`";
}

void check_account_part(const std::string& value, const char* option, std::size_t max) {
    if (value.empty()) throw UsageError(std::string("--") + option + " must not be empty");
    if (value.size() > max)
        throw UsageError(std::string("--") + option + " is longer than " + std::to_string(max) + " characters");
    for (unsigned char c : value)
        if (c < 0x20 || c == 0x7f) throw UsageError(std::string("--") + option + " contains a control character");
}

}  // namespace

int cmd_db_grants(Context& ctx, const Args& args) {
    Command cmd("db grants --user NAME [--host PATTERN] [--role daemon|admin|dovecot] [--database NAME]",
                "Prints the GRANT statements for a database account: daemon (relay-policyd and relay-milter: "
                "read the rules, write events, counters and last-use stamps, never edit a rule), admin "
                "(relayctl, including db init and db migrate) or dovecot (the password lookup). Create the "
                "account first (CREATE USER ... IDENTIFIED BY ...), then run the output as a MariaDB "
                "administrator: relayctl db grants --user relay --host 10.0.0.% | mariadb. Connects to "
                "nothing.");
    cmd.options.add_options()("user", po::value<std::string>(), "the account's user name")(
        "host", po::value<std::string>()->default_value("localhost"),
        "the account's host pattern: localhost, an address, or a pattern such as 10.0.0.%")(
        "role", po::value<std::string>()->default_value("daemon"), "daemon, admin or dovecot")(
        "database", po::value<std::string>(), "the database (default: [database] name of the configuration)");
    auto vm = cmd.parse(ctx, args);
    if (!vm.count("user")) throw UsageError("db grants: --user NAME is required");
    const std::string user = vm["user"].as<std::string>();
    const std::string host = vm["host"].as<std::string>();
    check_account_part(user, "user", 80);   // MariaDB user names: at most 80 characters
    check_account_part(host, "host", 255);  // host names: at most 255
    const std::string database = vm.count("database") ? vm["database"].as<std::string>() : ctx.config().database.name;
    if (std::string problem = check_db_name(database); !problem.empty())
        throw UsageError("--database " + database + ": " + problem);

    const std::string role = vm["role"].as<std::string>();
    const Grant* begin = nullptr;
    const Grant* end = nullptr;
    const char* who = nullptr;
    if (role == "daemon") {
        begin = std::begin(kDaemonGrants), end = std::end(kDaemonGrants), who = "relay-policyd and relay-milter";
    } else if (role == "admin") {
        begin = std::begin(kAdminGrants), end = std::end(kAdminGrants), who = "relayctl";
    } else if (role == "dovecot") {
        begin = std::begin(kDovecotGrants), end = std::end(kDovecotGrants), who = "Dovecot's password lookup";
    } else {
        throw UsageError("--role " + role + ": want daemon, admin or dovecot");
    }
    const std::string account = literal(user) + "@" + literal(host);
    std::cout << "-- relay-authority " << role << " account (" << who << "), database " << database << "\n"
              << "-- Create it first: CREATE USER " << account << " IDENTIFIED BY '...';\n";
    for (const Grant* g = begin; g != end; ++g) {
        const std::string on = g->table ? identifier(database, false) + "." + identifier(g->table, false)
                                         : identifier(database, true) + ".*";
        std::cout << "GRANT " << g->privileges << " ON " << on << " TO " << account << ";\n";
    }
    return kExitOk;
}

}  // namespace relay::ctl
