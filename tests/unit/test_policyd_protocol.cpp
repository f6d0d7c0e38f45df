#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "policyd/protocol.hpp"

using namespace relay;
using namespace relay::policyd;

namespace {

// A RCPT request exactly as Postfix 3.7 sends it (shared/RECIPE-e2e.md, section 6).
const std::string kPostfixRcpt =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=127.0.0.1\n"
    "client_name=localhost\n"
    "client_port=49914\n"
    "reverse_client_name=localhost\n"
    "server_address=127.0.0.1\n"
    "server_port=12187\n"
    "helo_name=client.example.test\n"
    "sender=alice@example.test\n"
    "recipient=rcpt@external.test\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=3ede.6b026ccf.197fa.0\n"
    "size=0\n"
    "etrn_domain=\n"
    "stress=\n"
    "sasl_method=PLAIN\n"
    "sasl_username=alice@example.test\n"
    "sasl_sender=\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "policy_context=\n"
    "\n";

const char* status_name(ParseStatus s) {
    switch (s) {
        case ParseStatus::complete: return "complete";
        case ParseStatus::need_more: return "need_more";
        case ParseStatus::malformed: return "malformed";
    }
    return "?";
}

const char* map_name(MapStatus s) {
    switch (s) {
        case MapStatus::ok: return "ok";
        case MapStatus::ignore: return "ignore";
        case MapStatus::unknown_state: return "unknown_state";
        case MapStatus::invalid: return "invalid";
    }
    return "?";
}

std::string minimal(const std::string& extra = "") {
    return "request=smtpd_access_policy\nprotocol_state=RCPT\n" + extra + "\n";
}

struct ParseCase {
    const char* name;
    std::string input;
    ParseStatus want;
    std::size_t want_consumed;  // complete only
};

}  // namespace

BOOST_AUTO_TEST_SUITE(policyd_protocol)

BOOST_AUTO_TEST_CASE(postfix_request_is_parsed_completely) {
    const ParseResult r = parse_policy_request(kPostfixRcpt, ParseLimits{});
    BOOST_REQUIRE_MESSAGE(r.status == ParseStatus::complete, "got " << status_name(r.status) << " (" << r.error << ")");
    BOOST_TEST(r.consumed == kPostfixRcpt.size());
    const PolicyAttributes& a = r.attributes;
    BOOST_TEST(a.request == "smtpd_access_policy");
    BOOST_TEST(a.protocol_state == "RCPT");
    BOOST_TEST(a.client_address == "127.0.0.1");
    BOOST_TEST(a.client_name == "localhost");
    BOOST_TEST(a.helo_name == "client.example.test");
    BOOST_TEST(a.sender == "alice@example.test");
    BOOST_TEST(a.recipient == "rcpt@external.test");
    BOOST_TEST(a.recipient_count == "0");
    BOOST_TEST(a.queue_id == "");
    BOOST_TEST(a.instance == "3ede.6b026ccf.197fa.0");
    BOOST_TEST(a.size == "0");
    BOOST_TEST(a.sasl_method == "PLAIN");
    BOOST_TEST(a.sasl_username == "alice@example.test");
    BOOST_TEST(a.encryption_protocol == "TLSv1.3");
    BOOST_TEST(a.encryption_cipher == "TLS_AES_256_GCM_SHA384");
}

