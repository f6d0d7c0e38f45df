// relayctl's shared plumbing: the context every subcommand gets (config, database, output mode), exit
// codes, option parsing with --help, prompts, and the small parsers for what admins type (logins, times,
// sizes). No SQL here or anywhere in relayctl: that lives in core/admin_store.
#pragma once

#include <boost/program_options.hpp>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/admin/admin_store.hpp"
#include "core/config/config.hpp"
#include "tools/relayctl/json.hpp"

namespace relay::ctl {

namespace po = boost::program_options;

// The documented exit codes (docs/relayctl.8, relayctl --help).
enum ExitCode : int {
    kExitOk = 0,
    kExitUsage = 1,        // bad usage or bad input (malformed login, CIDR, date, config file ...)
    kExitNotFound = 2,     // unknown login, domain, customer, pattern, limit; or data not available
    kExitConflict = 3,     // already exists, second authority for a user, constraint refused
    kExitUnavailable = 4,  // the database cannot be reached now (try again)
    kExitDbError = 5,      // permanent database error (credentials, privileges, schema)
    kExitSendFailed = 6,   // test-send: the server refused or the session failed
};

// Bad usage or bad input: printed, exit code 1.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Thrown after --help was printed: exit 0.
struct HelpShown {};

// A subcommand that ends with a specific exit code after printing its own message.
struct ExitWith {
    int code;
};

struct Context {
    std::string config_path;
    bool json = false;
    bool yes = false;
    bool verbose = false;
    std::string sql_dir;  // --sql-dir, for db init/migrate

    const Config& config();   // loaded on first use
    AdminStore& store();      // connected on first use
    bool stdin_is_terminal() const;

private:
    std::optional<Config> config_;
    std::unique_ptr<AdminStore> store_;
};

using Args = std::vector<std::string>;
using Handler = int (*)(Context&, const Args&);

// Parses a subcommand's arguments. usage is the synopsis line ("account add LOGIN [options]"), about a
// sentence or two. Adds --help and --json (and --yes when destructive). Positional names in order; the
// last may repeat when positional_max_last < 0.
struct Command {
    std::string usage;
    std::string about;
    po::options_description options{"Options"};
    std::vector<std::string> positional;
    bool destructive = false;
    bool repeat_last = false;

    Command(std::string usage_line, std::string about_text);
    po::variables_map parse(Context& ctx, const Args& args);
    std::string help() const;
};

// ---- input parsers; all throw UsageError with a sentence naming the value

struct Login {
    std::string local_part;
    std::string domain;
    std::string str() const { return local_part + "@" + domain; }
};
Login parse_login(const std::string& text);
std::string parse_domain_name(const std::string& text);
std::string parse_cidr(const std::string& text);
std::string parse_pattern(const std::string& text);
// "never"/"none" -> nullopt; "+30m", "+12h", "+7d", "+2w"; "YYYY-MM-DD" (00:00 local time);
// "YYYY-MM-DD HH:MM[:SS]" or with 'T' (local time); "@UNIX" seconds.
std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now, const char* option);
// "10485760", "512k", "10M", "1G" (binary multiples), "none" -> nullopt
std::optional<std::uint64_t> parse_size(const std::string& text, const char* option);
std::optional<std::uint32_t> parse_count(const std::string& text, const char* option, bool allow_none);
// "3600", "90s", "30m", "1h", "1d", "hour", "day", "minute"
std::uint32_t parse_window(const std::string& text);

// ---- output

std::string format_time(const std::optional<std::int64_t>& unix_seconds, const char* none = "-");
std::string format_time_iso(std::int64_t unix_seconds);  // UTC, for --json
Json json_time(const std::optional<std::int64_t>& unix_seconds);
std::string format_size(const std::optional<std::uint64_t>& bytes);
std::string yes_no(bool b);

// Cells and values are printed through terminal_text() (tools/relayctl/terminal_text.hpp): UTF-8 as it
// is, controls and invalid bytes as '?', columns aligned by display width.
struct Table {
    std::vector<std::string> headers;
    std::vector<std::vector<std::string>> rows;
    void print(std::ostream& out) const;
};

// Prints a "key: value" block with aligned keys.
void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// ---- the terminal

// Asks "question [y/N]" on a terminal unless --yes; returns true when not a terminal (scripts proceed).
// A "no" ends relayctl with exit code 1 and "nothing changed".
void confirm(Context& ctx, const std::string& question);
// A password: on a terminal asked with echo off (twice when confirm; a mismatch is a UsageError); else
// one line from stdin (trailing CR/LF removed). Checked with password_problem().
std::string read_password(Context& ctx, const std::string& prompt, bool confirm);

// Runs [relayctl] after_change_command (if set) for login after `what` ("password change of x@y") was
// done: no shell, %{login} replaced inside arguments. A failure is a warning on stderr: the change stands.
void run_after_change(Context& ctx, const std::string& login, const std::string& what);

// Prints msg to stdout in text mode (nothing in --json mode, where the caller prints the object).
void say(Context& ctx, const std::string& msg);
// Prints a JSON value on stdout.
void emit(const Json& value);

// The handlers, one per "group action" (tools/relayctl/cmd_*.cpp).
int cmd_db_init(Context&, const Args&);
int cmd_db_migrate(Context&, const Args&);
int cmd_db_status(Context&, const Args&);
int cmd_db_grants(Context&, const Args&);
int cmd_customer_add(Context&, const Args&);
int cmd_customer_list(Context&, const Args&);
int cmd_customer_enable(Context&, const Args&);
int cmd_customer_disable(Context&, const Args&);
int cmd_domain_add(Context&, const Args&);
int cmd_domain_list(Context&, const Args&);
int cmd_domain_enable(Context&, const Args&);
int cmd_domain_disable(Context&, const Args&);
int cmd_domain_set(Context&, const Args&);
int cmd_account_add(Context&, const Args&);
int cmd_account_set(Context&, const Args&);
int cmd_account_passwd(Context&, const Args&);
int cmd_account_enable(Context&, const Args&);
int cmd_account_disable(Context&, const Args&);
int cmd_account_suspend(Context&, const Args&);
int cmd_account_unsuspend(Context&, const Args&);
int cmd_account_delete(Context&, const Args&);
int cmd_account_list(Context&, const Args&);
int cmd_account_show(Context&, const Args&);
int cmd_unused(Context&, const Args&);
int cmd_sender_add(Context&, const Args&);
int cmd_sender_remove(Context&, const Args&);
int cmd_sender_list(Context&, const Args&);
int cmd_network_add(Context&, const Args&);
int cmd_network_remove(Context&, const Args&);
int cmd_network_list(Context&, const Args&);
int cmd_limit_set(Context&, const Args&);
int cmd_limit_remove(Context&, const Args&);
int cmd_limit_list(Context&, const Args&);
int cmd_usage(Context&, const Args&);
int cmd_explain(Context&, const Args&);
int cmd_test_send(Context&, const Args&);
int cmd_export(Context&, const Args&);
int cmd_export_csv(Context&, const Args&);
int cmd_import_csv(Context&, const Args&);
int cmd_import_postfix(Context&, const Args&);
int cmd_import_dovecot(Context&, const Args&);
int cmd_prune(Context&, const Args&);
int cmd_status(Context&, const Args&);

}  // namespace relay::ctl
