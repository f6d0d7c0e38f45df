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

}  // namespace

Options options_from_config(const Config& config) {
    Options o;
    o.header_from = header_action(config.milter.header_from_action);
    o.on_rules_unavailable = config.milter.on_rules_unavailable;
    o.on_rate_limited = config.milter.on_rate_limited;
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