BOOST_AUTO_TEST_CASE(parse_table) {
    const std::string long_value(5000, 'x');
    std::string many;
    for (int i = 0; i < 70; ++i) many += "x" + std::to_string(i) + "=1\n";
    const std::vector<ParseCase> cases = {
        {"minimal", minimal(), ParseStatus::complete, minimal().size()},
        {"empty input", "", ParseStatus::need_more, 0},
        {"half a line", "request=smtpd_acc", ParseStatus::need_more, 0},
        {"no empty line yet", "request=smtpd_access_policy\nprotocol_state=RCPT\n", ParseStatus::need_more, 0},
        {"unknown attributes ignored", minimal("future_attribute=1\nx-y.z=2\n"), ParseStatus::complete,
         minimal("future_attribute=1\nx-y.z=2\n").size()},
        {"empty value", minimal("sender=\n"), ParseStatus::complete, minimal("sender=\n").size()},
        {"value with '='", minimal("ccert_subject=CN=a=b\n"), ParseStatus::complete,
         minimal("ccert_subject=CN=a=b\n").size()},
        {"CRLF tolerated", "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n\r\n", ParseStatus::complete, 52},
        {"UTF-8 value", minimal("sender=j\xc3\xb6rg@b\xc3\xa4" "ckerei.example\n"), ParseStatus::complete,
         minimal("sender=j\xc3\xb6rg@b\xc3\xa4" "ckerei.example\n").size()},
        {"8-bit HELO kept", minimal("helo_name=caf\xe9\n"), ParseStatus::complete, minimal("helo_name=caf\xe9\n").size()},
        {"tab in value", minimal("ccert_subject=a\tb\n"), ParseStatus::complete, minimal("ccert_subject=a\tb\n").size()},
        {"no request attribute", "protocol_state=RCPT\n\n", ParseStatus::malformed, 0},
        {"other request type", "request=junk\nprotocol_state=RCPT\n\n", ParseStatus::malformed, 0},
        {"request type case", "request=SMTPD_ACCESS_POLICY\n\n", ParseStatus::malformed, 0},
        {"leading empty line", "\nrequest=smtpd_access_policy\n\n", ParseStatus::malformed, 0},
        {"line without =", minimal("garbage\n"), ParseStatus::malformed, 0},
        {"empty name", minimal("=value\n"), ParseStatus::malformed, 0},
        {"space in name", minimal("bad name=1\n"), ParseStatus::malformed, 0},
        {"NUL in value", minimal(std::string("sender=a\0b\n", 11)), ParseStatus::malformed, 0},
        {"NUL in unfinished line", std::string("request=smtpd\0", 14), ParseStatus::malformed, 0},
        {"escape byte", minimal("sender=\x1b[31m\n"), ParseStatus::malformed, 0},
        {"DEL byte", minimal("sender=a\x7f\n"), ParseStatus::malformed, 0},
        {"CR inside a line", minimal("sender=a\rb\n"), ParseStatus::malformed, 0},
        {"8-bit name", minimal("n\xc3\xa4me=1\n"), ParseStatus::malformed, 0},
        {"duplicate known attribute", minimal("sasl_username=a\nsasl_username=b\n"), ParseStatus::malformed, 0},
        {"duplicate request", "request=smtpd_access_policy\nrequest=smtpd_access_policy\n\n", ParseStatus::malformed, 0},
        {"duplicate unknown attribute is fine", minimal("x=1\nx=2\n"), ParseStatus::complete, minimal("x=1\nx=2\n").size()},
        {"overlong line", minimal("ccert_subject=" + long_value + "\n"), ParseStatus::malformed, 0},
        {"overlong unfinished line", "request=" + long_value, ParseStatus::malformed, 0},
        {"too many attributes", minimal(many), ParseStatus::malformed, 0},
        {"binary junk", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), ParseStatus::malformed, 0},
        {"HTTP request", "GET / HTTP/1.0\r\n\r\n", ParseStatus::malformed, 0},
    };
    for (const auto& c : cases) {
        const ParseResult r = parse_policy_request(c.input, ParseLimits{});
        BOOST_CHECK_MESSAGE(r.status == c.want, "case " << c.name << ": got " << status_name(r.status) << " ("
                                                        << r.error << "), want " << status_name(c.want));
        if (c.want == ParseStatus::complete && r.status == ParseStatus::complete)
            BOOST_CHECK_MESSAGE(r.consumed == c.want_consumed,
                                "case " << c.name << ": consumed " << r.consumed << ", want " << c.want_consumed);
        if (r.status == ParseStatus::malformed)
            BOOST_CHECK_MESSAGE(!r.error.empty(), "case " << c.name << ": malformed without a reason");
    }
}

BOOST_AUTO_TEST_CASE(every_prefix_needs_more_and_the_whole_completes) {
    // A read may end at any byte: each proper prefix of a valid request is need_more, never malformed.
    for (std::size_t cut = 0; cut < kPostfixRcpt.size(); ++cut) {
        const ParseResult r = parse_policy_request(std::string_view(kPostfixRcpt).substr(0, cut), ParseLimits{});
        BOOST_CHECK_MESSAGE(r.status == ParseStatus::need_more,
                            "case prefix " << cut << ": got " << status_name(r.status) << " (" << r.error << ")");
    }
}

