#include "policyd/protocol.hpp"

#include <array>
#include <cstdint>
#include <limits>

#include "core/base/text.hpp"

namespace relay::policyd {

namespace {

struct KnownAttribute {
    std::string_view name;
    std::string_view PolicyAttributes::*field;
};

// The attributes we keep; everything else Postfix sends is read and dropped.
constexpr std::array<KnownAttribute, 18> kKnown{{
    {"request", &PolicyAttributes::request},
    {"protocol_state", &PolicyAttributes::protocol_state},
    {"protocol_name", &PolicyAttributes::protocol_name},
    {"client_address", &PolicyAttributes::client_address},
    {"client_name", &PolicyAttributes::client_name},
    {"reverse_client_name", &PolicyAttributes::reverse_client_name},
    {"helo_name", &PolicyAttributes::helo_name},
    {"sender", &PolicyAttributes::sender},
    {"recipient", &PolicyAttributes::recipient},
    {"recipient_count", &PolicyAttributes::recipient_count},
    {"queue_id", &PolicyAttributes::queue_id},
    {"instance", &PolicyAttributes::instance},
    {"size", &PolicyAttributes::size},
    {"sasl_method", &PolicyAttributes::sasl_method},
    {"sasl_username", &PolicyAttributes::sasl_username},
    {"sasl_sender", &PolicyAttributes::sasl_sender},
    {"encryption_protocol", &PolicyAttributes::encryption_protocol},
    {"encryption_cipher", &PolicyAttributes::encryption_cipher},
}};

// Index into kKnown, or -1. Looks only at names of the same length: this runs for every line of every
// request (Postfix sends about 30), most of them attributes we drop.
int known_index(std::string_view name) {
    static const auto by_length = [] {
        std::array<std::array<std::int8_t, 4>, 24> table{};
        for (auto& row : table) row.fill(-1);
        for (std::size_t i = 0; i < kKnown.size(); ++i) {
            auto& row = table[kKnown[i].name.size()];
            std::size_t slot = 0;
            while (row[slot] >= 0) ++slot;  // at most 3 known names share a length
            row[slot] = static_cast<std::int8_t>(i);
        }
        return table;
    }();
    if (name.size() >= by_length.size()) return -1;
    for (const std::int8_t i : by_length[name.size()]) {
        if (i < 0) return -1;
        if (kKnown[static_cast<std::size_t>(i)].name == name) return i;
    }
    return -1;
}

// What each byte may be, looked up once per byte (every byte of every request passes here).
constexpr std::uint8_t kNameByte = 1;   // letter, digit, _ - .
constexpr std::uint8_t kValueByte = 2;  // anything but control bytes (tab allowed) and DEL

// Control bytes (NUL included) and DEL are junk in values. Bytes >= 0x80 are accepted without a UTF-8
// check: Postfix passes SMTPUTF8 addresses and whatever 8-bit text a client put in HELO, and an honest
// request from Postfix must never cost the connection. The engine refuses what it cannot read.
constexpr std::array<std::uint8_t, 256> kByteClass = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const bool name = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '.';
        const bool value = c == '\t' || (c >= 0x20 && c != 0x7f);
        t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>((name ? kNameByte : 0) | (value ? kValueByte : 0));
    }
    return t;
}();

bool valid_value_char(unsigned char c) {
    return (kByteClass[c] & kValueByte) != 0;
}

bool all_of_class(std::string_view bytes, std::uint8_t cls) {
    std::uint8_t all = cls;
    for (unsigned char c : bytes) all &= kByteClass[c];  // no branch per byte
    return all != 0;
}

ParseResult malformed(std::string why) {
    ParseResult r;
    r.status = ParseStatus::malformed;
    r.error = std::move(why);
    return r;
}

// Checks one line (without its newline) and stores it if known. Returns an error sentence or "".
std::string take_line(std::string_view line, PolicyAttributes& out, std::uint32_t& seen) {
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) return "line without '='";
    const std::string_view name = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    if (name.empty()) return "line with an empty attribute name";
    if (!all_of_class(name, kNameByte)) return "attribute name with a byte that is not a letter, digit or _";
    if (!all_of_class(value, kValueByte)) return "attribute value with a control byte";
    const int i = known_index(name);
    if (i < 0) return {};
    const std::uint32_t bit = 1u << i;
    if (seen & bit) return "attribute " + std::string(name) + " sent twice";
    seen |= bit;
    out.*(kKnown[static_cast<std::size_t>(i)].field) = value;
    return {};
}

}  // namespace

