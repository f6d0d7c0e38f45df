// policy-bench --null-server: a policy server that answers action=DUNNO to everything (no logic).
#pragma once

#include "tests/bench/policy-bench/options.hpp"

namespace relay::bench {

// Serves o.listen with o.threads epoll loops until SIGTERM or SIGINT. Throws std::runtime_error when it
// cannot listen. Returns the exit status.
int run_null_server(const Options& o);

}  // namespace relay::bench
