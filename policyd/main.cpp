// relay-policyd: the Postfix policy server (check_policy_service) of relay-authority.
// Command line here; the daemon's life is run_policyd() (app.cpp). Exit status: 0 stopped cleanly,
// 1 could not start, 2 bad command line or configuration.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <boost/program_options.hpp>

#include "core/config/command_line.hpp"
#include "core/config/config.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_store.hpp"
#include "core/runtime/start_checks.hpp"
#include "policyd/app.hpp"
#include "policyd/listener.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kExitUsage = 2;

po::options_description command_line_options() {
    po::options_description o("Options");
    o.add_options()
        ("config,c", po::value<std::string>()->default_value(RELAY_DEFAULT_CONFIG),
         "configuration file (INI; keys in relay-policyd(8) and --help-config)")
        ("foreground,f", "stay in the foreground and log to stderr instead of syslog")
        ("pid-file,p", po::value<std::string>(), "write the daemon's process id to this file")
        ("check-config", "validate the configuration and what a start needs (the user and group, the listen addresses "
                         "can be bound, socket directories), print it with passwords masked, and exit: 0 ok, 2 invalid "
                         "configuration, 3 user/group/socket directory, 4 a listener cannot be bound")
        ("check-db", "with --check-config (implied): also connect to the database and check the credentials, "
                     "privileges and schema version: 5 unreachable, 6 credentials or privileges, 7 schema")
        ("allow-root", "keep running as root, as [policyd] allow_root = true does")
        ("help-config", "print every configuration key with its default and meaning, and exit")
        ("version", "print the version and exit")
        ("help,h", "print this help and exit");
    return o;
}

void print_help(const po::options_description& options) {
    std::cout << "Usage: relay-policyd [--config FILE] [--foreground] [--pid-file FILE] [--allow-root]\n"
                 "       relay-policyd --check-config [--config FILE]\n\n"
                 "Postfix policy server (check_policy_service) of relay-authority: decides per SASL login\n"
                 "whether a message may be relayed, from the SMTP authority rules in MariaDB/MySQL.\n\n"
              << options
              << "\nThe configuration keys ([general], [database], [cache], [policyd], [rate_limits], [abuse])\n"
                 "are described in relay-policyd(8) and printed by --help-config. Signals: SIGHUP reloads the configuration\n"
                 "file (log level, cache timings, limits; not the listen sockets), SIGTERM/SIGINT stop after\n"
                 "answering the requests in flight. Exit status: 0 stopped, 1 could not start, 2 usage or\n"
                 "configuration error.\n";
}

// --check-config: the config loader already validates every key; the listen addresses are read once
// more here exactly as the daemon will read them.
int check_config(const relay::Config& config, bool check_db) {
    for (const std::string& listen : config.policyd.listen) {
        std::string error;
        if (!relay::policyd::parse_listen_spec(listen, &error)) {
            std::cerr << "relay-policyd: " << config.path << ": " << error << "\n";
            return kExitUsage;
        }
    }
    // The configuration in effect is printed even when a start check fails: it shows what was checked.
    const int status = relay::run_start_checks(config, relay::DaemonKind::policyd, check_db, std::cerr);
    std::cout << relay::dump_config(config);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    const po::options_description options = command_line_options();
    po::variables_map vm;
    if (const auto done = relay::parse_daemon_command_line(argc, argv, options, "relay-policyd",
                                                           [&] { print_help(options); },
                                                           std::string("relay-policyd ") + RELAY_VERSION, vm))
        return *done;

    relay::policyd::PolicydOptions run;
    run.config_path = vm["config"].as<std::string>();
    run.foreground = vm.count("foreground") > 0;
    if (vm.count("pid-file")) run.pid_file = vm["pid-file"].as<std::string>();

    auto loaded = relay::load_config_or_report(run.config_path, "relay-policyd");
    if (!loaded) return kExitUsage;
    relay::Config& config = *loaded;
    run.allow_root = vm.count("allow-root") > 0;
    if (run.allow_root) config.policyd.allow_root = true;
    if (vm.count("check-config") || vm.count("check-db")) return check_config(config, vm.count("check-db") > 0);

    return relay::policyd::run_policyd(run, config, [](const relay::DatabaseConfig& database) {
        return std::make_unique<relay::MysqlStore>(database);
    });
}
