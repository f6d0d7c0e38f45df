// RFC 5322 section 3.4 (address-list, mailbox, group), with the section 4 obsolete forms a real mailer still
// produces (empty list elements, dots in display names, routes, CFWS between local-part words) and RFC 2047
// encoded words in display names. A recursive descent over bytes; recursion depth is fixed (field → group →
// mailbox), comments are skipped iteratively with a depth cap, so hostile input cannot exhaust the stack.
#include "core/mail/header_address.hpp"

#include <cstdio>
#include <utility>

namespace relay {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_atext(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return true;  // RFC 6532: UTF-8 in atoms; parse_address decides what it accepts
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
            return true;
        default:
            return false;
    }
}

// For error texts: printable ASCII only, bounded.
std::string printable(std::string_view s, std::size_t max_len = 80) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max_len) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    return out;
}

std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
    return buf;
}

class Parser {
public:
    Parser(std::string_view text, const HeaderParseLimits& limits) : s_(text), limits_(limits) {}

    HeaderAddressResult run();

private:
    std::string_view s_;
    const HeaderParseLimits& limits_;
    std::size_t pos_ = 0;
    std::string error_;
    HeaderAddressResult result_;

    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[pos_]; }
    bool fail(std::string message) {
        if (error_.empty()) error_ = std::move(message);
        return false;
    }

    bool skip_cfws();
    bool skip_comment();
    bool read_quoted(std::string& raw, std::string& content);
    std::size_t encoded_word_length() const;
    bool read_phrase(std::string& phrase, std::size_t& words);
    bool read_local_part(std::string& local);
    bool read_domain(std::string& domain);
    bool read_addr_spec(std::string& addr_spec);
    bool read_angle_addr(std::string& addr_spec);
    bool add_mailbox(std::string display_name, const std::string& addr_spec, const std::string& group);
    bool read_mailbox(const std::string& group);
    bool read_group(std::string name);
    bool read_address();
};

bool Parser::skip_comment() {
    // at '('; nested comments and quoted pairs, depth capped
    std::size_t depth = 0;
    while (!at_end()) {
        const char c = s_[pos_++];
        if (c == '\\') {
            if (at_end()) break;
            ++pos_;
        } else if (c == '(') {
            if (++depth > limits_.max_comment_depth) return fail("comments nested too deeply");
        } else if (c == ')') {
            if (--depth == 0) return true;
        }
    }
    return fail("comment not closed with ')'");
}

bool Parser::skip_cfws() {
    while (!at_end()) {
        if (is_wsp(s_[pos_])) {
            ++pos_;
        } else if (s_[pos_] == '(') {
            if (!skip_comment()) return false;
        } else {
            break;
        }
    }
    return true;
}

// At '"'. raw keeps the quotes and quoted pairs (a quoted local part is passed on as written); content is
// what it means (for display names). Folding (CR/LF) inside is removed, the white space after it kept.
bool Parser::read_quoted(std::string& raw, std::string& content) {
    raw += '"';
    ++pos_;
    while (!at_end()) {
        const char c = s_[pos_++];
        if (c == '"') {
            raw += '"';
            return true;
        }
        if (c == '\r' || c == '\n') continue;
        if (c == '\\') {
            if (at_end()) break;
            const char q = s_[pos_++];
            raw += '\\';
            raw += q;
            content += q;
            continue;
        }
        raw += c;
        content += c;
    }
    return fail("quoted string not closed with '\"'");
}

