// relay-milter: the Sendmail milter (also usable from Postfix's smtpd_milters) of relay-authority.
// Command line here; the daemon's life is run_milter() (app.cpp), libmilter is in libmilter_seam.cpp.
// Exit status: 0 stopped cleanly, 1 could not start, 2 bad command line or configuration.
#include <iostream>
#include <memory>
#include <string>

#include <boost/program_options.hpp>

#include "core/config/command_line.hpp"
#include "core/config/config.hpp"
#include "core/store/mysql_store.hpp"
#include "core/runtime/start_checks.hpp"
#include "milter/app.hpp"
#include "milter/libmilter_seam.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kExitUsage = 2;

po::options_description command_line_options() {
    po::options_description o("Options");
    o.add_options()
        ("config,c", po::value<std::string>()->default_value(RELAY_DEFAULT_CONFIG),
         "configuration file (INI; keys in relay-milter(8) and --help-config)")
        ("foreground,f", "stay in the foreground and log to stderr instead of syslog")
        ("pid-file,p", po::value<std::string>(), "write the daemon's process id to this file")
        ("check-config", "validate the configuration and what a start needs (the user and group, the listen addresses "
                         "can be bound, socket directories), print it with passwords masked, and exit: 0 ok, 2 invalid "
                         "configuration, 3 user/group/socket directory, 4 a listener cannot be bound")
        ("check-db", "with --check-config (implied): also connect to the database and check the credentials, "
                     "privileges and schema version: 5 unreachable, 6 credentials or privileges, 7 schema")
        ("help-config", "print every configuration key with its default and meaning, and exit")
        ("version", "print the version and exit")
        ("help,h", "print this help and exit");
    return o;
}

void print_help(const po::options_description& options) {
    std::cout << "Usage: relay-milter [--config FILE] [--foreground] [--pid-file FILE]\n"
                 "       relay-milter --check-config [--config FILE]\n\n"
                 "Milter of relay-authority for Sendmail (INPUT_MAIL_FILTER) and Postfix (smtpd_milters):\n"
                 "decides per SASL login ({auth_authen}) whether a message may be relayed, from the SMTP\n"
                 "authority rules in MariaDB/MySQL, and checks that the From:/Sender: header addresses\n"
                 "belong to the authenticated account. Sessions without SASL login and without an\n"
                 "IP-authorised account are accepted at MAIL FROM untouched (inbound mail).\n\n"
              << options
              << "\nThe configuration keys ([general], [database], [cache], [milter]) are described in\n"
                 "relay-milter(8) and printed by --help-config. [milter] listen uses libmilter syntax:\n"
                 "inet:PORT@HOST, inet6:PORT@HOST or unix:/path. Signals: SIGTERM, SIGHUP and SIGINT\n"
                 "stop the milter (libmilter's own signal handling; connections in progress finish).\n"
                 "Exit status: 0 stopped, 1 could not start, 2 usage or configuration error.\n";
}

}  // namespace

int main(int argc, char** argv) {
    const po::options_description options = command_line_options();
    po::variables_map vm;
    const std::string version =
        std::string("relay-milter ") + RELAY_VERSION + " (" + relay::milter::libmilter_version() + ")";
    if (const auto done = relay::parse_daemon_command_line(argc, argv, options, "relay-milter",
                                                           [&] { print_help(options); }, version, vm))
        return *done;

    relay::milter::RunOptions run;
    run.config_path = vm["config"].as<std::string>();
    run.foreground = vm.count("foreground") > 0;
    if (vm.count("pid-file")) run.pid_file = vm["pid-file"].as<std::string>();

    const auto config = relay::load_config_or_report(run.config_path, "relay-milter");
    if (!config) return kExitUsage;
    if (vm.count("check-config") || vm.count("check-db")) {
        // The configuration in effect is printed even when a start check fails: it shows what was checked.
        const int status =
            relay::run_start_checks(*config, relay::DaemonKind::milter, vm.count("check-db") > 0, std::cerr);
        std::cout << relay::dump_config(*config);
        return status;
    }
    auto driver = relay::milter::make_libmilter_driver();
    return relay::milter::run_milter(run, *config, [](const relay::DatabaseConfig& database) {
        return std::make_unique<relay::MysqlStore>(database);
    }, *driver);
}
