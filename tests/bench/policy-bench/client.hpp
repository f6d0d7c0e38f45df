// policy-bench: the load client. --connections persistent connections spread over --threads epoll
// loops; each connection sends one request, waits for the whole answer, then sends the next, as a Postfix
// smtpd process does. Broken connections are counted and re-opened after 100 ms.
#pragma once

#include "tests/bench/policy-bench/options.hpp"
#include "tests/bench/policy-bench/stats.hpp"

namespace relay::bench {

// Runs the load described by o. Throws std::runtime_error on a bad target or an unreadable file.
Report run_client(const Options& o);

// --idle: opens o.idle connections, one request on each, holds them idle for o.hold seconds, then one
// more request on each. Prints its own report (text or JSON). Returns the exit status.
int run_idle(const Options& o);

}  // namespace relay::bench
