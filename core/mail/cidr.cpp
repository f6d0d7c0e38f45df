// IP addresses and CIDR networks, parsed with inet_pton (strict: no octal, no short IPv4 forms).
#include "core/mail/cidr.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "core/base/text.hpp"

namespace relay {
namespace {

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool set_error(std::string* error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

// Bit i (0 = most significant of byte 0) of an address.
bool bit(const std::array<std::uint8_t, 16>& bytes, unsigned i) {
    return (bytes[i / 8] >> (7 - i % 8)) & 1u;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    std::string_view s = trim(text);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    bool v6_tagged = false;
    if (s.size() > 5 && ascii_lower(s.substr(0, 5)) == "ipv6:") {
        s.remove_prefix(5);
        v6_tagged = true;
    }
    if (s.empty() || s.size() > 64) return std::nullopt;
    const std::string buf(s);
    IpAddress a;
    if (!v6_tagged && inet_pton(AF_INET, buf.c_str(), a.bytes.data()) == 1) {
        a.v4 = true;
        return a;
    }
    // Zone ids ("fe80::1%eth0") are refused by inet_pton: a link-local client is never a relay client.
    if (inet_pton(AF_INET6, buf.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v4 = false;
    if (std::memcmp(a.bytes.data(), kV4MappedPrefix, sizeof kV4MappedPrefix) == 0) {
        std::array<std::uint8_t, 16> v4{};
        std::memcpy(v4.data(), a.bytes.data() + 12, 4);
        a.bytes = v4;
        a.v4 = true;
    }
    return a;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf)) return "?";
    return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* error) {
    const std::string_view s = trim(text);
    const std::size_t slash = s.find('/');
    const std::string_view addr_text = s.substr(0, slash);
    auto address = IpAddress::parse(addr_text);
    if (!address) {
        set_error(error, "'" + printable(addr_text, 64) + "' is not an IPv4 or IPv6 address");
        return std::nullopt;
    }
    // An IPv4-mapped network (::ffff:192.0.2.0/120) is the IPv4 network it maps.
    const bool was_mapped = address->v4 && addr_text.find(':') != std::string_view::npos;
    unsigned prefix = address->v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
        const std::string_view p = s.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos) {
            set_error(error, "prefix length '" + printable(p, 16) + "' is not a number");
            return std::nullopt;
        }
        prefix = static_cast<unsigned>(std::stoul(std::string(p)));
        if (was_mapped) {
            if (prefix < 96 || prefix > 128) {
                set_error(error, "an IPv4-mapped network needs a prefix length of 96 to 128");
                return std::nullopt;
            }
            prefix -= 96;
        }
        const unsigned max = address->v4 ? 32 : 128;
        if (prefix > max) {
            set_error(error, "prefix length " + std::to_string(prefix) + " is larger than " + std::to_string(max));
            return std::nullopt;
        }
    }
    const unsigned width = address->v4 ? 32 : 128;
    for (unsigned i = prefix; i < width; ++i) {
        if (bit(address->bytes, i)) {
            set_error(error, "'" + printable(s, 64) + "' has host bits set (did you mean a different network?)");
            return std::nullopt;
        }
    }
    Cidr c;
    c.network = *address;
    c.prefix = prefix;
    return c;
}

bool Cidr::contains(const IpAddress& address) const {
    if (address.v4 != network.v4) return false;
    const unsigned full = prefix / 8;
    if (std::memcmp(address.bytes.data(), network.bytes.data(), full) != 0) return false;
    const unsigned rest = prefix % 8;
    if (rest == 0) return true;
    const std::uint8_t mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
    return (address.bytes[full] & mask) == (network.bytes[full] & mask);
}

std::string Cidr::str() const {
    return network.str() + "/" + std::to_string(prefix);
}

}  // namespace relay
