// Envelope address parsing (RFC 5321 section 4.1.2, RFC 6531 for UTF-8) and domain normalisation
// (IDNA2008 via libidn2). The rule throughout: when in doubt the address is malformed, because a wrong
// "yes, this is alice@example.com" would let a stranger send as alice.
#include "core/mail/address.hpp"

#include <arpa/inet.h>
#include <idn2.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/base/text.hpp"

namespace relay {
namespace {

constexpr std::size_t kMaxInput = 1024;    // far above any valid path; bounds the work on junk
constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t kMaxAddress = 254;   // RFC 5321 path limit (256) minus the angle brackets
constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMaxLabel = 63;

bool is_atext(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

// Length of one well-formed non-ASCII UTF-8 character at s[i] (RFC 6531 UTF8-non-ascii), 0 if there is
// none. Overlong forms, surrogates, C1 controls and code points above U+10FFFF are refused.
std::size_t utf8_char(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1fu; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0fu; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07u; }
    else return 0;
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xc0u) != 0x80u) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3fu);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    if (overlong || surrogate || cp > 0x10ffff || cp < 0xa0) return 0;
    return len;
}

// dot-atom: atoms of atext (or UTF-8) separated by single dots, no dot at either end.
bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '.') {
            if (s[i + 1] == '.') return false;  // safe: s.back() != '.'
            ++i;
        } else if (is_atext(c)) {
            ++i;
        } else if (std::size_t n = utf8_char(s, i)) {
            i += n;
        } else {
            return false;
        }
    }
    return true;
}

