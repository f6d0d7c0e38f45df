// relay-milter's behaviour switches, read once from [milter] in the config file.
#pragma once

#include <string>

#include "core/config/config.hpp"

namespace relay::milter {

enum class HeaderFromAction { reject, tempfail, off };
using relay::FailureAnswer;  // for a class of temporary trouble (core/config.hpp)

struct Options {
    HeaderFromAction header_from = HeaderFromAction::reject;
    FailureAnswer on_rules_unavailable = FailureAnswer::tempfail;  // only Reason::rules_unavailable
    FailureAnswer on_rate_limited = FailureAnswer::tempfail;
    std::string node;  // relay_events.node for events the milter writes itself (From: refusals)
};

// The config has already validated the words; anything else is a programming error (std::invalid_argument).
Options options_from_config(const Config& config);

const char* to_string(HeaderFromAction action);

}  // namespace relay::milter