BOOST_AUTO_TEST_CASE(split_reads_at_every_boundary_give_the_same_request) {
    // Simulates the server: bytes arrive in two reads split at every position.
    const ParseResult whole = parse_policy_request(kPostfixRcpt, ParseLimits{});
    for (std::size_t cut = 1; cut < kPostfixRcpt.size(); ++cut) {
        std::string buffer = kPostfixRcpt.substr(0, cut);
        ParseResult r = parse_policy_request(buffer, ParseLimits{});
        BOOST_REQUIRE(r.status == ParseStatus::need_more);
        buffer += kPostfixRcpt.substr(cut);
        r = parse_policy_request(buffer, ParseLimits{});
        BOOST_CHECK_MESSAGE(r.status == ParseStatus::complete && r.consumed == buffer.size() &&
                                r.attributes.sasl_username == whole.attributes.sasl_username &&
                                r.attributes.instance == whole.attributes.instance,
                            "case split at " << cut << ": got " << status_name(r.status));
    }
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_taken_one_at_a_time) {
    const std::string second = minimal("sasl_username=bob@example.test\n");
    const std::string both = kPostfixRcpt + second;
    const ParseResult first = parse_policy_request(both, ParseLimits{});
    BOOST_REQUIRE(first.status == ParseStatus::complete);
    BOOST_TEST(first.consumed == kPostfixRcpt.size());
    BOOST_TEST(first.attributes.sasl_username == "alice@example.test");
    const ParseResult next = parse_policy_request(std::string_view(both).substr(first.consumed), ParseLimits{});
    BOOST_REQUIRE(next.status == ParseStatus::complete);
    BOOST_TEST(next.attributes.sasl_username == "bob@example.test");
    BOOST_TEST(next.consumed == second.size());
}

BOOST_AUTO_TEST_CASE(caps_are_exact) {
    ParseLimits small;
    small.max_line_length = 40;
    small.max_attributes = 3;
    small.max_request_bytes = 1000;
    ParseLimits bytes;  // only the request size is tight
    bytes.max_request_bytes = 100;
    const std::string line40 = "x=" + std::string(38, 'a') + "\n";  // 40 bytes before the newline
    const std::string line41 = "x=" + std::string(39, 'a') + "\n";
    const std::string head = "request=smtpd_access_policy\nprotocol_state=RCPT\n";  // 48 bytes
    struct Case {
        const char* name;
        ParseLimits limits;
        std::string input;
        ParseStatus want;
    };
    const std::vector<Case> cases = {
        {"line at the cap", small, head + line40 + "\n", ParseStatus::complete},
        {"line one over the cap", small, head + line41 + "\n", ParseStatus::malformed},
        {"unfinished line at the cap (+ a CR)", small, "request=" + std::string(33, 'a'), ParseStatus::need_more},
        {"unfinished line over the cap", small, "request=" + std::string(34, 'a'), ParseStatus::malformed},
        {"attributes at the cap", small, head + "x=1\n\n", ParseStatus::complete},
        {"attributes one over the cap", small, head + "x=1\ny=2\n\n", ParseStatus::malformed},
        {"request exactly at the byte cap", bytes, head + std::string("z=") + std::string(48, 'c') + "\n\n",
         ParseStatus::complete},
        {"request one over the byte cap", bytes, head + std::string("z=") + std::string(49, 'c') + "\n\n",
         ParseStatus::malformed},
        {"unfinished request over the byte cap", bytes, head + std::string("z=") + std::string(60, 'c'),
         ParseStatus::malformed},
    };
    for (const auto& c : cases) {
        const ParseResult r = parse_policy_request(c.input, c.limits);
        BOOST_CHECK_MESSAGE(r.status == c.want, "case " << c.name << ": got " << status_name(r.status) << " ("
                                                        << r.error << "), want " << status_name(c.want));
    }
}

