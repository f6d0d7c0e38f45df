// IPv4 and IPv6 addresses and CIDR networks. IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are treated as
// the IPv4 address, because that is how a dual-stack MTA may report an IPv4 client.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay {

struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
    bool v4 = true;

    // Accepts dotted quad, RFC 4291 text forms, optional [brackets] and an "IPv6:" prefix (Postfix style).
    static std::optional<IpAddress> parse(std::string_view text);
    std::string str() const;
    bool operator==(const IpAddress& o) const { return v4 == o.v4 && bytes == o.bytes; }
};

struct Cidr {
    IpAddress network;       // host bits are zero
    unsigned prefix = 32;    // 0..32 for IPv4, 0..128 for IPv6

    // "192.0.2.0/24", "2001:db8::/32", or a bare address (= /32 or /128). Host bits set is an error
    // ("192.0.2.1/24" is refused: the admin probably meant something else). On failure returns nullopt
    // and, if error is given, a sentence saying why.
    static std::optional<Cidr> parse(std::string_view text, std::string* error = nullptr);
    bool contains(const IpAddress& address) const;
    std::string str() const;
};

}  // namespace relay