std::string quote(std::string_view content) {
    std::string out = "\"";
    for (char c : content) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

bool fail(std::string* error, const char* why) {
    if (error) *error = why;
    return false;
}

// Reads the quoted-string at the start of s. The content is unescaped; if it is a plain dot-atom the
// quotes made no difference ("alice" == alice) and are dropped, otherwise the address keeps its canonical
// quoted form so it can never compare equal to an unquoted login.
bool parse_quoted_local(std::string_view s, std::string& local, std::size_t& consumed, std::string* error) {
    std::string content;
    std::size_t i = 1;
    for (;;) {
        if (i >= s.size()) return fail(error, "unterminated quoted local part");
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"') break;
        if (c == '\\') {
            if (i + 1 >= s.size()) return fail(error, "unterminated quoted local part");
            const unsigned char e = static_cast<unsigned char>(s[i + 1]);
            if (e < 0x20 || e > 0x7e) return fail(error, "invalid character in quoted local part");
            content += static_cast<char>(e);
            i += 2;
        } else if (c >= 0x20 && c <= 0x7e) {
            content += static_cast<char>(c);
            ++i;
        } else if (std::size_t n = utf8_char(s, i)) {
            content.append(s.substr(i, n));
            i += n;
        } else {
            return fail(error, "invalid character in quoted local part");
        }
    }
    consumed = i + 1;
    if (consumed > kMaxLocalPart) return fail(error, "local part longer than 64 characters");
    content = ascii_lower(content);
    local = is_dot_atom(content) ? content : quote(content);
    return true;
}

bool parse_local(std::string_view s, std::string& local, std::size_t& consumed, std::string* error) {
    if (!s.empty() && s.front() == '"') return parse_quoted_local(s, local, consumed, error);
    const std::size_t at = s.find('@');
    if (at == std::string_view::npos) return fail(error, "missing @domain");
    const std::string_view raw = s.substr(0, at);
    if (raw.empty()) return fail(error, "empty local part");
    if (raw.size() > kMaxLocalPart) return fail(error, "local part longer than 64 characters");
    if (!is_dot_atom(raw)) return fail(error, "invalid character or dot in local part");
    local = ascii_lower(raw);
    consumed = at;
    return true;
}

// [192.0.2.1] or [IPv6:2001:db8::1] -> canonical lower-case text. General (tagged) literals are refused.
bool parse_address_literal(std::string_view s, std::string& out, std::string* error) {
    if (s.size() < 3 || s.back() != ']') return fail(error, "unterminated address literal");
    std::string inner(s.substr(1, s.size() - 2));
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (inner.size() > 5 && ascii_lower(inner.substr(0, 5)) == "ipv6:") {
        if (inet_pton(AF_INET6, inner.c_str() + 5, bin) != 1 || !inet_ntop(AF_INET6, bin, buf, sizeof buf))
            return fail(error, "invalid IPv6 address literal");
        out = std::string("[ipv6:") + buf + "]";
        return true;
    }
    if (inet_pton(AF_INET, inner.c_str(), bin) != 1 || !inet_ntop(AF_INET, bin, buf, sizeof buf))
        return fail(error, "invalid address literal");
    out = std::string("[") + buf + "]";
    return true;
}

bool parse_domain_part(std::string_view s, std::string& out, std::string* error) {
    if (s.empty()) return fail(error, "empty domain");
    if (s.front() == '[') return parse_address_literal(s, out, error);
    auto normalised = normalize_domain(s, error);
    if (!normalised) return false;
    out = std::move(*normalised);
    return true;
}

// "@a,@b:" -> skipped (each hop must still be a valid domain). Returns the position after the ':'.
// Why an address with this (parsed) local part can be routed to another host, or "" when it cannot.
// A quoted local part keeps its quotes and escapes only '"' and '\\', so the operators are still visible.
std::string local_part_routing(const std::string& local) {
    const bool quoted = !local.empty() && local.front() == '"';
    if (local.find('@') != std::string::npos) return "an @ in the quoted local part";
    if (local.find('%') != std::string::npos)
        return std::string("a percent sign in the ") + (quoted ? "quoted " : "") + "local part";
    if (local.find('!') != std::string::npos)
        return std::string("a bang path (!) in the ") + (quoted ? "quoted " : "") + "local part";
    return "";
}

bool skip_source_route(std::string_view s, std::size_t& pos, std::string* error) {
    std::size_t i = 0;
    for (;;) {
        if (i >= s.size() || s[i] != '@') return fail(error, "malformed source route");
        ++i;
        std::size_t end;
        if (i < s.size() && s[i] == '[') {
            end = s.find(']', i);
            if (end != std::string_view::npos) ++end;
        } else {
            end = s.find_first_of(",:", i);
        }
        if (end == std::string_view::npos || end >= s.size()) return fail(error, "malformed source route");
        std::string ignored;
        if (!parse_domain_part(s.substr(i, end - i), ignored, error)) return false;
        if (s[end] == ':') {
            pos = end + 1;
            return true;
        }
        if (s[end] != ',') return fail(error, "malformed source route");
        i = end + 1;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool valid_ldh_label(std::string_view label, std::string* error) {
    if (label.empty()) return fail(error, "empty label in domain");
    if (label.size() > kMaxLabel) return fail(error, "domain label longer than 63 characters");
    for (char c : label) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return fail(error, "invalid character in domain");
    }
    if (label.front() == '-' || label.back() == '-') return fail(error, "domain label starts or ends with '-'");
    return true;
}

// IDNA2008 lookup conversion; also validates existing A-labels ("xn--...").
bool idna_to_ascii(const std::string& name, std::string& out, std::string* error) {
    char* converted = nullptr;
    const int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(name.c_str()),
                                  reinterpret_cast<uint8_t**>(&converted),
                                  IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    std::unique_ptr<char, decltype(&std::free)> holder(converted, &std::free);
    if (rc != IDN2_OK || !converted) {
        if (error) *error = std::string("invalid international domain name (") + idn2_strerror(rc) + ")";
        return false;
    }
    out = converted;
    return true;
}

bool validate_host_name(const std::string& name, std::string* error) {
    if (name.size() > kMaxDomain) return fail(error, "domain longer than 253 characters");
    std::size_t start = 0;
    std::string_view last;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label =
            std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!valid_ldh_label(label, error)) return false;
        if (label.size() > 4 && label.substr(0, 4) == "xn--") {
            std::string ignored;
            if (!idna_to_ascii(std::string(label), ignored, error)) return false;
        }
        last = label;
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    if (last.find_first_not_of("0123456789") == std::string_view::npos)
        return fail(error, "numeric top-level label (write an IP address as [192.0.2.1])");
    return true;
}

}  // namespace

std::string Address::base_local_part() const {
    if (local_part.empty() || local_part.front() == '"') return local_part;
    const std::size_t plus = local_part.find('+');
    if (plus == std::string::npos || plus == 0) return local_part;
    return local_part.substr(0, plus);
}

