// policy-bench: load generator and reference server for the Postfix policy delegation protocol.
// See docs/policy-bench.1 and docs/performance.md.
#include <csignal>
#include <exception>
#include <iostream>

#include "tests/bench/policy-bench/client.hpp"
#include "tests/bench/policy-bench/gen_sql.hpp"
#include "tests/bench/policy-bench/null_server.hpp"
#include "tests/bench/policy-bench/options.hpp"
#include "tests/bench/policy-bench/report.hpp"

int main(int argc, char** argv) {
    using namespace relay::bench;
    std::optional<Options> options;
    try {
        options = parse_options(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "policy-bench: " << e.what() << " (see --help)\n";
        return 2;
    }
    if (!options) return 0;
    const Options& o = *options;
    std::signal(SIGPIPE, SIG_IGN);  // a server closing on us is counted, not fatal
    try {
        switch (o.mode) {
            case Mode::gen_sql: write_bench_sql(o, std::cout); return std::cout.good() ? 0 : 1;
            case Mode::null_server: return run_null_server(o);
            case Mode::idle: return run_idle(o);
            case Mode::client: {
                const Report report = run_client(o);
                print_report(report, o.json);
                return report.stats.errors.total() == 0 ? 0 : 1;
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "policy-bench: " << e.what() << "\n";
        return 2;
    }
    return 1;
}
