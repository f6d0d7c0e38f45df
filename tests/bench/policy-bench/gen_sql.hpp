// policy-bench --gen-sql K: SQL for K benchmark accounts matching the generator's logins.
#pragma once

#include <ostream>

#include "tests/bench/policy-bench/options.hpp"

namespace relay::bench {

void write_bench_sql(const Options& o, std::ostream& out);

}  // namespace relay::bench
