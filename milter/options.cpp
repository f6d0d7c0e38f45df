#include "milter/options.hpp"

#include <stdexcept>

namespace relay::milter {
namespace {

HeaderFromAction header_action(const std::string& word) {
    if (word == "reject") return HeaderFromAction::reject;
    if (word == "tempfail") return HeaderFromAction::tempfail;
    if (word == "off") return HeaderFromAction::off;
    throw std::invalid_argument("[milter] header_from_action: unexpected '" + word + "'");
}

FailureAnswer failure_answer(const char* key, const std::string& word) {
    if (word == "tempfail") return FailureAnswer::tempfail;
    if (word == "reject") return FailureAnswer::reject;
    throw std::invalid_argument(std::string("[milter] ") + key + ": unexpected '" + word + "'");
}

}  // namespace

Options options_from_config(const Config& config) {
    Options o;
    o.header_from = header_action(config.milter.header_from_action);
    o.on_store_unavailable = failure_answer("on_store_unavailable", config.milter.on_store_unavailable);
    o.on_rate_limited = failure_answer("on_rate_limited", config.milter.on_rate_limited);
    o.node = config.general.node;
    return o;
}

const char* to_string(HeaderFromAction action) {
    switch (action) {
        case HeaderFromAction::reject: return "reject";
        case HeaderFromAction::tempfail: return "tempfail";
        case HeaderFromAction::off: return "off";
    }
    return "?";
}

}  // namespace relay::milter
