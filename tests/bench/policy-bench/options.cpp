#include "tests/bench/policy-bench/options.hpp"

#include <boost/program_options.hpp>
#include <iostream>
#include <stdexcept>

#ifndef RELAY_VERSION
#define RELAY_VERSION "dev"
#endif

namespace po = boost::program_options;

namespace relay::bench {

const char* to_string(Mix mix) {
    switch (mix) {
        case Mix::rcpt_only: return "rcpt-only";
        case Mix::realistic: return "realistic";
        case Mix::stream: return "stream";
        case Mix::file: return "file";
    }
    return "?";
}

namespace {

const char* kUsage =
    "policy-bench: load generator for the Postfix policy delegation protocol (check_policy_service).\n"
    "\n"
    "Usage:\n"
    "  policy-bench --target inet:127.0.0.1:10040 [--connections 50] [--duration 10] [--mix realistic]\n"
    "  policy-bench --target unix:/run/relay/policyd.sock --requests-file requests.txt --requests 100000\n"
    "  policy-bench --target inet:127.0.0.1:10040 --mix stream --account 7 --messages 150 --connections 1\n"
    "  policy-bench --target inet:127.0.0.1:10040 --idle 5000 --hold 30\n"
    "  policy-bench --null-server inet:127.0.0.1:10049 [--threads 2]\n"
    "  policy-bench --gen-sql 100000 > bench-accounts.sql\n"
    "\n"
    "Each connection works in lock-step like a Postfix smtpd process: one request, wait for the answer,\n"
    "the next request. Prints requests/s, latency percentiles (overall and per protocol_state), the\n"
    "answers received and the errors. Exit status: 0 = run completed without errors, 1 = errors\n"
    "occurred (still reported), 2 = bad usage.\n"
    "\n"
    "Options";

void add_options(po::options_description& d, Options& o) {
    d.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("target,t", po::value(&o.target)->value_name("SOCKET"),
         "policy server: inet:HOST:PORT, inet:[IPV6]:PORT or unix:/PATH (default inet:127.0.0.1:10040)")
        ("connections,c", po::value(&o.connections)->value_name("N"), "persistent connections (default 50)")
        ("threads", po::value(&o.threads)->value_name("N"),
         "I/O threads (default: 1 for the client, 2 for --null-server)")
        ("duration,d", po::value(&o.duration)->value_name("SECONDS"),
         "run this long (default 10); with --requests or --messages an upper bound (default 600)")
        ("warmup", po::value(&o.warmup)->value_name("SECONDS"), "not counted at the start (default 0)")
        ("requests,n", po::value(&o.requests)->value_name("N"), "stop after N requests in total")
        ("messages", po::value(&o.messages)->value_name("N"), "stop after N messages in total (generator)")
        ("mix", po::value<std::string>()->value_name("MIX"),
         "rcpt-only | realistic | stream (default realistic)")
        ("requests-file,f", po::value(&o.requests_file)->value_name("FILE"),
         "send these requests (separated by empty lines) instead of generated ones")
        ("accounts,k", po::value(&o.accounts)->value_name("K"),
         "generated logins user<N>@bench<M>.example, N < K (default 1000)")
        ("accounts-per-domain", po::value(&o.accounts_per_domain)->value_name("N"),
         "accounts in each bench<M>.example domain (default 10)")
        ("account", po::value(&o.account)->value_name("N"), "the account of --mix stream (default 0)")
        ("unauth-percent", po::value(&o.unauth_percent)->value_name("P"),
         "realistic mix: unauthenticated inbound messages (default 10)")
        ("foreign-percent", po::value(&o.foreign_percent)->value_name("P"),
         "realistic mix: authenticated messages with a sender the login does not own (default 5)")
        ("max-recipients", po::value(&o.max_recipients)->value_name("N"),
         "most recipients per generated message (default 8)")
        ("seed", po::value(&o.seed)->value_name("N"), "random seed of the generator (default 1)")
        ("timeout", po::value(&o.timeout)->value_name("SECONDS"),
         "an answer taking longer is an error; the connection is re-opened (default 10)")
        ("rate", po::value(&o.rate)->value_name("R"),
         "offer R requests/s in total, evenly over the connections, instead of as many as they answer "
         "(for latency at a given load)")
        ("json", po::bool_switch(&o.json), "print the results as one JSON object")
        ("idle", po::value(&o.idle)->value_name("N"),
         "open N connections, one request on each, hold them idle for --hold seconds, then one more request")
        ("hold", po::value(&o.hold)->value_name("SECONDS"), "how long --idle holds (default 10)")
        ("null-server", po::value(&o.listen)->value_name("SOCKET"),
         "be the reference server instead: answer action=DUNNO to every request, no logic")
        ("gen-sql", po::value(&o.gen_sql)->value_name("K"),
         "print SQL creating K bench accounts (customers, domains, users, smtp_authorities) and exit")
        ("sql-password", po::value(&o.sql_password)->value_name("TEXT"),
         "--gen-sql: password of every account, stored as {PLAIN}TEXT (default bench-pw)")
        ("sql-id-base", po::value(&o.sql_id_base)->value_name("N"),
         "--gen-sql: first id of the generated rows (default 1000000)");
}

Mix parse_mix(const std::string& text) {
    if (text == "rcpt-only") return Mix::rcpt_only;
    if (text == "realistic") return Mix::realistic;
    if (text == "stream") return Mix::stream;
    throw std::runtime_error("--mix: unknown mix '" + text + "' (rcpt-only, realistic, stream)");
}

void check(bool ok, const std::string& message) {
    if (!ok) throw std::runtime_error(message);
}

void validate(Options& o, const po::variables_map& vm) {
    o.duration_given = vm.count("duration") > 0;
    if (vm.count("null-server")) o.mode = Mode::null_server;
    if (vm.count("gen-sql")) o.mode = Mode::gen_sql;
    if (vm.count("idle")) o.mode = Mode::idle;
    check(vm.count("null-server") + vm.count("gen-sql") + vm.count("idle") <= 1,
          "--null-server, --gen-sql and --idle exclude each other");
    if (vm.count("mix")) o.mix = parse_mix(vm["mix"].as<std::string>());
    if (!o.requests_file.empty()) {
        check(!vm.count("mix"), "--requests-file and --mix exclude each other");
        o.mix = Mix::file;
    }
    if (o.threads == 0) o.threads = o.mode == Mode::null_server ? 2 : 1;
    if ((o.requests || o.messages) && !o.duration_given) o.duration = 600;
    check(o.connections >= 1 && o.connections <= 100000, "--connections: 1 to 100000");
    check(o.threads >= 1 && o.threads <= 256, "--threads: 1 to 256");
    check(o.duration > 0 && o.duration <= 86400, "--duration: more than 0, at most 86400 seconds");
    check(o.warmup >= 0 && o.warmup < o.duration, "--warmup: at least 0 and shorter than --duration");
    check(o.timeout > 0 && o.timeout <= 3600, "--timeout: more than 0, at most 3600 seconds");
    check(o.rate >= 0 && o.rate <= 10000000, "--rate: 0 (unpaced) to 10000000 requests/s");
    check(o.accounts >= 1, "--accounts: at least 1");
    check(o.accounts_per_domain >= 1, "--accounts-per-domain: at least 1");
    check(o.account < o.accounts, "--account: must be below --accounts");
    check(o.unauth_percent <= 100 && o.foreign_percent <= 100, "--unauth-percent, --foreign-percent: 0 to 100");
    check(o.max_recipients >= 1 && o.max_recipients <= 1000, "--max-recipients: 1 to 1000");
    check(o.idle <= 1000000, "--idle: at most 1000000");
    check(o.hold >= 0 && o.hold <= 86400, "--hold: 0 to 86400 seconds");
    check(o.mode != Mode::gen_sql || o.gen_sql >= 1, "--gen-sql: at least 1 account");
    check(o.sql_password.find_first_of("'\\\n\r") == std::string::npos,
          "--sql-password: no quotes, backslashes or line breaks");
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    po::options_description desc(kUsage, 100, 50);
    add_options(desc, o);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw std::runtime_error(e.what());
    }
    if (vm.count("help")) {
        std::cout << desc << "\nSee policy-bench(1) and docs/performance.md.\n";
        return std::nullopt;
    }
    if (vm.count("version")) {
        std::cout << "policy-bench " << RELAY_VERSION << "\n";
        return std::nullopt;
    }
    validate(o, vm);
    return o;
}

}  // namespace relay::bench
