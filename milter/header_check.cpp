#include "milter/header_check.hpp"

#include "core/rules/engine.hpp"
#include "core/mail/header_address.hpp"
#include "milter/reply.hpp"

namespace relay::milter {
namespace {

Decision refusal(HeaderFromAction action, Reason reason, std::string text) {
    const bool temporary = action == HeaderFromAction::tempfail;
    const bool malformed = reason == Reason::header_from_malformed;
    const char* enhanced = temporary ? (malformed ? "4.6.0" : "4.7.1") : (malformed ? "5.6.0" : "5.7.1");
    return make_refusal(temporary ? Verdict::defer : Verdict::reject, reason, temporary ? 451 : 550, enhanced,
                        reply_text(text));
}

// Parses one field; on a problem returns the refusal text.
std::optional<std::string> parse_field(const char* name, const std::string& value, std::vector<Address>& out) {
    const HeaderAddressResult parsed = parse_header_addresses(value);
    if (!parsed.ok) return std::string("Malformed ") + name + " header: " + parsed.error;
    if (parsed.mailboxes.empty()) return std::string(name) + " header names no address";
    for (const auto& box : parsed.mailboxes) out.push_back(box.address);
    return std::nullopt;
}

std::optional<std::string> count_problem(const char* name, std::size_t count, bool required) {
    if (count == 0 && required) return std::string("Message has no ") + name + " header";
    if (count > 1)
        return "Message has " + std::to_string(count) + " " + name + " headers; only one is allowed";
    return std::nullopt;
}

}  // namespace

HeaderCheck check_header_from(const Request& request, const HeaderFields& fields, const Snapshot& snapshot,
                              TimePoint now, HeaderFromAction action) {
    HeaderCheck result;
    if (action == HeaderFromAction::off) return result;
    auto malformed = [&](std::string text) {
        result.refusal = refusal(action, Reason::header_from_malformed, std::move(text));
        return result;
    };
    if (fields.too_many) return malformed("Message has too many From: or Sender: headers");
    if (auto problem = count_problem("From:", fields.from.size(), true)) return malformed(*problem);
    if (auto problem = count_problem("Sender:", fields.sender.size(), false)) return malformed(*problem);

    struct Named { const char* field; Address address; };
    std::vector<Named> checked;
    std::vector<Address> from, sender;
    if (auto problem = parse_field("From:", fields.from.front(), from)) return malformed(*problem);
    if (!fields.sender.empty()) {
        if (auto problem = parse_field("Sender:", fields.sender.front(), sender)) return malformed(*problem);
    }
    for (auto& a : from) checked.push_back({"From:", std::move(a)});
    for (auto& a : sender) checked.push_back({"Sender:", std::move(a)});

    for (const auto& item : checked) {
        result.addresses.push_back(item.address.str());
        Request probe = request;
        probe.stage = Stage::mail;
        probe.sender = item.address.str();
        probe.sender_known = true;
        probe.recipient.clear();
        probe.size = 0;
        const Decision d = decide(probe, snapshot, now).decision;
        if (!d.refused()) continue;
        const std::string who = d.login.empty() ? std::string("this account") : d.login;
        if (d.reason == Reason::sender_not_owned) {
            result.refusal = refusal(action, Reason::header_from_not_owned,
                                     who + " may not use <" + item.address.str() + "> in the " + item.field +
                                         " header");
        } else if (d.reason == Reason::sender_malformed || d.reason == Reason::null_sender_denied) {
            result.refusal = refusal(action, Reason::header_from_malformed,
                                     std::string("Malformed ") + item.field + " header address <" +
                                         item.address.str() + ">");
        } else {  // the account itself is refused (disabled meanwhile, ...): the engine's own answer
            result.refusal = d;
        }
        result.refusal->authority_id = d.authority_id;
        result.refusal->login = d.login;
        return result;
    }
    return result;
}

}  // namespace relay::milter
