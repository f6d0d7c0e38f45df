#include <boost/test/unit_test.hpp>

#include <string>

#include "core/mail/cidr.hpp"

using namespace relay;

BOOST_AUTO_TEST_SUITE(cidr)

BOOST_AUTO_TEST_CASE(ip_address_parse_table) {
    struct Case {
        const char* name;
        const char* input;
        const char* want;  // str() of the result, nullptr: invalid
        bool v4;
    } const cases[] = {
        {"ipv4", "192.0.2.1", "192.0.2.1", true},
        {"ipv4_blanks", " 192.0.2.1 ", "192.0.2.1", true},
        {"ipv4_brackets", "[192.0.2.1]", "192.0.2.1", true},
        {"ipv6", "2001:db8::1", "2001:db8::1", false},
        {"ipv6_upper_long", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1", false},
        {"ipv6_postfix_prefix", "IPv6:2001:db8::1", "2001:db8::1", false},
        {"ipv6_brackets_tag", "[IPv6:2001:db8::1]", "2001:db8::1", false},
        {"ipv6_loopback", "::1", "::1", false},
        {"ipv4_mapped", "::ffff:192.0.2.1", "192.0.2.1", true},
        {"ipv4_mapped_hex", "::ffff:c000:0201", "192.0.2.1", true},
        {"ipv4_mapped_tagged", "IPv6:::ffff:192.0.2.1", "192.0.2.1", true},
        {"ipv4_compatible_stays_v6", "::192.0.2.1", "::192.0.2.1", false},
        {"empty", "", nullptr, false},
        {"unknown", "unknown", nullptr, false},
        {"ipv4_octet_too_big", "256.0.0.1", nullptr, false},
        {"ipv4_short_form", "10.1", nullptr, false},
        {"ipv4_leading_zero", "010.0.0.1", nullptr, false},
        {"ipv4_trailing_dot", "192.0.2.1.", nullptr, false},
        {"ipv4_with_tag", "IPv6:192.0.2.1", nullptr, false},
        {"ipv6_zone", "fe80::1%eth0", nullptr, false},
        {"ipv6_two_gaps", "2001::db8::1", nullptr, false},
        {"with_prefix", "192.0.2.0/24", nullptr, false},
        {"host_name", "mail.example.com", nullptr, false},
    };
    for (const auto& c : cases) {
        const auto got = IpAddress::parse(c.input);
        const std::string got_text = got ? got->str() + (got->v4 ? " (v4)" : " (v6)") : "invalid";
        const std::string want_text = c.want ? std::string(c.want) + (c.v4 ? " (v4)" : " (v6)") : "invalid";
        BOOST_CHECK_MESSAGE(got_text == want_text, "case " << c.name << ": got " << got_text << ", want " << want_text);
    }
}

BOOST_AUTO_TEST_CASE(cidr_parse_table) {
    struct Case {
        const char* name;
        const char* input;
        const char* want;  // str(), nullptr: invalid
    } const cases[] = {
        {"ipv4_24", "192.0.2.0/24", "192.0.2.0/24"},
        {"ipv4_bare", "192.0.2.7", "192.0.2.7/32"},
        {"ipv4_zero", "0.0.0.0/0", "0.0.0.0/0"},
        {"ipv4_32", "192.0.2.7/32", "192.0.2.7/32"},
        {"ipv4_odd_prefix", "192.0.2.64/26", "192.0.2.64/26"},
        {"ipv6_32", "2001:db8::/32", "2001:db8::/32"},
        {"ipv6_bare", "2001:db8::1", "2001:db8::1/128"},
        {"ipv6_zero", "::/0", "::/0"},
        {"ipv6_odd_prefix", "2001:db8:8000::/33", "2001:db8:8000::/33"},
        {"ipv4_mapped_network", "::ffff:192.0.2.0/120", "192.0.2.0/24"},
        {"ipv4_mapped_bare", "::ffff:192.0.2.9", "192.0.2.9/32"},
        {"blanks", " 192.0.2.0/24 ", "192.0.2.0/24"},
        {"host_bits_v4", "192.0.2.1/24", nullptr},
        {"host_bits_v4_odd", "192.0.2.65/26", nullptr},
        {"host_bits_v6", "2001:db8::1/64", nullptr},
        {"prefix_too_big_v4", "192.0.2.0/33", nullptr},
        {"prefix_too_big_v6", "2001:db8::/129", nullptr},
        {"prefix_negative", "192.0.2.0/-1", nullptr},
        {"prefix_plus", "192.0.2.0/+24", nullptr},
        {"prefix_empty", "192.0.2.0/", nullptr},
        {"prefix_letters", "192.0.2.0/2x", nullptr},
        {"prefix_huge", "192.0.2.0/99999999999999999999", nullptr},
        {"ipv4_mapped_short_prefix", "::ffff:0.0.0.0/80", nullptr},
        {"no_address", "/24", nullptr},
        {"garbage", "example.com/24", nullptr},
        {"empty", "", nullptr},
    };
    for (const auto& c : cases) {
        std::string error;
        const auto got = Cidr::parse(c.input, &error);
        const std::string got_text = got ? got->str() : "invalid (" + error + ")";
        const bool pass = c.want ? (got && got->str() == c.want) : !got;
        BOOST_CHECK_MESSAGE(pass, "case " << c.name << ": got " << got_text << ", want " << (c.want ? c.want : "invalid"));
        if (!c.want) BOOST_CHECK_MESSAGE(!error.empty(), "case " << c.name << ": got no error text, want one");
    }
}

BOOST_AUTO_TEST_CASE(cidr_contains_table) {
    struct Case {
        const char* name;
        const char* network;
        const char* address;
        bool want;
    } const cases[] = {
        {"v4_inside", "192.0.2.0/24", "192.0.2.200", true},
        {"v4_first", "192.0.2.0/24", "192.0.2.0", true},
        {"v4_last", "192.0.2.0/24", "192.0.2.255", true},
        {"v4_below", "192.0.2.0/24", "192.0.1.255", false},
        {"v4_above", "192.0.2.0/24", "192.0.3.0", false},
        {"v4_odd_inside", "192.0.2.64/26", "192.0.2.127", true},
        {"v4_odd_outside", "192.0.2.64/26", "192.0.2.128", false},
        {"v4_host", "192.0.2.7/32", "192.0.2.7", true},
        {"v4_host_other", "192.0.2.7/32", "192.0.2.8", false},
        {"v4_all", "0.0.0.0/0", "203.0.113.9", true},
        {"v4_all_not_v6", "0.0.0.0/0", "2001:db8::1", false},
        {"v6_all_not_v4", "::/0", "192.0.2.1", false},
        {"v4_mapped_client", "192.0.2.0/24", "::ffff:192.0.2.9", true},
        {"v4_mapped_network", "::ffff:192.0.2.0/120", "192.0.2.9", true},
        {"v6_inside", "2001:db8:1::/48", "2001:db8:1:ffff::1", true},
        {"v6_outside", "2001:db8:1::/48", "2001:db8:2::1", false},
        {"v6_odd_inside", "2001:db8:8000::/33", "2001:db8:ffff::1", true},
        {"v6_odd_outside", "2001:db8:8000::/33", "2001:db8:7fff::1", false},
        {"v6_host", "2001:db8::1/128", "2001:db8::1", true},
        {"v6_host_other", "2001:db8::1/128", "2001:db8::2", false},
        {"v6_all", "::/0", "2001:db8::1", true},
    };
    for (const auto& c : cases) {
        const auto net = Cidr::parse(c.network);
        const auto ip = IpAddress::parse(c.address);
        BOOST_REQUIRE_MESSAGE(net && ip, "case " << c.name << ": fixture does not parse");
        const bool got = net->contains(*ip);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_SUITE_END()