BOOST_AUTO_TEST_CASE(map_table) {
    struct Case {
        const char* name;
        std::string extra;  // attributes after request= (protocol_state included)
        MapStatus want;
        Stage stage;
        bool sender_known;
    };
    const std::vector<Case> cases = {
        {"CONNECT", "protocol_state=CONNECT\n", MapStatus::ok, Stage::connect, false},
        {"EHLO", "protocol_state=EHLO\n", MapStatus::ok, Stage::helo, false},
        {"HELO", "protocol_state=HELO\n", MapStatus::ok, Stage::helo, false},
        {"MAIL", "protocol_state=MAIL\n", MapStatus::ok, Stage::mail, true},
        {"RCPT", "protocol_state=RCPT\n", MapStatus::ok, Stage::rcpt, true},
        {"lower-case rcpt", "protocol_state=rcpt\n", MapStatus::ok, Stage::rcpt, true},
        {"VRFY", "protocol_state=VRFY\n", MapStatus::ok, Stage::rcpt, false},
        {"DATA", "protocol_state=DATA\n", MapStatus::ok, Stage::data, true},
        {"END-OF-MESSAGE", "protocol_state=END-OF-MESSAGE\n", MapStatus::ok, Stage::end_of_message, true},
        {"ETRN", "protocol_state=ETRN\n", MapStatus::ignore, Stage::rcpt, false},
        {"lower-case etrn", "protocol_state=etrn\n", MapStatus::ignore, Stage::rcpt, false},
        {"unknown state", "protocol_state=BDAT-ISH\n", MapStatus::unknown_state, Stage::rcpt, false},
        {"FOO", "protocol_state=FOO\nsasl_username=bob@example.com\n", MapStatus::unknown_state, Stage::rcpt, false},
        {"RCPT with a leading space", "protocol_state= RCPT\n", MapStatus::unknown_state, Stage::rcpt, false},
        {"RCPT with a trailing space", "protocol_state=RCPT \n", MapStatus::unknown_state, Stage::rcpt, false},
        {"no protocol_state", "", MapStatus::invalid, Stage::rcpt, false},
        {"recipient_count not a number", "protocol_state=RCPT\nrecipient_count=3x\n", MapStatus::invalid, Stage::rcpt, false},
        {"recipient_count too big", "protocol_state=RCPT\nrecipient_count=4294967296\n", MapStatus::invalid, Stage::rcpt, false},
        {"recipient_count max", "protocol_state=RCPT\nrecipient_count=4294967295\n", MapStatus::ok, Stage::rcpt, true},
        {"negative size", "protocol_state=RCPT\nsize=-1\n", MapStatus::invalid, Stage::rcpt, false},
        {"size too big", "protocol_state=RCPT\nsize=18446744073709551616\n", MapStatus::invalid, Stage::rcpt, false},
    };
    for (const auto& c : cases) {
        const std::string input = "request=smtpd_access_policy\n" + c.extra + "\n";  // the views point into it
        const ParseResult parsed = parse_policy_request(input, ParseLimits{});
        BOOST_REQUIRE_MESSAGE(parsed.status == ParseStatus::complete, "case " << c.name << ": did not parse");
        const MapResult m = map_policy_request(parsed.attributes);
        BOOST_CHECK_MESSAGE(m.status == c.want,
                            "case " << c.name << ": got " << map_name(m.status) << ", want " << map_name(c.want));
        if (m.status != MapStatus::ok || c.want != MapStatus::ok) {
            if (m.status != MapStatus::ok) BOOST_CHECK_MESSAGE(!m.error.empty(), "case " << c.name << ": no reason");
            continue;
        }
        BOOST_CHECK_MESSAGE(m.request.stage == c.stage, "case " << c.name << ": got stage "
                                                               << to_string(m.request.stage) << ", want "
                                                               << to_string(c.stage));
        BOOST_CHECK_MESSAGE(m.request.sender_known == c.sender_known, "case " << c.name << ": sender_known got "
                                                                            << m.request.sender_known);
    }
}

BOOST_AUTO_TEST_CASE(map_copies_every_field) {
    const ParseResult parsed = parse_policy_request(
        "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nclient_address=2001:db8::25\n"
        "client_name=mail.example.test\nhelo_name=helo.example.test\nsasl_username=Alice@Example.TEST\n"
        "sasl_method=LOGIN\nsender=alice@example.test\nrecipient=\nrecipient_count=3\nsize=264\n"
        "encryption_protocol=TLSv1.2\nencryption_cipher=ECDHE-RSA-AES256-GCM-SHA384\nqueue_id=19E31A74258\n"
        "instance=3ede.6b026ccf.197fa.0\n\n",
        ParseLimits{});
    BOOST_REQUIRE(parsed.status == ParseStatus::complete);
    const MapResult m = map_policy_request(parsed.attributes);
    BOOST_REQUIRE(m.status == MapStatus::ok);
    const Request& r = m.request;
    BOOST_TEST((r.stage == Stage::end_of_message));
    BOOST_TEST(r.client_address == "2001:db8::25");
    BOOST_TEST(r.client_name == "mail.example.test");
    BOOST_TEST(r.helo_name == "helo.example.test");
    BOOST_TEST(r.sasl_login == "Alice@Example.TEST");  // the engine matches logins case-insensitively
    BOOST_TEST(r.sasl_method == "LOGIN");
    BOOST_TEST(r.sender == "alice@example.test");
    BOOST_TEST(r.recipient == "");
    BOOST_TEST(r.recipient_count == 3u);
    BOOST_TEST(r.size == 264u);
    BOOST_TEST(r.tls_protocol == "TLSv1.2");
    BOOST_TEST(r.tls_cipher == "ECDHE-RSA-AES256-GCM-SHA384");
    BOOST_TEST(r.queue_id == "19E31A74258");
    BOOST_TEST(r.instance == "3ede.6b026ccf.197fa.0");
    BOOST_TEST(r.authenticated());
    BOOST_TEST(r.tls());
}