// RFC 2047: =?charset?B|Q?text?= with no white space and no '?' inside text. 0 when not one.
std::size_t Parser::encoded_word_length() const {
    std::string_view rest = s_.substr(pos_);
    if (rest.size() < 8 || rest.substr(0, 2) != "=?") return 0;
    std::size_t i = 2;
    const auto token_char = [](char c) {
        return c > ' ' && c < 0x7f && c != '?' && c != '(' && c != ')' && c != '<' && c != '>' &&
               c != '@' && c != ',' && c != ';' && c != ':' && c != '"' && c != '[' && c != ']';
    };
    const std::size_t charset_start = i;
    while (i < rest.size() && token_char(rest[i])) ++i;
    if (i == charset_start || i + 3 > rest.size() || rest[i] != '?') return 0;
    const char enc = rest[i + 1];
    if ((enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q') || rest[i + 2] != '?') return 0;
    i += 3;
    while (i < rest.size() && rest[i] > ' ' && rest[i] < 0x7f && rest[i] != '?') ++i;
    if (i + 1 >= rest.size() || rest[i] != '?' || rest[i + 1] != '=') return 0;
    return i + 2;
}

// A display name (possibly empty): atoms, quoted strings, encoded words, obsolete dots. Stops before any
// character that ends a phrase; the caller decides what that character means.
bool Parser::read_phrase(std::string& phrase, std::size_t& words) {
    words = 0;
    for (;;) {
        if (!skip_cfws()) return false;
        if (at_end()) return true;
        const char c = peek();
        std::string word;
        if (c == '<' || c == '>' || c == ':' || c == ',' || c == ';' || c == '@') return true;
        if (c == '"') {
            std::string raw;
            if (!read_quoted(raw, word)) return false;
        } else if (const std::size_t n = encoded_word_length(); n > 0) {
            word.assign(s_.substr(pos_, n));
            pos_ += n;
        } else if (is_atext(c) || c == '.') {
            while (!at_end() && (is_atext(peek()) || peek() == '.')) word += s_[pos_++];
        } else {
            return fail("unexpected " + describe_char(c) + " in display name");
        }
        if (words++ > 0) phrase += ' ';
        phrase += word;
    }
}

bool Parser::read_local_part(std::string& local) {
    for (;;) {
        if (!skip_cfws()) return false;
        const char c = peek();
        if (c == '"') {
            std::string content;
            if (!read_quoted(local, content)) return false;
        } else if (is_atext(c)) {
            while (!at_end() && is_atext(peek())) local += s_[pos_++];
        } else if (local.empty()) {
            return fail(at_end() ? "address expected, found the end of the field"
                                 : "unexpected " + describe_char(c) + " where an address should start");
        }
        if (!skip_cfws()) return false;
        if (peek() != '.') return true;
        local += '.';
        ++pos_;
    }
}

bool Parser::read_domain(std::string& domain) {
    if (!skip_cfws()) return false;
    if (peek() == '[') {
        while (!at_end() && peek() != ']') {
            const char c = s_[pos_++];
            if (c == '[' && !domain.empty()) return fail("'[' inside a domain literal");
            if (!is_wsp(c)) domain += c;
        }
        if (at_end()) return fail("domain literal not closed with ']'");
        domain += s_[pos_++];
        return skip_cfws();
    }
    for (;;) {
        if (!skip_cfws()) return false;
        const std::size_t start = pos_;
        while (!at_end() && is_atext(peek())) domain += s_[pos_++];
        if (pos_ == start) {
            return fail(at_end() ? "domain expected after '@'"
                                 : "unexpected " + describe_char(peek()) + " in domain");
        }
        if (!skip_cfws()) return false;
        if (peek() != '.') return true;
        domain += '.';
        ++pos_;
    }
}

bool Parser::read_addr_spec(std::string& addr_spec) {
    std::string local;
    if (!read_local_part(local)) return false;
    if (peek() != '@') {
        if (at_end() || peek() == ',' || peek() == ';' || peek() == '>')
            return fail("address '" + printable(local) + "' has no domain");
        return fail("unexpected " + describe_char(peek()) + " after '" + printable(local) +
                    "' (a display name needs <angle brackets> around the address)");
    }
    ++pos_;
    std::string domain;
    if (!read_domain(domain)) return false;
    addr_spec = local + "@" + domain;
    return true;
}

// At '<'. The obsolete route "<@a,@b:user@dom>" is read and dropped.
bool Parser::read_angle_addr(std::string& addr_spec) {
    ++pos_;
    if (!skip_cfws()) return false;
    if (peek() == '>') return fail("empty address <> in a header");
    if (peek() == '@') {
        while (!at_end() && peek() != ':') {
            const char c = s_[pos_++];
            if (c == '>' || c == '<' || c == '"' || c == ';') return fail("malformed route in <...>");
        }
        if (at_end()) return fail("malformed route in <...>");
        ++pos_;
    }
    if (!read_addr_spec(addr_spec)) return false;
    if (peek() != '>') {
        return fail(at_end() ? "'<' not closed with '>'"
                             : "unexpected " + describe_char(peek()) + " inside <...>");
    }
    ++pos_;
    return skip_cfws();
}

bool Parser::add_mailbox(std::string display_name, const std::string& addr_spec, const std::string& group) {
    if (result_.mailboxes.size() >= limits_.max_mailboxes)
        return fail("more than " + std::to_string(limits_.max_mailboxes) + " addresses");
    const AddressResult parsed = parse_address(addr_spec);
    if (!parsed.ok || parsed.null_sender) {
        return fail("address '" + printable(addr_spec) + "' is malformed" +
                    (parsed.error.empty() ? std::string() : ": " + printable(parsed.error, 120)));
    }
    HeaderMailbox box;
    box.display_name = std::move(display_name);
    box.addr_spec = addr_spec;
    box.address = parsed.address;
    box.group = group;
    result_.mailboxes.push_back(std::move(box));
    return true;
}

// A mailbox: name-addr or addr-spec. An addr-spec is re-read from the start, because its local part looks
// like a phrase until the '@' shows up.
bool Parser::read_mailbox(const std::string& group) {
    const std::size_t start = pos_;
    std::string phrase;
    std::size_t words = 0;
    if (!read_phrase(phrase, words)) return false;
    std::string addr_spec;
    switch (peek()) {
        case '<':
            if (!read_angle_addr(addr_spec)) return false;
            return add_mailbox(std::move(phrase), addr_spec, group);
        case ':':
            return fail(group.empty() ? "unexpected ':'" : "group inside group '" + printable(group) + "'");
        default:
            break;
    }
    pos_ = start;
    if (!read_addr_spec(addr_spec)) return false;
    return add_mailbox({}, addr_spec, group);
}

// After "name:". Members until ';'; empty members (",,") are tolerated like in address lists.
bool Parser::read_group(std::string name) {
    ++pos_;
    ++result_.groups;
    for (;;) {
        if (!skip_cfws()) return false;
        if (at_end()) return fail("group '" + printable(name) + "' not closed with ';'");
        if (peek() == ';') {
            ++pos_;
            return skip_cfws();
        }
        if (peek() == ',') {
            ++pos_;
            continue;
        }
        if (!read_mailbox(name)) return false;
        if (!skip_cfws()) return false;
        if (!at_end() && peek() != ',' && peek() != ';')
            return fail("unexpected " + describe_char(peek()) + " after an address in group '" +
                        printable(name) + "'");
    }
}

bool Parser::read_address() {
    const std::size_t start = pos_;
    std::string phrase;
    std::size_t words = 0;
    if (!read_phrase(phrase, words)) return false;
    if (peek() == ':') {
        if (words == 0) return fail("group without a name before ':'");
        return read_group(std::move(phrase));
    }
    pos_ = start;
    return read_mailbox({});
}

HeaderAddressResult Parser::run() {
    if (s_.size() > limits_.max_field_bytes) {
        fail("header field longer than " + std::to_string(limits_.max_field_bytes) + " bytes");
    } else {
        bool ok = skip_cfws();
        bool any = false;
        while (ok && !at_end()) {
            if (peek() == ',') {  // obsolete empty list element
                ++pos_;
            } else {
                any = true;
                ok = read_address() && skip_cfws();
                if (ok && !at_end() && peek() != ',')
                    ok = fail("unexpected " + describe_char(peek()) + " after an address (missing ','?)");
            }
            ok = ok && skip_cfws();
        }
        if (ok && !any) fail("no address in the field");
    }
    if (!error_.empty()) {
        HeaderAddressResult bad;
        bad.error = error_;
        return bad;
    }
    result_.ok = true;
    return std::move(result_);
}

}  // namespace

HeaderAddressResult parse_header_addresses(std::string_view field_value, const HeaderParseLimits& limits) {
    return Parser(field_value, limits).run();
}

}  // namespace relay
