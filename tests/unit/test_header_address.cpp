// parse_header_addresses(): the From:/Sender: parser relay-milter's ownership check stands on.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/mail/header_address.hpp"

using relay::HeaderAddressResult;
using relay::parse_header_addresses;

namespace {

struct Case {
    const char* name;
    std::string input;
    std::vector<std::string> want;  // normalised addresses, in order; empty + !ok = must be refused
    bool ok = true;
};

std::string joined(const HeaderAddressResult& r) {
    if (!r.ok) return "error(" + r.error + ")";
    std::string out;
    for (const auto& m : r.mailboxes) out += (out.empty() ? "" : ",") + m.address.str();
    return out.empty() ? "(none)" : out;
}

std::string joined(const std::vector<std::string>& v, bool ok) {
    if (!ok) return "error";
    std::string out;
    for (const auto& a : v) out += (out.empty() ? "" : ",") + a;
    return out.empty() ? "(none)" : out;
}

const std::string A = "alice@example.com";
const std::string B = "bob@example.org";

std::vector<Case> cases() {
    std::string many;
    for (int i = 0; i < 101; ++i) many += (i ? ", u" : "u") + std::to_string(i) + "@example.com";
    return {
        {"bare addr-spec", "alice@example.com", {A}},
        {"angle only", "<alice@example.com>", {A}},
        {"atom display name", "Alice <alice@example.com>", {A}},
        {"multi-word display name", "Alice Smith <alice@example.com>", {A}},
        {"quoted display name with comma", "\"Smith, Alice\" <alice@example.com>", {A}},
        {"quoted display name with escaped quote", "\"Alice \\\"Al\\\" Smith\" <alice@example.com>", {A}},
        {"trailing comment", "alice@example.com (Alice Smith)", {A}},
        {"nested comment", "alice@example.com (Alice (the boss) Smith)", {A}},
        {"comments around local part and domain", "alice(x)@(y)example.com", {A}},
        {"mixed case", "Alice <ALICE@Example.COM>", {A}},
        {"folded display name", "Alice\r\n Smith <alice@example.com>", {A}},
        {"folded before '>'", "<alice@example.com\r\n\t>", {A}},
        {"folded with bare LF", "Alice\n\tSmith\n <alice@example.com>", {A}},
        {"two addr-specs", "alice@example.com, bob@example.org", {A, B}},
        {"two name-addrs", "Alice <alice@example.com>, \"Bob\" <bob@example.org>", {A, B}},
        {"group with members", "Team: alice@example.com, Bob <bob@example.org>;", {A, B}},
        {"empty group", "undisclosed-recipients:;", {}},
        {"group then mailbox", "Team: alice@example.com;, bob@example.org", {A, B}},
        {"group with comment and folding", "Team (ours):\r\n alice@example.com ;", {A}},
        {"encoded word Q display name", "=?UTF-8?Q?J=C3=B6rg?= <alice@example.com>", {A}},
        {"encoded word B display name", "=?utf-8?B?SsO2cmc=?= <alice@example.com>", {A}},
        {"encoded word hiding an @", "=?utf-8?q?bob@evil.example?= <alice@example.com>", {A}},
        {"encoded words next to atoms", "=?utf-8?q?J=C3=B6rg?= Smith <alice@example.com>", {A}},
        {"quoted display name looking like an address", "\"bob@evil.example\" <alice@example.com>", {A}},
        {"quoted local part", "\"alice\"@example.com", {A}},
        {"obsolete dotted display name", "Alice J. Smith <alice@example.com>", {A}},
        {"obsolete route", "<@relay.example,@other.example:alice@example.com>", {A}},
        {"domain literal", "alice@[192.0.2.1]", {"alice@[192.0.2.1]"}},
        {"empty list element", "alice@example.com,, bob@example.org", {A, B}},
        {"IDN domain", "alice@b\xc3\xbc" "cher.example", {"alice@xn--bcher-kva.example"}},
        {"surrounding blanks and comment", "  <alice@example.com>   (x)  ", {A}},
        {"plus extension kept", "alice+news@example.com", {"alice+news@example.com"}},
        // refused
        {"empty field", "", {}, false},
        {"only a comment", "(nobody)", {}, false},
        {"no domain", "alice", {}, false},
        {"display name without brackets", "Alice alice@example.com", {}, false},
        {"unclosed angle bracket", "Alice <alice@example.com", {}, false},
        {"unclosed quoted string", "\"Alice <alice@example.com>", {}, false},
        {"unclosed comment", "alice@example.com (Alice", {}, false},
        {"empty angle address", "Alice <>", {}, false},
        {"unclosed group", "Team: alice@example.com", {}, false},
        {"group in group", "A: B: alice@example.com;;", {}, false},
        {"group without name", ": alice@example.com;", {}, false},
        {"missing comma", "alice@example.com bob@example.org", {}, false},
        {"two angle addresses", "<alice@example.com> <bob@example.org>", {}, false},
        {"text after angle address", "Alice <alice@example.com> Smith", {}, false},
        {"double at", "alice@@example.com", {}, false},
        {"double dot in local part", "alice..x@example.com", {}, false},
        {"space in domain", "alice@exa mple.com", {}, false},
        {"comments nested too deeply", std::string(20, '(') + std::string(20, ')') + "alice@example.com",
         {}, false},
        {"field too long", "alice@example.com (" + std::string(20000, 'x') + ")", {}, false},
        {"NUL byte", std::string("alice@example.com\0", 18), {}, false},
        {"too many addresses", many, {}, false},
        {"backslash outside quotes", "Al\\ice <alice@example.com>", {}, false},
        {"unclosed domain literal", "alice@[192.0.2.1", {}, false},
    };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(header_address)

BOOST_AUTO_TEST_CASE(table) {
    const auto table = cases();
    BOOST_TEST(table.size() >= 30u);
    for (const auto& c : table) {
        const HeaderAddressResult r = parse_header_addresses(c.input);
        const std::string got = joined(r);
        const std::string want = joined(c.want, c.ok);
        const bool match = c.ok ? (r.ok && got == want) : (!r.ok && !r.error.empty());
        BOOST_CHECK_MESSAGE(match, "case " << c.name << ": got " << got << ", want " << want);
    }
}

BOOST_AUTO_TEST_CASE(display_names_and_groups) {
    const auto r = parse_header_addresses(
        "\"Smith, Alice\" <alice@example.com>, Team: =?utf-8?q?J=C3=B6rg?= <bob@example.org>;");
    BOOST_TEST_REQUIRE(r.ok, r.error);
    BOOST_TEST_REQUIRE(r.mailboxes.size() == 2u);
    BOOST_TEST(r.mailboxes[0].display_name == "Smith, Alice");
    BOOST_TEST(r.mailboxes[0].group.empty());
    BOOST_TEST(r.mailboxes[1].display_name == "=?utf-8?q?J=C3=B6rg?=");
    BOOST_TEST(r.mailboxes[1].group == "Team");
    BOOST_TEST(r.mailboxes[1].addr_spec == "bob@example.org");
    BOOST_TEST(r.groups == 1u);
}

BOOST_AUTO_TEST_CASE(errors_say_what_is_wrong) {
    struct E { const char* input; const char* fragment; };
    const E table[] = {
        {"Alice <alice@example.com", "'<' not closed"},
        {"alice", "has no domain"},
        {"Team: alice@example.com", "not closed with ';'"},
        {"Alice alice@example.com", "angle brackets"},
        {"alice@example.com (x", "comment not closed"},
    };
    for (const auto& e : table) {
        const auto r = parse_header_addresses(e.input);
        BOOST_CHECK_MESSAGE(!r.ok && r.error.find(e.fragment) != std::string::npos,
                            "case " << e.input << ": got " << (r.ok ? "ok" : r.error) << ", want an error with '"
                                    << e.fragment << "'");
    }
}

BOOST_AUTO_TEST_CASE(error_text_is_printable) {
    const auto r = parse_header_addresses(std::string("\x01\xff<x>", 5));
    BOOST_TEST_REQUIRE(!r.ok);
    for (char c : r.error) BOOST_TEST((c >= 0x20 && c < 0x7f));
}

BOOST_AUTO_TEST_SUITE_END()