std::optional<std::string> normalize_domain(std::string_view domain, std::string* error) {
    if (domain.empty()) return fail(error, "empty domain"), std::nullopt;
    if (domain.size() > kMaxInput) return fail(error, "domain too long"), std::nullopt;
    bool ascii = true;
    for (char ch : domain) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c >= 0x80) {
            ascii = false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '.')) {
            return fail(error, "invalid character in domain"), std::nullopt;
        }
    }
    std::string name;
    if (ascii) {
        name = ascii_lower(domain);
    } else if (!idna_to_ascii(std::string(domain), name, error)) {
        return std::nullopt;
    }
    if (!validate_host_name(name, error)) return std::nullopt;
    return name;
}

AddressResult parse_address(std::string_view raw) {
    AddressResult r;
    if (raw.size() > kMaxInput) {
        r.error = "address too long";
        return r;
    }
    std::string_view s = trim(raw);
    if (!s.empty() && s.front() == '<') {
        if (s.size() < 2 || s.back() != '>') {
            r.error = "unbalanced angle brackets";
            return r;
        }
        s = s.substr(1, s.size() - 2);
    }
    if (s.empty()) {
        r.null_sender = true;
        r.error = "null address <>";
        return r;
    }
    const bool source_routed = s.front() == '@';
    if (source_routed) {
        std::size_t pos = 0;
        if (!skip_source_route(s, pos, &r.error)) return r;
        s = s.substr(pos);
    }
    std::size_t consumed = 0;
    if (!parse_local(s, r.address.local_part, consumed, &r.error)) return r;
    if (consumed >= s.size() || s[consumed] != '@') {
        r.error = consumed >= s.size() ? "missing @domain" : "unexpected text after the local part";
        return r;
    }
    if (!parse_domain_part(s.substr(consumed + 1), r.address.domain, &r.error)) return r;
    if (r.address.str().size() > kMaxAddress) {
        r.error = "address longer than 254 characters";
        return r;
    }
    r.routing = local_part_routing(r.address.local_part);
    if (r.routing.empty() && source_routed) r.routing = "a source route";
    r.ok = true;
    return r;
}

std::optional<std::string> canonical_login(std::string_view login, std::string* error) {
    const AddressResult parsed = parse_address(login);
    if (!parsed.ok) return fail(error, parsed.error.c_str()), std::nullopt;
    std::string key = parsed.address.str();
    const std::string typed = ascii_lower(login);
    if (typed == key) return key;
    const std::size_t at = typed.rfind('@');
    if (typed.substr(0, at) != parsed.address.local_part)
        return fail(error, "the local part is not written as the login (quotes, angle brackets, blanks or a route)"),
               std::nullopt;
    // Not the A-label: accept exactly the U-label form of the stored domain, nothing that maps onto it.
    char* unicode = nullptr;
    const int rc = idn2_to_unicode_8z8z(parsed.address.domain.c_str(), &unicode, 0);
    std::unique_ptr<char, decltype(&std::free)> holder(unicode, &std::free);
    if (rc != IDN2_OK || !unicode || typed.compare(at + 1, std::string::npos, unicode) != 0)
        return fail(error, "the domain is not written as the login's domain (only its A-label or exact U-label)"),
               std::nullopt;
    return key;
}

bool SenderPattern::matches(const Address& sender) const {
    if (sender.domain != domain) return false;
    if (local_part.empty()) return true;
    return sender.local_part == local_part || sender.base_local_part() == local_part;
}

std::optional<SenderPattern> parse_sender_pattern(std::string_view text, std::string* error) {
    const std::string_view t = trim(text);
    if (t.empty()) return fail(error, "empty sender pattern"), std::nullopt;
    SenderPattern p;
    if (t.front() == '@' && t.find('@', 1) == std::string_view::npos) {
        if (!parse_domain_part(t.substr(1), p.domain, error)) return std::nullopt;
        return p;
    }
    AddressResult r = parse_address(t);
    if (!r.ok) return fail(error, r.error.c_str()), std::nullopt;
    p.local_part = std::move(r.address.local_part);
    p.domain = std::move(r.address.domain);
    return p;
}

}  // namespace relay
