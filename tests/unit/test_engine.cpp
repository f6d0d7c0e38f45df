// The decision table: every rule, policy, auth_mode and stage of decide(), one row each.
#include <boost/test/unit_test.hpp>

#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "core/rules/engine.hpp"
#include "tests/support/memory_store.hpp"

using namespace relay;

namespace {

const TimePoint kNow = from_unix(1767225600);  // 2026-01-01 00:00:00 UTC
TimePoint at(std::int64_t offset) { return kNow + std::chrono::seconds(offset); }

// Customers: Acme (acme.example, acme-mail.example, bücher.example, acme-old.example inactive,
// paused.example inactive, remote.example not local), Globex (globex.example), Defunct (inactive,
// defunct.example), Provider (relay.example.net: per-device accounts of other customers).
void add_domains(SnapshotBuilder& b, std::map<std::string, Id>& c) {
    c["acme"] = b.add_customer("Acme");
    c["globex"] = b.add_customer("Globex");
    c["defunct"] = b.add_customer("Defunct", false);
    c["provider"] = b.add_customer("Provider");
    b.add_domain(c["acme"], "acme.example");
    b.add_domain(c["acme"], "acme-mail.example");
    b.add_domain(c["acme"], "bücher.example");
    b.add_domain(c["acme"], "acme-old.example", false);
    b.add_domain(c["acme"], "paused.example", false);
    b.add_domain(c["acme"], "remote.example", true, false);
    b.add_domain(c["globex"], "globex.example");
    b.add_domain(c["defunct"], "defunct.example");
    b.add_domain(c["provider"], "relay.example.net");
}

void add_sasl_accounts(SnapshotBuilder& b, std::map<std::string, Id>& c) {
    b.add_sender(b.add_account("alice@acme.example").id, "alias@acme-mail.example");
    b.add_account("bob@acme.example").sender_policy = SenderPolicy::own_domain;
    b.add_account("carol@acme.example").sender_policy = SenderPolicy::customer_domains;
    Authority& dave = b.add_account("dave@acme.example");
    dave.sender_policy = SenderPolicy::listed_only;
    b.add_sender(dave.id, "newsletter@acme-mail.example");
    b.add_sender(dave.id, "@globex.example");
    b.add_account("erin@acme.example").active = false;
    b.user(b.add_account("frank@acme.example").user_id).active = false;
    b.add_account("grace@paused.example");
    b.add_account("heidi@defunct.example");
    b.add_account("ivan@relay.example.net", c["defunct"]);
    b.add_account("judy@acme.example").valid_until = at(0);
    Authority& mallory = b.add_account("mallory@acme.example");
    mallory.suspended_until = at(100);
    mallory.suspend_reason = "spam wave\r\nticket 42%";
    Authority& zed = b.add_account("zed@acme.example");
    zed.active = false;
    zed.valid_until = at(-10);
    zed.suspended_until = at(10);
    Authority& yvonne = b.add_account("yvonne@acme.example");
    yvonne.valid_until = at(-10);
    yvonne.suspended_until = at(10);
    Authority& xavier = b.add_account("xavier@acme.example");
    xavier.suspended_until = at(10);
    xavier.require_tls = true;
    b.add_network(xavier.id, "10.0.0.0/8");
    const Id nets = b.add_account("nets@acme.example").id;
    b.add_network(nets, "192.0.2.0/24");
    b.add_network(nets, "2001:db8:1::/48");
    Authority& netstls = b.add_account("netstls@acme.example");
    netstls.require_tls = true;
    b.add_network(netstls.id, "192.0.2.0/24");
    b.add_account("tls@acme.example").require_tls = true;
    b.add_account("nullok@acme.example").allow_null_sender = true;
    b.add_account("local@acme.example").may_relay_external = false;
    Authority& capped = b.add_account("capped@acme.example");
    capped.max_recipients_per_message = 2;
    capped.max_message_bytes = 1000;
    Authority& both = b.add_account("both@acme.example");
    both.auth_mode = AuthMode::sasl_and_ip;
    b.add_network(both.id, "198.51.100.0/24");
    b.add_account("bothnonet@acme.example").auth_mode = AuthMode::sasl_and_ip;
    b.add_account("anna@bücher.example");
}

Authority& ip_account(SnapshotBuilder& b, const char* login, Id customer, const char* network) {
    Authority& a = b.add_account(login, customer);
    a.auth_mode = AuthMode::ip;
    if (network) b.add_network(a.id, network);
    return a;
}

void add_ip_accounts(SnapshotBuilder& b, std::map<std::string, Id>& c) {
    ip_account(b, "printer1@relay.example.net", c["acme"], "203.0.113.10/32").sender_policy =
        SenderPolicy::customer_domains;
    ip_account(b, "printer-lan@relay.example.net", c["acme"], "203.0.113.0/24");
    Authority& tlsprinter = ip_account(b, "tlsprinter@relay.example.net", c["acme"], "203.0.113.64/26");
    tlsprinter.require_tls = true;
    tlsprinter.sender_policy = SenderPolicy::own_domain;
    b.user(ip_account(b, "printer-off@relay.example.net", c["acme"], "203.0.113.128/25").user_id).active = false;
    ip_account(b, "ipnonet@relay.example.net", c["acme"], nullptr);
    ip_account(b, "router@relay.example.net", c["acme"], "2001:db8:3::/48").active = false;
    // A disabled host route inside printer-lan's active /24: it must not take 203.0.113.20 away.
    ip_account(b, "old-printer@relay.example.net", c["acme"], "203.0.113.20/32").active = false;
    ip_account(b, "v6printer@relay.example.net", c["acme"], "2001:db8:2::/48").sender_policy =
        SenderPolicy::own_domain;
}

enum class Variant { base, tie32, tie24, empty };

Snapshot make_snapshot(Variant v) {
    SnapshotBuilder b;
    if (v == Variant::empty) return b.build();
    std::map<std::string, Id> customers;
    add_domains(b, customers);
    add_sasl_accounts(b, customers);
    add_ip_accounts(b, customers);
    // tie32: a second account claims printer1's host route; tie24: one ties printer-lan's /24.
    if (v == Variant::tie32) ip_account(b, "scanner@relay.example.net", customers["acme"], "203.0.113.10/32");
    if (v == Variant::tie24) ip_account(b, "scanner@relay.example.net", customers["acme"], "203.0.113.0/24");
    return b.build();
}

const Snapshot& snapshot(Variant v) {
    static std::map<Variant, Snapshot> cache;
    auto it = cache.find(v);
    if (it == cache.end()) it = cache.emplace(v, make_snapshot(v)).first;
    return it->second;
}

constexpr const char* kUnknown = nullptr;  // sender not known yet
constexpr Stage CONNECT = Stage::connect, HELO = Stage::helo, MAIL = Stage::mail, RCPT = Stage::rcpt,
                DATA = Stage::data, EOM = Stage::end_of_message;
constexpr Verdict CONT = Verdict::cont, PERMIT = Verdict::permit, REJECT = Verdict::reject, DEFER = Verdict::defer;
constexpr Variant BASE = Variant::base;

struct Case {
    const char* name;
    Variant variant;
    Stage stage;
    const char* login;      // "" = no SASL login
    const char* client;
    const char* sender;     // kUnknown = not known yet; "" = null sender
    const char* recipient;
    std::uint32_t count;    // recipient_count
    std::uint64_t size;
    bool tls;
    std::int64_t now;       // seconds after kNow
    Verdict verdict;
    Reason reason;
    int code;
    const char* enhanced;
};

const char* const A = "alice@acme.example";
const char* const C4 = "192.0.2.1";
const char* const EXT = "friend@gmail.example";

// clang-format off
const Case kCases[] = {
// name                         variant stage login   client  sender  recipient count size tls now verdict reason code enhanced
// ---- rule 1: no SASL login
{"nosasl_unknown_client",       BASE, RCPT, "", "192.0.2.99", "x@gmail.example", "y@acme.example", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"nosasl_sasl_and_ip_net",      BASE, RCPT, "", "198.51.100.9", "both@acme.example", EXT, 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"nosasl_empty_client",         BASE, RCPT, "", "", "x@gmail.example", "y@acme.example", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"nosasl_client_unknown_word",  BASE, RCPT, "", "unknown", "x@gmail.example", "y@acme.example", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"nosasl_empty_rules",          Variant::empty, RCPT, "", "203.0.113.10", "x@gmail.example", EXT, 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"ip_printer_permit",           BASE, RCPT, "", "203.0.113.10", "scan@acme.example", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_printer_mapped_client",    BASE, RCPT, "", "::ffff:203.0.113.10", "scan@acme-mail.example", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_lan_own_address",          BASE, RCPT, "", "203.0.113.20", "printer-lan@relay.example.net", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_lan_sender_not_owned",     BASE, RCPT, "", "203.0.113.20", "scan@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"ip_longest_prefix_wins",      BASE, RCPT, "", "203.0.113.10", "printer-lan@relay.example.net", EXT, 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"ip_connect_not_ours",         BASE, CONNECT, "", "203.0.113.10", kUnknown, "", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"ip_helo_not_ours",            BASE, HELO, "", "203.0.113.10", kUnknown, "", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"ip_mail_permit",              BASE, MAIL, "", "203.0.113.10", "scan@acme.example", "", 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_data_permit",              BASE, DATA, "", "203.0.113.10", "scan@acme.example", "", 1, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_eom_permit",               BASE, EOM, "", "203.0.113.10", "scan@acme.example", "", 5, 4000, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_inactive_named",           BASE, RCPT, "", "2001:db8:3::1", "router@relay.example.net", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"ip_inactive_named_at_mail",   BASE, MAIL, "", "2001:db8:3::1", "router@relay.example.net", "", 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"ip_disabled_host_route_loses", BASE, RCPT, "", "203.0.113.20", "printer-lan@relay.example.net", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_v6_permit",                BASE, RCPT, "", "2001:db8:2::25", "v6printer@relay.example.net", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_v6_outside_not_ours",      BASE, RCPT, "", "2001:db8:4::1", "v6printer@relay.example.net", EXT, 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"ip_user_disabled",            BASE, RCPT, "", "203.0.113.200", "printer-off@relay.example.net", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"ip_user_disabled_at_connect", BASE, CONNECT, "", "203.0.113.200", kUnknown, "", 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"ip_tls_required",             BASE, MAIL, "", "203.0.113.70", "tlsprinter@relay.example.net", "", 0, 0, false, 0, REJECT, Reason::tls_required, 530, "5.7.0"},
{"ip_tls_not_checked_at_connect", BASE, CONNECT, "", "203.0.113.70", kUnknown, "", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"ip_tls_present",              BASE, RCPT, "", "203.0.113.70", "tlsprinter@relay.example.net", EXT, 0, 0, true, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_tie32_ambiguous",          Variant::tie32, RCPT, "", "203.0.113.10", "scan@acme.example", EXT, 0, 0, false, 0, DEFER, Reason::ip_authority_ambiguous, 451, "4.7.1"},
{"ip_tie32_ambiguous_connect",  Variant::tie32, CONNECT, "", "203.0.113.10", kUnknown, "", 0, 0, false, 0, DEFER, Reason::ip_authority_ambiguous, 451, "4.7.1"},
{"ip_tie24_host_route_wins",    Variant::tie24, RCPT, "", "203.0.113.10", "scan@acme.example", EXT, 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_tie24_ambiguous",          Variant::tie24, RCPT, "", "203.0.113.20", "printer-lan@relay.example.net", EXT, 0, 0, false, 0, DEFER, Reason::ip_authority_ambiguous, 451, "4.7.1"},
{"ip_tie24_more_specific_ok",   Variant::tie24, RCPT, "", "203.0.113.70", "x@relay.example.net", EXT, 0, 0, true, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"ip_account_with_sasl_login",  BASE, RCPT, "printer1@relay.example.net", "203.0.113.10", "scan@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"ip_account_sasl_wrong_client", BASE, RCPT, "printer1@relay.example.net", C4, "scan@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"ip_account_sasl_no_networks", BASE, RCPT, "ipnonet@relay.example.net", C4, "ipnonet@relay.example.net", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
// ---- rule 2: the account
{"login_unknown_user",          BASE, RCPT, "nobody@acme.example", C4, "nobody@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_unknown_domain",        BASE, RCPT, "alice@unknown.example", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_without_domain",        BASE, RCPT, "alice", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_garbage",               BASE, RCPT, "\r\n%s", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_empty_rules",           Variant::empty, RCPT, A, C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_extension_not_login",   BASE, RCPT, "alice+x@acme.example", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_upper_case",            BASE, RCPT, "ALICE@ACME.EXAMPLE", C4, A, EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
// A login names an account only when written exactly as its login, up to ASCII case (issue 13 item 7):
// quoting, angle brackets, blanks, a route, fullwidth letters, non-ASCII case or NFD merely map onto it.
// (login_quoted and login_upper_u_label were allowed before; that looser match was the bug.)
{"login_quoted",                BASE, RCPT, "\"alice\"@acme.example", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_angle_brackets",        BASE, RCPT, "<alice@acme.example>", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_blanks_around",         BASE, RCPT, " alice@acme.example ", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_trailing_tab",          BASE, RCPT, "alice@acme.example\t", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_fullwidth_domain",      BASE, RCPT, "alice@\xef\xbd\x81\xef\xbd\x83\xef\xbd\x8d\xef\xbd\x85.example", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_source_route",          BASE, RCPT, "@acme.example:alice@acme.example", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_quoted_angle_brackets", BASE, RCPT, "<\"alice\"@acme.example>", C4, A, EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_nfd_u_label",           BASE, RCPT, "anna@bu\xcc\x88" "cher.example", C4, "anna@bücher.example", EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_mixed_case",            BASE, RCPT, "Alice@Acme.EXAMPLE", C4, A, EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"login_u_label_ascii_upper",   BASE, RCPT, "ANNA@bücher.EXAMPLE", C4, "anna@bücher.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"login_u_label",               BASE, RCPT, "anna@bücher.example", C4, "anna@xn--bcher-kva.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"login_upper_u_label",         BASE, RCPT, "ANNA@BÜCHER.EXAMPLE", C4, "anna@bücher.example", EXT, 0, 0, false, 0, REJECT, Reason::no_authority, 550, "5.7.1"},
{"login_upper_a_label",         BASE, RCPT, "anna@XN--BCHER-KVA.example", C4, "anna@bücher.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"login_a_label",               BASE, RCPT, "anna@xn--bcher-kva.example", C4, "Anna+x@Bücher.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"authority_inactive",          BASE, RCPT, "erin@acme.example", C4, "erin@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"user_inactive",               BASE, RCPT, "frank@acme.example", C4, "frank@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"domain_inactive",             BASE, RCPT, "grace@paused.example", C4, "grace@paused.example", EXT, 0, 0, false, 0, REJECT, Reason::domain_disabled, 550, "5.7.1"},
{"customer_inactive",           BASE, RCPT, "heidi@defunct.example", C4, "heidi@defunct.example", EXT, 0, 0, false, 0, REJECT, Reason::customer_disabled, 550, "5.7.1"},
{"authority_customer_inactive", BASE, RCPT, "ivan@relay.example.net", C4, "ivan@relay.example.net", EXT, 0, 0, false, 0, REJECT, Reason::customer_disabled, 550, "5.7.1"},
{"valid_until_one_second_left", BASE, RCPT, "judy@acme.example", C4, "judy@acme.example", EXT, 0, 0, false, -1, CONT, Reason::ok, 0, ""},
{"valid_until_exactly_now",     BASE, RCPT, "judy@acme.example", C4, "judy@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_expired, 550, "5.7.1"},
{"valid_until_past",            BASE, RCPT, "judy@acme.example", C4, "judy@acme.example", EXT, 0, 0, false, 1, REJECT, Reason::account_expired, 550, "5.7.1"},
{"suspended",                   BASE, RCPT, "mallory@acme.example", C4, "mallory@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_suspended, 550, "5.7.1"},
{"suspended_last_second",       BASE, RCPT, "mallory@acme.example", C4, "mallory@acme.example", EXT, 0, 0, false, 99, REJECT, Reason::account_suspended, 550, "5.7.1"},
{"suspension_ends_exactly_now", BASE, RCPT, "mallory@acme.example", C4, "mallory@acme.example", EXT, 0, 0, false, 100, CONT, Reason::ok, 0, ""},
{"order_disabled_before_expired", BASE, RCPT, "zed@acme.example", C4, "zed@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"order_expired_before_suspended", BASE, RCPT, "yvonne@acme.example", C4, "yvonne@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::account_expired, 550, "5.7.1"},
{"order_suspended_before_network", BASE, RCPT, "xavier@acme.example", C4, "x@gmail.example", EXT, 0, 0, false, 0, REJECT, Reason::account_suspended, 550, "5.7.1"},
{"order_disabled_before_sender", BASE, RCPT, "erin@acme.example", C4, "ceo@globex.example", EXT, 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"sasl_disabled_at_helo",       BASE, HELO, "erin@acme.example", C4, kUnknown, "", 0, 0, false, 0, REJECT, Reason::account_disabled, 550, "5.7.1"},
{"sasl_connect_nothing_to_check", BASE, CONNECT, A, C4, kUnknown, "", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
// ---- rule 3: client network and TLS
{"network_inside_v4",           BASE, RCPT, "nets@acme.example", "192.0.2.77", "nets@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"network_outside_v4",          BASE, RCPT, "nets@acme.example", "203.0.113.5", "nets@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"network_inside_v6",           BASE, RCPT, "nets@acme.example", "2001:db8:1:2::5", "nets@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"network_outside_v6",          BASE, RCPT, "nets@acme.example", "2001:db8:9::5", "nets@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"network_v4_mapped_client",    BASE, RCPT, "nets@acme.example", "::ffff:192.0.2.5", "nets@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"network_unknown_client",      BASE, RCPT, "nets@acme.example", "", "nets@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"network_checked_at_connect",  BASE, CONNECT, "nets@acme.example", "203.0.113.5", kUnknown, "", 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"sasl_no_networks_any_client", BASE, RCPT, A, "2001:db8:ffff::1", A, EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"sasl_and_ip_inside",          BASE, RCPT, "both@acme.example", "198.51.100.9", "both@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"sasl_and_ip_outside",         BASE, RCPT, "both@acme.example", C4, "both@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"sasl_and_ip_no_networks",     BASE, RCPT, "bothnonet@acme.example", C4, "bothnonet@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"tls_required_missing",        BASE, MAIL, "tls@acme.example", C4, "tls@acme.example", "", 0, 0, false, 0, REJECT, Reason::tls_required, 530, "5.7.0"},
{"tls_required_present",        BASE, MAIL, "tls@acme.example", C4, "tls@acme.example", "", 0, 0, true, 0, CONT, Reason::ok, 0, ""},
{"tls_required_not_at_helo",    BASE, HELO, "tls@acme.example", C4, kUnknown, "", 0, 0, false, 0, CONT, Reason::not_ours, 0, ""},
{"order_network_before_tls",    BASE, RCPT, "netstls@acme.example", "10.1.1.1", "netstls@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::client_not_allowed, 550, "5.7.1"},
{"order_tls_before_sender",     BASE, RCPT, "tls@acme.example", C4, "ceo@globex.example", EXT, 0, 0, false, 0, REJECT, Reason::tls_required, 530, "5.7.0"},
// ---- rule 4: envelope sender
{"own_address_exact",           BASE, MAIL, A, C4, A, "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_extension",       BASE, MAIL, A, C4, "alice+news@acme.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_upper_case",      BASE, MAIL, A, C4, "Alice@ACME.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_angle_brackets",  BASE, MAIL, A, C4, "<alice@acme.example>", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_quoted_same",     BASE, MAIL, A, C4, "\"alice\"@acme.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_quoted_other",    BASE, MAIL, A, C4, "\"alice \"@acme.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"own_address_quoted_at_trick", BASE, MAIL, A, C4, "\"alice@acme.example\"@evil.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"own_address_source_route",    BASE, MAIL, A, C4, "@relay.example:alice@acme.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_other_user",      BASE, MAIL, A, C4, "bob@acme.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"own_address_prefix_trick",    BASE, MAIL, A, C4, "alicex@acme.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"own_address_subdomain_trick", BASE, MAIL, A, C4, "alice@acme.example.evil.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"own_address_plus_listed",     BASE, MAIL, A, C4, "alias+x@acme-mail.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_address_u_label_sender",  BASE, MAIL, "anna@bücher.example", C4, "anna+x@BÜCHER.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_domain_any_user",         BASE, MAIL, "bob@acme.example", C4, "anyone@acme.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"own_domain_other_domain",     BASE, MAIL, "bob@acme.example", C4, "bob@acme-mail.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"customer_domains_sibling",    BASE, MAIL, "carol@acme.example", C4, "x@acme-mail.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"customer_domains_idna",       BASE, MAIL, "carol@acme.example", C4, "x@Bücher.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"customer_domains_not_local_ok", BASE, MAIL, "carol@acme.example", C4, "x@remote.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"customer_domains_inactive",   BASE, MAIL, "carol@acme.example", C4, "x@acme-old.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"customer_domains_other_customer", BASE, MAIL, "carol@acme.example", C4, "x@globex.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"customer_domains_unknown",    BASE, MAIL, "carol@acme.example", C4, "x@gmail.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"listed_only_own_address",     BASE, MAIL, "dave@acme.example", C4, "dave@acme.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"listed_only_address",         BASE, MAIL, "dave@acme.example", C4, "newsletter@acme-mail.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"listed_only_extension",       BASE, MAIL, "dave@acme.example", C4, "newsletter+weekly@acme-mail.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"listed_only_domain_pattern",  BASE, MAIL, "dave@acme.example", C4, "Anyone@GLOBEX.example", "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"listed_only_similar_address", BASE, MAIL, "dave@acme.example", C4, "newsletters@acme-mail.example", "", 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"null_sender_denied",          BASE, MAIL, A, C4, "", "", 0, 0, false, 0, REJECT, Reason::null_sender_denied, 550, "5.7.1"},
{"null_sender_angles_denied",   BASE, MAIL, A, C4, "<>", "", 0, 0, false, 0, REJECT, Reason::null_sender_denied, 550, "5.7.1"},
{"null_sender_allowed",         BASE, RCPT, "nullok@acme.example", C4, "", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"sender_malformed_no_domain",  BASE, MAIL, A, C4, "alice@", "", 0, 0, false, 0, REJECT, Reason::sender_malformed, 553, "5.1.7"},
{"sender_malformed_empty_label", BASE, MAIL, A, C4, "alice@acme..example", "", 0, 0, false, 0, REJECT, Reason::sender_malformed, 553, "5.1.7"},
{"sender_malformed_crlf",       BASE, MAIL, A, C4, "alice@acme.example\r\nDATA", "", 0, 0, false, 0, REJECT, Reason::sender_malformed, 553, "5.1.7"},
{"sender_malformed_unbalanced", BASE, MAIL, A, C4, "<alice@acme.example", "", 0, 0, false, 0, REJECT, Reason::sender_malformed, 553, "5.1.7"},
{"sender_not_known_yet",        BASE, MAIL, A, C4, kUnknown, "", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"sender_checked_at_data",      BASE, DATA, A, C4, "ceo@globex.example", "", 1, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"sender_checked_at_eom",       BASE, EOM, A, C4, "ceo@globex.example", "", 1, 10, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
// ---- rule 5: recipients and size
{"relay_external_allowed",      BASE, RCPT, A, C4, A, EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_local_recipient",  BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@acme-mail.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_external",         BASE, RCPT, "local@acme.example", C4, "local@acme.example", EXT, 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_not_local_domain", BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@remote.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_inactive_local",   BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@acme-old.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_other_customer",   BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@GLOBEX.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_u_label_recipient", BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@BÜCHER.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_bare_postmaster",  BASE, RCPT, "local@acme.example", C4, "local@acme.example", "Postmaster", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_literal",          BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x@[192.0.2.1]", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_source_route",     BASE, RCPT, "local@acme.example", C4, "local@acme.example", "@acme.example:x@gmail.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
// A local domain whose local part routes elsewhere counts as external (issue 13 item 6): Postfix's
// allow_percent_hack / swap_bangpath / resolve_dequoted_address deliver these to the other domain.
{"local_only_percent_hack",     BASE, RCPT, "local@acme.example", C4, "local@acme.example", "victim%evil.example@acme.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_percent_chain",    BASE, RCPT, "local@acme.example", C4, "local@acme.example", "<v%evil.example%acme.example@ACME.example>", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_bang_path",        BASE, RCPT, "local@acme.example", C4, "local@acme.example", "evil.example!victim@acme.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_quoted_at",        BASE, RCPT, "local@acme.example", C4, "local@acme.example", "\"victim@evil.example\"@acme.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_quoted_percent",   BASE, RCPT, "local@acme.example", C4, "local@acme.example", "\"victim%evil.example\"@acme.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_local_source_route", BASE, RCPT, "local@acme.example", C4, "local@acme.example", "<@evil.example:victim@acme.example>", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_percent_to_local", BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x%globex.example@acme.example", 0, 0, false, 0, REJECT, Reason::external_relay_denied, 550, "5.7.1"},
{"local_only_quoted_space_ok",  BASE, RCPT, "local@acme.example", C4, "local@acme.example", "\"john smith\"@acme.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"local_only_plus_extension_ok", BASE, RCPT, "local@acme.example", C4, "local@acme.example", "x+tag@acme.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"external_ok_percent_hack",    BASE, RCPT, A, C4, A, "victim%evil.example@acme.example", 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"ip_printer_percent_hack",     BASE, RCPT, "", "203.0.113.10", "scan@acme.example", "victim%evil.example@acme.example", 0, 0, false, 0, PERMIT, Reason::ip_authorised, 0, ""},
{"recipient_malformed",         BASE, RCPT, A, C4, A, "friend@", 0, 0, false, 0, REJECT, Reason::recipient_malformed, 501, "5.1.3"},
{"recipient_empty",             BASE, RCPT, A, C4, A, "", 0, 0, false, 0, REJECT, Reason::recipient_malformed, 501, "5.1.3"},
{"recipient_null",              BASE, RCPT, A, C4, A, "<>", 0, 0, false, 0, REJECT, Reason::recipient_malformed, 501, "5.1.3"},
{"recipient_cap_first",         BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"recipient_cap_last_allowed",  BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 1, 0, false, 0, CONT, Reason::ok, 0, ""},
{"recipient_cap_exceeded",      BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 2, 0, false, 0, DEFER, Reason::too_many_recipients, 452, "4.5.3"},
{"recipient_cap_huge_count",    BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 4294967295u, 0, false, 0, DEFER, Reason::too_many_recipients, 452, "4.5.3"},
{"no_cap_many_recipients",      BASE, RCPT, A, C4, A, EXT, 100000, 0, false, 0, CONT, Reason::ok, 0, ""},
{"declared_size_at_limit",      BASE, MAIL, "capped@acme.example", C4, "capped@acme.example", "", 0, 1000, false, 0, CONT, Reason::ok, 0, ""},
{"declared_size_over_at_mail",  BASE, MAIL, "capped@acme.example", C4, "capped@acme.example", "", 0, 1001, false, 0, REJECT, Reason::message_too_large, 552, "5.3.4"},
{"declared_size_over_at_rcpt",  BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 0, 1001, false, 0, REJECT, Reason::message_too_large, 552, "5.3.4"},
{"size_unknown",                BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", EXT, 0, 0, false, 0, CONT, Reason::ok, 0, ""},
{"no_size_cap",                 BASE, MAIL, A, C4, A, "", 0, 50000000, false, 0, CONT, Reason::ok, 0, ""},
{"eom_within_caps",             BASE, EOM, "capped@acme.example", C4, "capped@acme.example", "", 2, 1000, false, 0, CONT, Reason::ok, 0, ""},
{"eom_too_many_recipients",     BASE, EOM, "capped@acme.example", C4, "capped@acme.example", "", 3, 10, false, 0, REJECT, Reason::too_many_recipients, 550, "5.5.3"},
{"eom_too_large",               BASE, EOM, "capped@acme.example", C4, "capped@acme.example", "", 2, 1001, false, 0, REJECT, Reason::message_too_large, 552, "5.3.4"},
{"eom_count_before_size",       BASE, EOM, "capped@acme.example", C4, "capped@acme.example", "", 3, 1001, false, 0, REJECT, Reason::too_many_recipients, 550, "5.5.3"},
{"data_ignores_caps",           BASE, DATA, "capped@acme.example", C4, "capped@acme.example", "", 9, 5000, false, 0, CONT, Reason::ok, 0, ""},
{"order_sender_before_recipient", BASE, RCPT, "local@acme.example", C4, "ceo@globex.example", EXT, 0, 0, false, 0, REJECT, Reason::sender_not_owned, 550, "5.7.1"},
{"order_malformed_before_cap",  BASE, RCPT, "capped@acme.example", C4, "capped@acme.example", "x@", 5, 0, false, 0, REJECT, Reason::recipient_malformed, 501, "5.1.3"},
};
// clang-format on

Request make_request(const Case& c) {
    Request r;
    r.stage = c.stage;
    r.sasl_login = c.login;
    if (*c.login) r.sasl_method = "PLAIN";
    r.client_address = c.client;
    r.sender_known = c.sender != kUnknown;
    r.sender = c.sender ? c.sender : "";
    r.recipient = c.recipient;
    r.recipient_count = c.count;
    r.size = c.size;
    if (c.tls) r.tls_protocol = "TLSv1.3";
    return r;
}

std::string describe(Verdict v, Reason r, int code, const std::string& enhanced) {
    std::ostringstream out;
    out << to_string(v) << "/" << to_string(r);
    if (code) out << " " << code << " " << enhanced;
    return out.str();
}

bool clean_text(const std::string& text) {
    for (char ch : text) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7e || c == '%') return false;
    }
    return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine)

BOOST_AUTO_TEST_CASE(decision_table) {
    BOOST_TEST(std::size(kCases) >= 70u);
    for (const Case& c : kCases) {
        std::vector<RuleStep> trace;
        const EngineResult r = decide(make_request(c), snapshot(c.variant), at(c.now), &trace);
        const Decision& d = r.decision;
        const std::string got = describe(d.verdict, d.reason, d.smtp_code, d.enhanced);
        const std::string want = describe(c.verdict, c.reason, c.code, c.enhanced);
        BOOST_CHECK_MESSAGE(got == want, "case " << c.name << ": got " << got << " (" << d.text << "), want " << want);
        // Invariants every decision keeps.
        BOOST_CHECK_MESSAGE(clean_text(d.text), "case " << c.name << ": got text '" << d.text
                                                        << "', want printable ASCII without '%'");
        BOOST_CHECK_MESSAGE(d.refused() == !d.text.empty(), "case " << c.name << ": got text '" << d.text
                                                                    << "', want text exactly for refusals");
        BOOST_CHECK_MESSAGE(r.account.has_value() == (d.authority_id != 0) &&
                                (!r.account || (d.login == r.account->login && !d.login.empty())),
                            "case " << c.name << ": got authority_id " << d.authority_id << " login '" << d.login
                                    << "', want them exactly when an account was found");
        BOOST_CHECK_MESSAGE(!trace.empty(), "case " << c.name << ": got no trace, want one step per rule");
        if (d.refused()) {
            BOOST_CHECK_MESSAGE(!trace.back().passed, "case " << c.name << ": got last step passed, want failed");
        }
    }
}

BOOST_AUTO_TEST_CASE(reply_texts) {
    struct TextCase {
        const char* name;
        const char* login;
        const char* client;
        const char* sender;
        std::uint32_t count;
        std::int64_t now;
        const char* want;  // substring of the reply line
    } const cases[] = {
        {"no_authority_names_login", "nobody@acme.example", C4, A, 0, 0,
         "550 5.7.1 nobody@acme.example is not allowed to send mail through this server"},
        {"garbage_login_sanitised", "evil\r\n250 ok%n@x", C4, A, 0, 0, "550 5.7.1 evil??250 ok?n@x is not allowed"},
        {"suspend_reason_sanitised", "mallory@acme.example", C4, "mallory@acme.example", 0, 0,
         "is suspended: spam wave??ticket 42?"},
        {"client_named", "nets@acme.example", "203.0.113.5", "nets@acme.example", 0, 0,
         "nets@acme.example may not send mail from client address 203.0.113.5"},
        {"sender_named", A, C4, "ceo@globex.example", 0, 0, "alice@acme.example may not send as <ceo@globex.example>"},
        {"cap_named", "capped@acme.example", C4, "capped@acme.example", 2, 0, "452 4.5.3 Too many recipients"},
        {"cap_value", "capped@acme.example", C4, "capped@acme.example", 2, 0, "at most 2 per message"},
        {"starttls", "tls@acme.example", C4, "tls@acme.example", 0, 0, "530 5.7.0 Must issue a STARTTLS command first"},
        // No login: the IP-authorised account covering the client is named, disabled or suspended alike.
        {"disabled_ip_device_named", "", "2001:db8:3::1", "router@relay.example.net", 0, 0,
         "550 5.7.1 Relay access for router@relay.example.net is disabled"},
        {"disabled_ip_user_named", "", "203.0.113.200", "printer-off@relay.example.net", 0, 0,
         "550 5.7.1 Relay access for printer-off@relay.example.net is disabled"},
    };
    for (const auto& c : cases) {
        Case row{c.name, BASE, RCPT, c.login, c.client, c.sender, EXT, c.count, 0, false, c.now,
                 CONT, Reason::ok, 0, ""};
        const Decision d = decide(make_request(row), snapshot(BASE), at(c.now)).decision;
        BOOST_CHECK_MESSAGE(d.reply().find(c.want) != std::string::npos,
                            "case " << c.name << ": got '" << d.reply() << "', want it to contain '" << c.want << "'");
    }
}

// relayctl explain --client-ip prints this trace: the disabled account covering the address is named.
BOOST_AUTO_TEST_CASE(trace_names_a_disabled_ip_account) {
    Request r;
    r.stage = Stage::rcpt;
    r.client_address = "2001:db8:3::1";
    r.sender = "router@relay.example.net";
    r.sender_known = true;
    r.recipient = "x@external.example";
    std::vector<RuleStep> trace;
    const EngineResult result = decide(r, snapshot(BASE), at(0), &trace);
    BOOST_REQUIRE(result.account.has_value());
    BOOST_TEST(result.account->login == "router@relay.example.net");
    BOOST_REQUIRE_EQUAL(trace.size(), 2u);
    BOOST_TEST(trace[0].rule == "ip_account");
    BOOST_TEST(trace[0].detail ==
               "client 2001:db8:3::1 belongs to the IP-authorised account router@relay.example.net (/48), whose SMTP "
               "authority is disabled");
    BOOST_TEST(!trace[1].passed);
    BOOST_TEST(trace[1].detail == "account_disabled: Relay access for router@relay.example.net is disabled");
}

BOOST_AUTO_TEST_CASE(trace_explains_an_allowed_message) {
    Request r;
    r.stage = Stage::rcpt;
    r.sasl_login = "Bob@ACME.example";
    r.client_address = C4;
    r.sender_known = true;
    r.sender = "sales@acme.example";
    r.recipient = EXT;
    std::vector<RuleStep> trace;
    const EngineResult result = decide(r, snapshot(BASE), kNow, &trace);
    BOOST_CHECK(result.decision.verdict == Verdict::cont);
    BOOST_TEST(result.decision.login == "bob@acme.example");
    std::string rules;
    for (const auto& step : trace) {
        rules += step.rule + (step.passed ? "+ " : "- ");
        BOOST_CHECK_MESSAGE(!step.detail.empty(), "case trace: got an empty detail for " << step.rule
                                                                                         << ", want words");
    }
    BOOST_TEST(rules == "authority+ network+ tls+ sender+ recipient+ ");
    BOOST_TEST(trace[3].detail.find("own_domain") != std::string::npos);
    // Without a trace the answer is the same.
    BOOST_CHECK(decide(r, snapshot(BASE), kNow).decision.reason == Reason::ok);
}

// relayctl explain prints the trace: a login that only maps onto an account says so, and names no account.
BOOST_AUTO_TEST_CASE(trace_explains_a_login_not_in_canonical_form) {
    struct LoginCase {
        const char* name;
        const char* login;
        const char* want;  // substring of the failed step's detail
    } const cases[] = {
        {"angle_brackets", "<bob@acme.example>", "local part is not written as the login"},
        {"quoted", "\"bob\"@acme.example", "local part is not written as the login"},
        {"blank", " bob@acme.example", "local part is not written as the login"},
        {"fullwidth", "bob@\xef\xbd\x81\xef\xbd\x83\xef\xbd\x8d\xef\xbd\x85.example", "domain is not written as"},
        {"unknown", "nobody@acme.example", "no account with an SMTP authority"},
        {"malformed", "bob", "missing @domain"},
    };
    for (const auto& c : cases) {
        Request r;
        r.stage = Stage::rcpt;
        r.sasl_login = c.login;
        r.client_address = C4;
        r.sender_known = true;
        r.sender = "bob@acme.example";
        r.recipient = EXT;
        std::vector<RuleStep> trace;
        const EngineResult result = decide(r, snapshot(BASE), kNow, &trace);
        BOOST_CHECK_MESSAGE(result.decision.reason == Reason::no_authority && !result.account,
                            "case " << c.name << ": got " << to_string(result.decision.reason) << ", want no_authority");
        const bool one_failed_step = trace.size() == 1 && !trace[0].passed && trace[0].rule == "authority";
        BOOST_CHECK_MESSAGE(one_failed_step && trace[0].detail.find(c.want) != std::string::npos,
                            "case " << c.name << ": got " << trace.size() << " steps, last '"
                                    << (trace.empty() ? "" : trace.back().detail) << "', want one failed authority step with '"
                                    << c.want << "'");
    }
}

// The refusal of a routed recipient says why, without a '%' (libmilter would read it as a format).
BOOST_AUTO_TEST_CASE(routed_recipient_reply_text) {
    struct RcptCase {
        const char* name;
        const char* recipient;
        const char* want;
    } const cases[] = {
        {"percent", "victim%evil.example@acme.example", "may not relay to <victim?evil.example@acme.example>: a percent sign in the local part can route it"},
        {"bang", "evil.example!victim@acme.example", "a bang path (!) in the local part can route it"},
        {"quoted_at", "\"victim@evil.example\"@acme.example", "an @ in the quoted local part can route it"},
        {"source_route", "<@evil.example:victim@acme.example>", "<victim@acme.example>: a source route can route it"},
    };
    for (const auto& c : cases) {
        Request r;
        r.stage = Stage::rcpt;
        r.sasl_login = "local@acme.example";
        r.client_address = C4;
        r.sender_known = true;
        r.sender = "local@acme.example";
        r.recipient = c.recipient;
        const Decision d = decide(r, snapshot(BASE), kNow).decision;
        BOOST_CHECK_MESSAGE(d.reply().find(c.want) != std::string::npos && d.reply().find("only domains hosted here") != std::string::npos,
                            "case " << c.name << ": got '" << d.reply() << "', want it to contain '" << c.want << "'");
    }
}

BOOST_AUTO_TEST_SUITE_END()