BOOST_AUTO_TEST_CASE(map_unauthenticated_and_unknown_values) {
    const ParseResult parsed = parse_policy_request(
        "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=unknown\nsasl_username=\n"
        "encryption_protocol=\nsender=\n\n",
        ParseLimits{});
    BOOST_REQUIRE(parsed.status == ParseStatus::complete);
    const MapResult m = map_policy_request(parsed.attributes);
    BOOST_REQUIRE(m.status == MapStatus::ok);
    BOOST_TEST(m.request.client_address == "");
    BOOST_TEST(!m.request.authenticated());
    BOOST_TEST(!m.request.tls());
    BOOST_TEST(m.request.sender == "");
    BOOST_TEST(m.request.sender_known);
    BOOST_TEST(m.request.recipient_count == 0u);
}

// The attributes are views of the input, not copies: the server parses in place for every request.
BOOST_AUTO_TEST_CASE(attributes_are_views_of_the_input) {
    const std::string_view input = kPostfixRcpt;
    const ParseResult r = parse_policy_request(input, ParseLimits{});
    BOOST_REQUIRE(r.status == ParseStatus::complete);
    for (const std::string_view v : {r.attributes.request, r.attributes.sender, r.attributes.instance,
                                     r.attributes.sasl_username, r.attributes.encryption_cipher}) {
        BOOST_CHECK_MESSAGE(v.data() >= input.data() && v.data() + v.size() <= input.data() + input.size(),
                            "case " << v << ": got a view outside the input, want one inside it");
    }
}

// The server maps every request into one reused Request per I/O thread: nothing of the previous
// request may survive into the next one.
BOOST_AUTO_TEST_CASE(map_into_a_reused_request_leaves_nothing_behind) {
    const std::string first =
        "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nclient_address=192.0.2.1\n"
        "client_name=mail.example.test\nhelo_name=helo.example.test\nsasl_username=alice@example.test\n"
        "sasl_method=PLAIN\nsender=alice@example.test\nrecipient=bob@example.org\nrecipient_count=3\nsize=264\n"
        "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nqueue_id=19E31A74258\n"
        "instance=3ede.6b026ccf.197fa.0\n\n";
    const std::string second = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=unknown\n\n";
    Request reused;
    reused.header_from.push_back("left@over.example");
    std::string error;
    BOOST_REQUIRE(map_policy_request(parse_policy_request(first, ParseLimits{}).attributes, reused, error) ==
                  MapStatus::ok);
    BOOST_TEST(reused.sasl_login == "alice@example.test");
    BOOST_REQUIRE(map_policy_request(parse_policy_request(second, ParseLimits{}).attributes, reused, error) ==
                  MapStatus::ok);
    const Request fresh = map_policy_request(parse_policy_request(second, ParseLimits{}).attributes).request;
    struct Field {
        const char* name;
        std::string got, want;
    };
    const Field fields[] = {
        {"client_address", reused.client_address, fresh.client_address},
        {"client_name", reused.client_name, fresh.client_name},
        {"helo_name", reused.helo_name, fresh.helo_name},
        {"sasl_login", reused.sasl_login, fresh.sasl_login},
        {"sasl_method", reused.sasl_method, fresh.sasl_method},
        {"sender", reused.sender, fresh.sender},
        {"recipient", reused.recipient, fresh.recipient},
        {"tls_protocol", reused.tls_protocol, fresh.tls_protocol},
        {"tls_cipher", reused.tls_cipher, fresh.tls_cipher},
        {"queue_id", reused.queue_id, fresh.queue_id},
        {"instance", reused.instance, fresh.instance},
        {"recipient_count", std::to_string(reused.recipient_count), std::to_string(fresh.recipient_count)},
        {"size", std::to_string(reused.size), std::to_string(fresh.size)},
        {"stage", to_string(reused.stage), to_string(fresh.stage)},
        {"header_from", std::to_string(reused.header_from.size()), std::to_string(fresh.header_from.size())},
    };
    for (const auto& f : fields)
        BOOST_CHECK_MESSAGE(f.got == f.want, "case " << f.name << ": got '" << f.got << "', want '" << f.want << "'");
}

BOOST_AUTO_TEST_SUITE_END()
