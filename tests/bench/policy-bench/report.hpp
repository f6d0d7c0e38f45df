// policy-bench: printing a run, for people (aligned text) or for scripts (one JSON object).
#pragma once

#include <string>

#include "tests/bench/policy-bench/stats.hpp"

namespace relay::bench {

void print_report(const Report& report, bool json);

// A JSON string literal (quotes included) for text.
std::string json_string(const std::string& text);

}  // namespace relay::bench
