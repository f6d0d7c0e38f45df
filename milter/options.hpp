// relay-milter's behaviour switches, read once from [milter] in the config file.
#pragma once

#include <string>

#include "core/config/config.hpp"

namespace relay::milter {

enum class HeaderFromAction { reject, tempfail, off };
enum class FailureAnswer { tempfail, reject };  // for a class of temporary trouble

struct Options {
    HeaderFromAction header_from = HeaderFromAction::reject;
    FailureAnswer on_store_unavailable = FailureAnswer::tempfail;
    FailureAnswer on_rate_limited = FailureAnswer::tempfail;
    std::string node;  // relay_events.node for events the milter writes itself (From: refusals)
};

// The config has already validated the words; anything else is a programming error (std::invalid_argument).
Options options_from_config(const Config& config);

const char* to_string(HeaderFromAction action);

}  // namespace relay::milter
