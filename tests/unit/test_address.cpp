#include <boost/test/unit_test.hpp>

#include <string>

#include "core/mail/address.hpp"

using namespace relay;

namespace {

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

// A domain of exactly n characters made of 63-character labels ("aaa...a.bbb...b...").
std::string domain_of_length(std::size_t n) {
    std::string d;
    char label = 'a';
    while (d.size() < n) {
        if (!d.empty()) d += '.';
        const std::size_t room = n - d.size();
        d += repeat(label++, room > 63 ? 63 : room);
    }
    return d;
}

enum Outcome { OK, NULL_SENDER, MALFORMED };

const char* outcome_name(Outcome o) {
    switch (o) {
        case OK: return "ok";
        case NULL_SENDER: return "null sender";
        case MALFORMED: return "malformed";
    }
    return "?";
}

struct ParseCase {
    std::string name;
    std::string input;
    Outcome want;
    std::string local;   // when OK
    std::string domain;  // when OK
};

std::vector<ParseCase> parse_cases() {
    return {
        {"plain", "alice@example.com", OK, "alice", "example.com"},
        {"angle_brackets", "<alice@example.com>", OK, "alice", "example.com"},
        {"surrounding_blanks", "  <alice@example.com>\t", OK, "alice", "example.com"},
        {"upper_case", "Alice@Example.COM", OK, "alice", "example.com"},
        {"plus_extension", "alice+news@example.com", OK, "alice+news", "example.com"},
        {"percent_hack_kept", "alice%example.org@example.com", OK, "alice%example.org", "example.com"},
        {"all_atext", "a!#$&'*+-/=?^_`{|}~z@example.com", OK, "a!#$&'*+-/=?^_`{|}~z", "example.com"},
        {"dotted_local", "alice.smith@example.com", OK, "alice.smith", "example.com"},
        {"single_label_domain", "root@localhost", OK, "root", "localhost"},
        {"double_hyphen_label", "x@ab--cd.example", OK, "x", "ab--cd.example"},
        {"source_route", "@relay1.example,@relay2.example:bob@example.org", OK, "bob", "example.org"},
        {"source_route_in_angles", "<@relay1.example:bob@example.org>", OK, "bob", "example.org"},
        {"source_route_literal", "<@[192.0.2.1]:bob@example.org>", OK, "bob", "example.org"},
        {"source_route_ipv6_literal", "<@[IPv6:2001:db8::1]:bob@example.org>", OK, "bob", "example.org"},
        {"source_route_no_colon", "@relay1.example bob@example.org", MALFORMED, "", ""},
        {"source_route_empty_hop", "@,@relay.example:bob@example.org", MALFORMED, "", ""},
        {"source_route_bad_hop", "@-bad.example:bob@example.org", MALFORMED, "", ""},
        {"source_route_nothing_after", "@relay1.example:", MALFORMED, "", ""},
        {"quoted_plain", "\"alice\"@example.com", OK, "alice", "example.com"},
        {"quoted_dot_atom", "\"Alice.Smith\"@example.com", OK, "alice.smith", "example.com"},
        {"quoted_escapes_plain", "\"\\a\\l\\ice\"@example.com", OK, "alice", "example.com"},
        {"quoted_space_kept", "\"alice smith\"@example.com", OK, "\"alice smith\"", "example.com"},
        {"quoted_trailing_space_kept", "\"alice \"@example.com", OK, "\"alice \"", "example.com"},
        {"quoted_escaped_quote", "\"a\\\"b\"@example.com", OK, "\"a\\\"b\"", "example.com"},
        {"quoted_at_sign", "\"alice@example.com\"@evil.example", OK, "\"alice@example.com\"", "evil.example"},
        {"quoted_double_dot", "\"al..ice\"@example.com", OK, "\"al..ice\"", "example.com"},
        {"quoted_empty", "\"\"@example.com", OK, "\"\"", "example.com"},
        {"quoted_unterminated", "\"alice@example.com", MALFORMED, "", ""},
        {"quoted_cr", "\"a\rb\"@example.com", MALFORMED, "", ""},
        {"quoted_then_text", "\"alice\"x@example.com", MALFORMED, "", ""},
        {"idna_u_label", "user@bücher.example", OK, "user", "xn--bcher-kva.example"},
        {"idna_upper_u_label", "user@BÜCHER.Example", OK, "user", "xn--bcher-kva.example"},
        {"idna_upper_a_label", "user@XN--BCHER-KVA.example", OK, "user", "xn--bcher-kva.example"},
        {"idna_fullwidth_mapped", "user@ｅｘａｍｐｌｅ.com", OK, "user", "example.com"},
        {"idna_sharp_s_nontransitional", "user@faß.de", OK, "user", "xn--fa-hia.de"},
        {"idna_bad_punycode", "user@xn--zz.example", MALFORMED, "", ""},
        {"utf8_local_part", "jösé@example.com", OK, "jösé", "example.com"},
        {"utf8_local_part_ascii_lowered", "JÖSÉ@example.com", OK, "jÖsÉ", "example.com"},
        {"invalid_utf8_local", "a\xff@example.com", MALFORMED, "", ""},
        {"overlong_utf8_local", "\xc0\xaf@example.com", MALFORMED, "", ""},
        {"truncated_utf8_local", "a\xc3@example.com", MALFORMED, "", ""},
        {"c1_control_local", "a\xc2\x85@example.com", MALFORMED, "", ""},
        {"invalid_utf8_domain", "a@b\xff.example", MALFORMED, "", ""},
        {"literal_ipv4", "postmaster@[192.0.2.1]", OK, "postmaster", "[192.0.2.1]"},
        {"literal_ipv6", "postmaster@[IPv6:2001:DB8::1]", OK, "postmaster", "[ipv6:2001:db8::1]"},
        {"literal_bad_ipv4", "user@[300.1.1.1]", MALFORMED, "", ""},
        {"literal_ipv6_without_tag", "user@[2001:db8::1]", MALFORMED, "", ""},
        {"literal_general_tag", "user@[x400:foo]", MALFORMED, "", ""},
        {"literal_unterminated", "user@[192.0.2.1", MALFORMED, "", ""},
        {"null_empty", "", NULL_SENDER, "", ""},
        {"null_angles", "<>", NULL_SENDER, "", ""},
        {"null_angles_blanks", " <> ", NULL_SENDER, "", ""},
        {"no_domain", "alice", MALFORMED, "", ""},
        {"empty_domain", "alice@", MALFORMED, "", ""},
        {"empty_local", "@example.com", MALFORMED, "", ""},
        {"bare_at", "@", MALFORMED, "", ""},
        {"double_dot_local", "al..ice@example.com", MALFORMED, "", ""},
        {"leading_dot_local", ".alice@example.com", MALFORMED, "", ""},
        {"trailing_dot_local", "alice.@example.com", MALFORMED, "", ""},
        {"two_at_signs", "alice@bob@example.com", MALFORMED, "", ""},
        {"space_in_local", "alice smith@example.com", MALFORMED, "", ""},
        {"space_in_domain", "alice@exa mple.com", MALFORMED, "", ""},
        {"empty_label", "alice@example..com", MALFORMED, "", ""},
        {"leading_dot_domain", "alice@.example.com", MALFORMED, "", ""},
        {"trailing_dot_domain", "alice@example.com.", MALFORMED, "", ""},
        {"hyphen_start_label", "alice@-example.com", MALFORMED, "", ""},
        {"hyphen_end_label", "alice@example-.com", MALFORMED, "", ""},
        {"underscore_domain", "alice@ex_ample.com", MALFORMED, "", ""},
        {"numeric_tld", "alice@192.0.2.1", MALFORMED, "", ""},
        {"unbalanced_open", "<alice@example.com", MALFORMED, "", ""},
        {"unbalanced_close", "alice@example.com>", MALFORMED, "", ""},
        {"nested_angles", "<<alice@example.com>>", MALFORMED, "", ""},
        {"nul_byte", std::string("al\0ice@example.com", 18), MALFORMED, "", ""},
        {"control_char", "ali\x01" "ce@example.com", MALFORMED, "", ""},
        {"crlf_injection", "alice@example.com\r\nRCPT TO:<x@y>", MALFORMED, "", ""},
        {"backslash_unquoted", "a\\b@example.com", MALFORMED, "", ""},
        {"label_63_ok", "x@" + repeat('a', 63) + ".com", OK, "x", repeat('a', 63) + ".com"},
        {"label_64_too_long", "x@" + repeat('a', 64) + ".com", MALFORMED, "", ""},
        {"domain_251_ok", "x@" + domain_of_length(251), OK, "x", domain_of_length(251)},
        {"domain_253_but_address_255", "x@" + domain_of_length(253), MALFORMED, "", ""},
        {"domain_254_too_long", "x@" + domain_of_length(254), MALFORMED, "", ""},
        {"local_64_ok", repeat('l', 64) + "@example.com", OK, repeat('l', 64), "example.com"},
        {"local_65_too_long", repeat('l', 65) + "@example.com", MALFORMED, "", ""},
        {"quoted_local_65_too_long", "\"" + repeat('l', 63) + "\"@example.com", MALFORMED, "", ""},
        {"address_254_ok", repeat('l', 64) + "@" + domain_of_length(189), OK, repeat('l', 64), domain_of_length(189)},
        {"address_255_too_long", repeat('l', 64) + "@" + domain_of_length(190), MALFORMED, "", ""},
        {"huge_input", repeat('a', 5000) + "@example.com", MALFORMED, "", ""},
    };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(address)

BOOST_AUTO_TEST_CASE(parse_address_table) {
    const auto cases = parse_cases();
    BOOST_TEST(cases.size() >= 80u);
    for (const auto& c : cases) {
        const AddressResult r = parse_address(c.input);
        const Outcome got = r.ok ? OK : r.null_sender ? NULL_SENDER : MALFORMED;
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << outcome_name(got) << " ("
                                                   << r.error << "), want " << outcome_name(c.want));
        if (got != c.want) continue;
        if (got == OK) {
            BOOST_CHECK_MESSAGE(r.address.local_part == c.local && r.address.domain == c.domain,
                                "case " << c.name << ": got " << r.address.str() << ", want " << c.local << "@"
                                        << c.domain);
            BOOST_CHECK_MESSAGE(r.error.empty(), "case " << c.name << ": got error '" << r.error << "', want none");
        } else {
            BOOST_CHECK_MESSAGE(!r.error.empty(), "case " << c.name << ": got no error text, want one");
        }
    }
}

BOOST_AUTO_TEST_CASE(parsing_is_idempotent) {
    // What parse_address produces parses to itself: a normalised address never changes meaning.
    for (const auto& c : parse_cases()) {
        const AddressResult r = parse_address(c.input);
        if (!r.ok) continue;
        const AddressResult again = parse_address(r.address.str());
        BOOST_CHECK_MESSAGE(again.ok && again.address.str() == r.address.str(),
                            "case " << c.name << ": got " << (again.ok ? again.address.str() : again.error)
                                    << ", want " << r.address.str());
    }
}

BOOST_AUTO_TEST_CASE(base_local_part_table) {
    struct Case {
        const char* name;
        const char* local;
        const char* want;
    } const cases[] = {
        {"extension", "alice+news", "alice"},
        {"no_extension", "alice", "alice"},
        {"two_pluses", "alice+a+b", "alice"},
        {"leading_plus", "+news", "+news"},
        {"trailing_plus", "alice+", "alice"},
        {"quoted_untouched", "\"alice+x y\"", "\"alice+x y\""},
        {"empty", "", ""},
    };
    for (const auto& c : cases) {
        Address a{c.local, "example.com"};
        BOOST_CHECK_MESSAGE(a.base_local_part() == c.want,
                            "case " << c.name << ": got " << a.base_local_part() << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(normalize_domain_table) {
    const std::string d253 = domain_of_length(253), d254 = domain_of_length(254);
    struct Case {
        const char* name;
        const char* input;
        const char* want;  // nullptr: invalid
    } const cases[] = {
        {"length_253", d253.c_str(), d253.c_str()},
        {"length_254", d254.c_str(), nullptr},
        {"lower", "example.com", "example.com"},
        {"upper", "EXAMPLE.Com", "example.com"},
        {"u_label", "Bücher.Example", "xn--bcher-kva.example"},
        {"a_label", "xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"ideographic_full_stop", "bücher\xe3\x80\x82" "example", "xn--bcher-kva.example"},
        {"empty", "", nullptr},
        {"literal_not_a_host_name", "[192.0.2.1]", nullptr},
        {"ip_address", "192.0.2.1", nullptr},
        {"trailing_dot", "example.com.", nullptr},
        {"slash", "exa/mple.com", nullptr},
        {"bad_a_label", "xn--a.example", nullptr},
        {"symbol_disallowed_idna2008", "\xe2\x98\x83.example", nullptr},
        {"unicode_empty_label", "bü..example", nullptr},
    };
    for (const auto& c : cases) {
        std::string error;
        const auto got = normalize_domain(c.input, &error);
        const std::string got_text = got ? *got : "invalid (" + error + ")";
        const std::string want_text = c.want ? c.want : "invalid";
        const bool pass = c.want ? (got && *got == c.want) : !got;
        BOOST_CHECK_MESSAGE(pass, "case " << c.name << ": got " << got_text << ", want " << want_text);
        if (!c.want) BOOST_CHECK_MESSAGE(!error.empty(), "case " << c.name << ": got no error text, want one");
    }
}

BOOST_AUTO_TEST_CASE(sender_pattern_parse_table) {
    struct Case {
        const char* name;
        const char* input;
        const char* want;  // pattern str(), nullptr: invalid
    } const cases[] = {
        {"whole_domain", "@Example.COM", "@example.com"},
        {"address", "Alice@Example.com", "alice@example.com"},
        {"idna_domain", "@bücher.example", "@xn--bcher-kva.example"},
        {"idna_address", "news@BÜCHER.example", "news@xn--bcher-kva.example"},
        {"literal_domain", "@[192.0.2.1]", "@[192.0.2.1]"},
        {"blanks", "  @example.com ", "@example.com"},
        {"empty", "", nullptr},
        {"bare_at", "@", nullptr},
        {"no_domain", "alice", nullptr},
        {"null", "<>", nullptr},
        {"bad_domain", "@exa mple.com", nullptr},
        {"two_at", "@a@b.example", nullptr},
    };
    for (const auto& c : cases) {
        std::string error;
        const auto got = parse_sender_pattern(c.input, &error);
        const std::string got_text = got ? got->str() : "invalid (" + error + ")";
        const bool pass = c.want ? (got && got->str() == c.want) : !got;
        BOOST_CHECK_MESSAGE(pass, "case " << c.name << ": got " << got_text << ", want "
                                          << (c.want ? c.want : "invalid"));
    }
}

BOOST_AUTO_TEST_CASE(sender_pattern_matches_table) {
    struct Case {
        const char* name;
        const char* pattern;
        const char* sender;
        bool want;
    } const cases[] = {
        {"domain_any_user", "@example.com", "anyone@example.com", true},
        {"domain_case", "@example.com", "Anyone@EXAMPLE.com", true},
        {"domain_other", "@example.com", "anyone@example.org", false},
        {"domain_not_subdomain", "@example.com", "anyone@sub.example.com", false},
        {"domain_not_parent", "@sub.example.com", "anyone@example.com", false},
        {"domain_idna", "@bücher.example", "x@xn--bcher-kva.example", true},
        {"address_exact", "news@example.com", "news@example.com", true},
        {"address_case", "news@example.com", "NEWS@Example.Com", true},
        {"address_extension", "news@example.com", "news+weekly@example.com", true},
        {"address_other_user", "news@example.com", "newsletter@example.com", false},
        {"address_other_domain", "news@example.com", "news@example.org", false},
        {"address_quoted_equivalent", "news@example.com", "\"news\"@example.com", true},
        {"address_quoted_different", "news@example.com", "\"news \"@example.com", false},
        {"extension_pattern_exact_only", "news+a@example.com", "news+a@example.com", true},
        {"extension_pattern_not_base", "news+a@example.com", "news@example.com", false},
    };
    for (const auto& c : cases) {
        const auto p = parse_sender_pattern(c.pattern);
        const AddressResult s = parse_address(c.sender);
        BOOST_REQUIRE_MESSAGE(p && s.ok, "case " << c.name << ": fixture does not parse");
        const bool got = p->matches(s.address);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

// An address that names another hop in its local part or a source route (issue 13 item 6): MTAs may
// deliver it to that hop, so the engine treats it as external for accounts that may not relay.
BOOST_AUTO_TEST_CASE(routing_table) {
    struct Case {
        const char* name;
        const char* input;
        const char* want;  // routing text, "" = not routed
    } const cases[] = {
        {"plain", "victim@example.com", ""},
        {"plus_extension", "victim+tag@example.com", ""},
        {"other_atext", "a#$&'*=?^_`{|}~z@example.com", ""},
        {"quoted_space", "\"john smith\"@example.com", ""},
        {"quoted_plain", "\"victim\"@example.com", ""},
        {"percent_hack", "victim%evil.test@example.com", "a percent sign in the local part"},
        {"percent_upper", "<Victim%Evil.Test@Example.COM>", "a percent sign in the local part"},
        {"percent_only", "%@example.com", "a percent sign in the local part"},
        {"bang_path", "evil.test!victim@example.com", "a bang path (!) in the local part"},
        {"bang_trailing", "victim!@example.com", "a bang path (!) in the local part"},
        {"quoted_at", "\"victim@evil.test\"@example.com", "an @ in the quoted local part"},
        {"quoted_escaped_at", "\"victim\\@evil.test\"@example.com", "an @ in the quoted local part"},
        {"quoted_percent", "\"victim%evil.test\"@example.com", "a percent sign in the local part"},  // quotes dropped
        {"quoted_bang", "\"evil.test!victim\"@example.com", "a bang path (!) in the local part"},
        {"quoted_percent_kept", "\"a b%evil.test\"@example.com", "a percent sign in the quoted local part"},
        {"quoted_bang_kept", "\"evil.test!a b\"@example.com", "a bang path (!) in the quoted local part"},
        {"quoted_at_and_percent", "\"a%b@evil.test\"@example.com", "an @ in the quoted local part"},
        {"source_route", "<@evil.test:victim@example.com>", "a source route"},
        {"source_route_two_hops", "@a.test,@b.test:victim@example.com", "a source route"},
        {"source_route_and_percent", "<@evil.test:v%x.test@example.com>", "a percent sign in the local part"},
    };
    for (const auto& c : cases) {
        const AddressResult r = parse_address(c.input);
        BOOST_CHECK_MESSAGE(r.ok, "case " << c.name << ": got malformed (" << r.error << "), want ok");
        BOOST_CHECK_MESSAGE(r.routing == c.want && r.routed() == (*c.want != 0),
                            "case " << c.name << ": got routing '" << r.routing << "', want '" << c.want << "'");
        BOOST_CHECK_MESSAGE(r.routing.find('%') == std::string::npos,
                            "case " << c.name << ": got a '%' in '" << r.routing << "', want none (reply text)");
    }
}

// A SASL login is an account's login only when written exactly as it, up to ASCII case (issue 13 item 7).
BOOST_AUTO_TEST_CASE(canonical_login_table) {
    struct Case {
        const char* name;
        std::string login;
        const char* want;  // the login key, nullptr: not a canonical login
    } const cases[] = {
        {"exact", "bob@example.com", "bob@example.com"},
        {"ascii_upper", "BOB@Example.COM", "bob@example.com"},
        {"plus_extension_is_its_own_login", "bob+x@example.com", "bob+x@example.com"},
        {"a_label", "anna@xn--bcher-kva.example", "anna@xn--bcher-kva.example"},
        {"a_label_upper", "anna@XN--BCHER-KVA.Example", "anna@xn--bcher-kva.example"},
        {"u_label", "anna@bücher.example", "anna@xn--bcher-kva.example"},
        {"u_label_ascii_upper", "ANNA@bücher.EXAMPLE", "anna@xn--bcher-kva.example"},
        {"utf8_local_part", "jösé@example.com", "jösé@example.com"},
        {"quoted_needed_is_canonical", "\"john smith\"@example.com", "\"john smith\"@example.com"},
        {"angle_brackets", "<bob@example.com>", nullptr},
        {"quoted", "\"bob\"@example.com", nullptr},
        {"quoted_escape", "\"b\\ob\"@example.com", nullptr},
        {"leading_blank", " bob@example.com", nullptr},
        {"trailing_blank", "bob@example.com ", nullptr},
        {"trailing_tab", "bob@example.com\t", nullptr},
        {"fullwidth_domain", "bob@\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c\xef\xbd\x85.com", nullptr},
        {"u_label_non_ascii_upper", "anna@BÜCHER.example", nullptr},
        {"u_label_nfd", std::string("anna@bu\xcc\x88") + "cher.example", nullptr},
        {"mixed_labels", "anna@bücher.xn--bcher-kva.example", nullptr},
        {"source_route", "@relay.example:bob@example.com", nullptr},
        {"sharp_s_maps", "bob@faß.de", "bob@xn--fa-hia.de"},
        {"empty", "", nullptr},
        {"no_domain", "bob", nullptr},
        {"null", "<>", nullptr},
    };
    for (const auto& c : cases) {
        std::string why;
        const auto got = canonical_login(c.login, &why);
        const std::string got_s = got ? *got : "none (" + why + ")";
        const std::string want = c.want ? c.want : "none";
        BOOST_CHECK_MESSAGE(got ? got_s == want : !c.want, "case " << c.name << ": got " << got_s << ", want " << want);
        if (!got) BOOST_CHECK_MESSAGE(!why.empty(), "case " << c.name << ": got no reason, want one");
    }
}

BOOST_AUTO_TEST_SUITE_END()