ParseResult parse_policy_request(std::string_view input, const ParseLimits& limits) {
    ParseResult result;
    std::uint32_t seen = 0;
    std::size_t lines = 0;
    std::size_t pos = 0;
    while (true) {
        const auto nl = input.find('\n', pos);
        if (nl == std::string_view::npos) {
            // Incomplete line: refuse early when it can no longer become valid.
            const std::size_t pending = input.size() - pos;
            if (pending > limits.max_line_length + 1)  // +1: a tolerated "\r"
                return malformed("line longer than " + std::to_string(limits.max_line_length) + " bytes");
            if (input.size() > limits.max_request_bytes)
                return malformed("request larger than " + std::to_string(limits.max_request_bytes) + " bytes");
            for (std::size_t i = pos; i < input.size(); ++i) {
                const auto c = static_cast<unsigned char>(input[i]);
                if (!valid_value_char(c) && !(c == '\r' && i + 1 == input.size()))
                    return malformed("control byte in an unfinished line");
            }
            result.status = ParseStatus::need_more;
            return result;
        }
        if (nl + 1 > limits.max_request_bytes)
            return malformed("request larger than " + std::to_string(limits.max_request_bytes) + " bytes");
        std::string_view line = input.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (line.size() > limits.max_line_length)
            return malformed("line longer than " + std::to_string(limits.max_line_length) + " bytes");
        if (line.empty()) break;
        if (++lines > limits.max_attributes)
            return malformed("more than " + std::to_string(limits.max_attributes) + " attributes");
        std::string error = take_line(line, result.attributes, seen);
        if (!error.empty()) return malformed(std::move(error));
    }
    if (lines == 0) return malformed("empty line where a request should start");
    if (result.attributes.request != "smtpd_access_policy")
        return malformed(result.attributes.request.empty() ? "request without request=smtpd_access_policy"
                                                           : "request type is not smtpd_access_policy");
    result.status = ParseStatus::complete;
    result.consumed = pos;
    return result;
}

namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
    if (text.empty()) {
        out = 0;
        return true;
    }
    T value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        const T digit = static_cast<T>(c - '0');
        if (value > (std::numeric_limits<T>::max() - digit) / 10) return false;
        value = static_cast<T>(value * 10 + digit);
    }
    out = value;
    return true;
}

struct StateInfo {
    std::string_view name;
    Stage stage;
    bool sender_known;
};

// VRFY runs the recipient rules, but there is no MAIL FROM in a VRFY session: sender unknown.
constexpr std::array<StateInfo, 8> kStates{{
    {"CONNECT", Stage::connect, false},
    {"EHLO", Stage::helo, false},
    {"HELO", Stage::helo, false},
    {"MAIL", Stage::mail, true},
    {"RCPT", Stage::rcpt, true},
    {"VRFY", Stage::rcpt, false},
    {"DATA", Stage::data, true},
    {"END-OF-MESSAGE", Stage::end_of_message, true},
}};

}  // namespace

MapStatus map_policy_request(const PolicyAttributes& a, Request& r, std::string& error) {
    if (a.protocol_state.empty()) {
        error = "request without protocol_state";
        return MapStatus::invalid;
    }
    const StateInfo* state = nullptr;
    for (const auto& s : kStates) {
        if (equal_ignoring_ascii_case(s.name, a.protocol_state)) state = &s;
    }
    if (state == nullptr) {
        // ETRN is a state Postfix really sends (smtpd_etrn_restrictions) and carries no mail: not ours.
        // Anything else is not Postfix speaking as documented: the handler must not wave it through.
        const bool etrn = equal_ignoring_ascii_case(a.protocol_state, "ETRN");
        error = (etrn ? "no rules for protocol_state " : "unknown protocol_state ") + std::string(a.protocol_state);
        return etrn ? MapStatus::ignore : MapStatus::unknown_state;
    }
    if (!parse_number(a.recipient_count, r.recipient_count)) {
        error = "recipient_count is not a number";
        return MapStatus::invalid;
    }
    if (!parse_number(a.size, r.size)) {
        error = "size is not a number";
        return MapStatus::invalid;
    }
    r.stage = state->stage;
    r.sender_known = state->sender_known;
    // Postfix writes "unknown" for what it does not know; Request uses "" for that.
    // assign(), not a new string: a reused Request keeps its capacity.
    if (equal_ignoring_ascii_case(a.client_address, "unknown"))
        r.client_address.clear();
    else
        r.client_address.assign(a.client_address);
    r.client_name.assign(a.client_name);
    r.helo_name.assign(a.helo_name);
    r.sasl_login.assign(a.sasl_username);
    r.sasl_method.assign(a.sasl_method);
    r.sender.assign(a.sender);
    r.recipient.assign(a.recipient);
    r.tls_protocol.assign(a.encryption_protocol);
    r.tls_cipher.assign(a.encryption_cipher);
    r.queue_id.assign(a.queue_id);
    r.instance.assign(a.instance);
    r.header_from.clear();
    return MapStatus::ok;
}

MapResult map_policy_request(const PolicyAttributes& a) {
    MapResult result;
    result.status = map_policy_request(a, result.request, result.error);
    return result;
}

}  // namespace relay::policyd
