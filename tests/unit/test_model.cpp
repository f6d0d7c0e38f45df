#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include "core/base/errors.hpp"
#include "tests/support/memory_store.hpp"
#include "core/rules/model.hpp"
#include "core/base/text.hpp"

using namespace relay;

namespace {

// acme: acme.example (local), bücher.example (local), remote.example (not local), old.example (inactive,
// local). Accounts: alice (sasl), anna@bücher, printer/printer-lan/router (auth_mode=ip).
SnapshotBuilder fixture() {
    SnapshotBuilder b;
    const Id acme = b.add_customer("Acme");
    b.add_domain(acme, "acme.example");
    b.add_domain(acme, "Bücher.Example");
    b.add_domain(acme, "remote.example", true, false);
    b.add_domain(acme, "old.example", false, true);
    b.add_account("alice@acme.example");
    b.add_account("Anna@bücher.example");
    Authority& printer = b.add_account("printer@acme.example");
    printer.auth_mode = AuthMode::ip;
    b.add_network(printer.id, "192.0.2.10/32");
    b.add_network(printer.id, "192.0.2.0/28");
    Authority& lan = b.add_account("printer-lan@acme.example");
    lan.auth_mode = AuthMode::ip;
    b.add_network(lan.id, "192.0.2.0/24");
    b.add_network(lan.id, "::ffff:198.51.100.0/120");
    Authority& router = b.add_account("router@acme.example");
    router.auth_mode = AuthMode::ip;
    router.active = false;
    b.add_network(router.id, "192.0.2.0/24");
    Authority& sasl_with_net = b.add_account("nets@acme.example");
    sasl_with_net.auth_mode = AuthMode::sasl_and_ip;
    b.add_network(sasl_with_net.id, "192.0.2.0/24");
    return b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model)

BOOST_AUTO_TEST_CASE(enum_names_round_trip) {
    for (SenderPolicy p : {SenderPolicy::own_address, SenderPolicy::own_domain, SenderPolicy::customer_domains,
                           SenderPolicy::listed_only}) {
        const auto back = sender_policy_from_string(to_string(p));
        BOOST_CHECK_MESSAGE(back && *back == p, "case " << to_string(p) << ": got no round trip, want one");
    }
    for (AuthMode m : {AuthMode::sasl, AuthMode::ip, AuthMode::sasl_and_ip}) {
        const auto back = auth_mode_from_string(to_string(m));
        BOOST_CHECK_MESSAGE(back && *back == m, "case " << to_string(m) << ": got no round trip, want one");
    }
    struct Case {
        const char* name;
        const char* text;
    } const bad[] = {{"empty", ""}, {"upper", "OWN_DOMAIN"}, {"unknown", "anyone"}, {"auth_upper", "SASL"},
                     {"blank", " sasl"}};
    for (const auto& c : bad) {
        BOOST_CHECK_MESSAGE(!sender_policy_from_string(c.text) && !auth_mode_from_string(c.text),
                            "case " << c.name << ": got a value, want none");
    }
    BOOST_TEST(std::string(to_string(SenderPolicy::customer_domains)) == "customer_domains");
    BOOST_TEST(std::string(to_string(AuthMode::sasl_and_ip)) == "sasl_and_ip");
}

BOOST_AUTO_TEST_CASE(find_account_table) {
    const Snapshot s = fixture().build();
    struct Case {
        const char* name;
        const char* login;
        const char* want;  // account login, nullptr: none
    } const cases[] = {
        {"exact", "alice@acme.example", "alice@acme.example"},
        {"upper_case", "ALICE@ACME.EXAMPLE", "alice@acme.example"},
        {"quoted", "\"alice\"@acme.example", "alice@acme.example"},
        {"angle_brackets", "<alice@acme.example>", "alice@acme.example"},
        {"u_label_login", "anna@bücher.example", "anna@xn--bcher-kva.example"},
        {"upper_u_label_login", "ANNA@BÜCHER.EXAMPLE", "anna@xn--bcher-kva.example"},
        {"a_label_login", "anna@xn--bcher-kva.example", "anna@xn--bcher-kva.example"},
        {"extension_is_not_the_login", "alice+x@acme.example", nullptr},
        {"unknown_user", "mallory@acme.example", nullptr},
        {"unknown_domain", "alice@evil.example", nullptr},
        {"no_domain", "alice", nullptr},
        {"empty", "", nullptr},
        {"malformed", "alice@@acme.example", nullptr},
        {"quoted_with_space", "\"alice \"@acme.example", nullptr},
    };
    for (const auto& c : cases) {
        const auto account = s.find_account(c.login);
        const std::string got = account ? account->login : "none";
        const std::string want = c.want ? c.want : "none";
        BOOST_CHECK_MESSAGE(got == want, "case " << c.name << ": got " << got << ", want " << want);
        if (account) {
            BOOST_CHECK_MESSAGE(account->authority && account->user && account->domain && account->customer,
                                "case " << c.name << ": got an incomplete account, want all parts");
        }
    }
}

// The SASL look-up (decide() via canonical_login()): only the indexed form itself finds the account.
BOOST_AUTO_TEST_CASE(find_account_by_key_is_exact) {
    const Snapshot s = fixture().build();
    BOOST_TEST(s.find_account_by_key("alice@acme.example").has_value());
    BOOST_TEST(s.find_account_by_key("anna@xn--bcher-kva.example").has_value());
    for (const char* other : {"ALICE@acme.example", "\"alice\"@acme.example", "<alice@acme.example>",
                              " alice@acme.example", "anna@bücher.example", ""}) {
        BOOST_CHECK_MESSAGE(!s.find_account_by_key(other), "case '" << other << "': got an account, want none");
    }
}

BOOST_AUTO_TEST_CASE(account_by_authority_and_domains) {
    SnapshotBuilder b = fixture();
    const Id alice = b.authority("alice@acme.example").id;
    const Snapshot s = b.build();
    const auto account = s.account_by_authority(alice);
    BOOST_REQUIRE(account.has_value());
    BOOST_TEST(account->login == "alice@acme.example");
    BOOST_TEST(account->customer->name == "Acme");
    BOOST_TEST(!s.account_by_authority(999999).has_value());
    BOOST_TEST(s.account_count() == 6u);

    struct Case {
        const char* name;
        const char* domain;
        bool local;
        bool found;
    } const cases[] = {
        {"local", "acme.example", true, true},
        {"normalised_idna", "xn--bcher-kva.example", true, true},
        {"not_local", "remote.example", false, true},
        {"inactive_still_local", "old.example", true, true},
        {"unknown", "evil.example", false, false},
    };
    for (const auto& c : cases) {
        const bool local = s.is_local_domain(c.domain);
        const bool found = s.find_domain(c.domain) != nullptr;
        BOOST_CHECK_MESSAGE(local == c.local && found == c.found,
                            "case " << c.name << ": got local=" << local << " found=" << found << ", want local="
                                    << c.local << " found=" << c.found);
    }
}

BOOST_AUTO_TEST_CASE(ip_accounts_table) {
    const Snapshot s = fixture().build();
    struct Case {
        const char* name;
        const char* client;
        const char* want;  // "login/prefix,login/prefix" most specific first
    } const cases[] = {
        {"host_route_first", "192.0.2.10", "printer@acme.example/32,printer-lan@acme.example/24"},
        {"best_prefix_per_account", "192.0.2.3", "printer@acme.example/28,printer-lan@acme.example/24"},
        {"only_lan", "192.0.2.200", "printer-lan@acme.example/24"},
        {"mapped_network", "198.51.100.7", "printer-lan@acme.example/24"},
        {"mapped_client", "::ffff:198.51.100.7", "printer-lan@acme.example/24"},
        {"nothing", "203.0.113.1", ""},
        {"v6_nothing", "2001:db8::1", ""},
    };
    for (const auto& c : cases) {
        const auto ip = IpAddress::parse(c.client);
        BOOST_REQUIRE_MESSAGE(ip, "case " << c.name << ": fixture does not parse");
        std::string got;
        for (const auto& [authority, prefix] : s.ip_accounts_for(*ip)) {
            if (!got.empty()) got += ",";
            got += s.account_by_authority(authority->id)->login + "/" + std::to_string(prefix);
        }
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(dangling_rows_are_skipped_with_warnings) {
    struct Case {
        const char* name;
        void (*breakit)(SnapshotBuilder&);
        const char* login;     // the login that must no longer resolve
        const char* survivor;  // a login that must still resolve
        const char* warning_word;
    } const cases[] = {
        {"authority_without_user",
         [](SnapshotBuilder& b) { b.authority("alice@acme.example").user_id = 4242; }, "alice@acme.example",
         "anna@bücher.example", "user_id 4242"},
        {"authority_without_customer",
         [](SnapshotBuilder& b) { b.authority("alice@acme.example").customer_id = 4343; }, "alice@acme.example",
         "anna@bücher.example", "customer_id 4343"},
        {"user_without_domain",
         [](SnapshotBuilder& b) { b.user(b.authority("alice@acme.example").user_id).domain_id = 4444; },
         "alice@acme.example", "anna@bücher.example", "domain"},
        {"domain_without_customer", [](SnapshotBuilder& b) { b.domain("acme.example").customer_id = 4545; },
         "alice@acme.example", "anna@bücher.example", "customer_id 4545"},
        {"domain_invalid_name", [](SnapshotBuilder& b) { b.domain("acme.example").name = "acme..example"; },
         "alice@acme.example", "anna@bücher.example", "not a valid domain"},
        // the lower id keeps the name: acme.example was added before bücher.example
        {"duplicate_domain_name", [](SnapshotBuilder& b) { b.domain("bücher.example").name = "ACME.example"; },
         "anna@bücher.example", "alice@acme.example", "duplicate"},
    };
    for (const auto& c : cases) {
        SnapshotBuilder b = fixture();
        c.breakit(b);
        std::vector<std::string> warnings;
        const Snapshot s = b.build(&warnings);
        BOOST_CHECK_MESSAGE(!s.find_account(c.login), "case " << c.name << ": got an account, want none");
        bool named = false;
        for (const auto& w : warnings) named = named || w.find(c.warning_word) != std::string::npos;
        BOOST_CHECK_MESSAGE(named, "case " << c.name << ": got " << warnings.size() << " warnings without '"
                                           << c.warning_word << "', want one naming it");
        BOOST_CHECK_MESSAGE(s.find_account(c.survivor), "case " << c.name << ": got " << c.survivor
                                                                 << " lost, want it kept");
    }
    BOOST_CHECK_THROW(
        [] {
            SnapshotBuilder b = fixture();
            b.authority("alice@acme.example").user_id = 4242;
            return b.build();
        }(),
        std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(copies_own_their_indexes) {
    auto original = std::make_unique<Snapshot>(fixture().build());
    Snapshot copy(*original);
    Snapshot assigned;
    assigned = *original;
    Snapshot moved(std::move(*original));
    original.reset();  // with ASan, any index still pointing into the original is caught here
    for (const Snapshot* s : {&copy, &assigned, &moved}) {
        const auto account = s->find_account("alice@acme.example");
        BOOST_REQUIRE(account.has_value());
        BOOST_TEST(account->authority == &s->authorities.at(account->authority->id));
        BOOST_TEST(s->ip_accounts_for(*IpAddress::parse("192.0.2.10")).size() == 2u);
    }
}

BOOST_AUTO_TEST_CASE(memory_store_basics) {
    MemoryStore store(fixture().build());
    BOOST_TEST(store.generation() == 1u);
    auto first = store.load_snapshot();
    BOOST_TEST(first->generation == 1u);
    BOOST_TEST(first->find_account("alice@acme.example").has_value());

    SnapshotBuilder b = fixture();
    b.authority("alice@acme.example").active = false;
    store.set_snapshot(b.build());
    BOOST_TEST(store.generation() == 2u);
    BOOST_TEST(!store.load_snapshot()->find_account("alice@acme.example")->authority->active);
    BOOST_TEST(first->find_account("alice@acme.example")->authority->active);  // old snapshot unchanged

    store.set_failing(true);
    BOOST_CHECK_THROW(store.generation(), StoreTransientError);
    BOOST_CHECK_THROW(store.load_snapshot(), StoreTransientError);
    BOOST_CHECK_THROW(store.record_use(1, TimePoint{}, "192.0.2.1"), StoreTransientError);
    store.set_failing(false);
    store.set_permanent_failure(true);
    BOOST_CHECK_THROW(store.check_schema(), StorePermanentError);
    store.set_permanent_failure(false);

    store.record_use(7, from_unix(100), "192.0.2.1");
    Event e;
    e.authority_id = 7;
    e.reason = Reason::sender_not_owned;
    store.record_events({e, e});
    BOOST_TEST(store.uses().size() == 1u);
    BOOST_TEST(store.uses()[0].client_address == "192.0.2.1");
    BOOST_TEST(store.events().size() == 2u);
    BOOST_TEST(store.load_calls() == 3u);
}

BOOST_AUTO_TEST_CASE(many_accounts_all_found) {
    // Enough accounts and domains that both name indexes grow past their first size.
    SnapshotBuilder b;
    const Id customer = b.add_customer("Bulk");
    for (int d = 0; d < 40; ++d) b.add_domain(customer, "bulk" + std::to_string(d) + ".example");
    for (int n = 0; n < 1000; ++n) b.add_account("user" + std::to_string(n) + "@bulk" + std::to_string(n % 40) + ".example");
    const Snapshot s = b.build();
    BOOST_TEST(s.account_count() == 1000u);
    int missing = 0, wrong = 0;
    for (int n = 0; n < 1000; ++n) {
        const std::string login = "User" + std::to_string(n) + "@BULK" + std::to_string(n % 40) + ".example";
        const auto account = s.find_account(login);
        if (!account) {
            ++missing;
            continue;
        }
        const auto back = s.account_by_authority(account->authority->id);
        if (!back || back->login != ascii_lower(login) || account->login != ascii_lower(login) ||
            account->domain != s.find_domain("bulk" + std::to_string(n % 40) + ".example") ||
            account->domain_customer != account->customer)
            ++wrong;
    }
    BOOST_TEST(missing == 0);
    BOOST_TEST(wrong == 0);
    BOOST_TEST(!s.find_account("user1000@bulk0.example"));
    BOOST_TEST(!s.find_account("user1@bulk2.example"));  // user1 lives in bulk1
}

BOOST_AUTO_TEST_CASE(unindexed_authority_has_no_account) {
    SnapshotBuilder b = fixture();
    const Id alice = b.authority("alice@acme.example").id;
    b.authority(alice).user_id = 4242;
    std::vector<std::string> warnings;
    const Snapshot s = b.build(&warnings);
    BOOST_TEST(s.authorities.count(alice) == 1u);
    BOOST_TEST(!s.account_by_authority(alice).has_value());
    BOOST_TEST(s.account_count() == 5u);
}

BOOST_AUTO_TEST_CASE(id_table_behaves_like_a_map) {
    IdTable<Id, std::string> t;
    struct Case {
        const char* name;
        Id id;
        const char* value;
        bool inserted;
    } const cases[] = {
        {"first", 10, "ten", true},      {"append", 20, "twenty", true}, {"before_all", 5, "five", true},
        {"middle", 15, "fifteen", true}, {"duplicate_kept", 10, "TEN", false}, {"last_again", 20, "x", false},
    };
    for (const auto& c : cases) {
        const auto [it, inserted] = t.emplace(c.id, c.value);
        BOOST_CHECK_MESSAGE(inserted == c.inserted && it->first == c.id,
                            "case " << c.name << ": got inserted=" << inserted << " id=" << it->first
                                    << ", want inserted=" << c.inserted << " id=" << c.id);
    }
    std::string order;
    for (const auto& [id, value] : t) order += std::to_string(id) + "=" + value + " ";
    BOOST_TEST(order == "5=five 10=ten 15=fifteen 20=twenty ");
    BOOST_TEST(t.size() == 4u);
    BOOST_TEST(t.count(15) == 1u);
    BOOST_TEST(t.count(16) == 0u);
    BOOST_TEST((t.find(7) == t.end()));
    BOOST_TEST(t.at(20) == "twenty");
    BOOST_CHECK_THROW(t.at(21), std::out_of_range);
    t[30] = "thirty";
    BOOST_TEST(t.position(t.find(30)) == 4u);
}

BOOST_AUTO_TEST_CASE(name_index_grows_and_finds) {
    std::vector<std::string> names;
    for (int i = 0; i < 500; ++i) names.push_back("name-" + std::to_string(i * 7919));
    NameIndex index;
    index.reset(3);  // far too small on purpose: it must grow
    const auto key_of = [&](std::uint32_t row) { return std::string_view(names[row]); };
    for (std::uint32_t i = 0; i < names.size(); ++i) BOOST_REQUIRE(index.insert(names[i], i, key_of));
    BOOST_TEST(!index.insert(names[7], 9999, key_of));  // duplicate: the first one stays
    BOOST_TEST(index.size() == names.size());
    int wrong = 0;
    for (std::uint32_t i = 0; i < names.size(); ++i) wrong += index.find(names[i], key_of) != i;
    BOOST_TEST(wrong == 0);
    BOOST_TEST(index.find("name-1", key_of) == NameIndex::npos);
    BOOST_TEST(NameIndex().find("anything", key_of) == NameIndex::npos);
}

BOOST_AUTO_TEST_CASE(compact_fields_keep_their_meaning) {
    Authority a;
    BOOST_TEST(!a.max_message_bytes.has_value());
    BOOST_TEST(!a.valid_until);
    BOOST_TEST(a.suspend_reason.empty());
    BOOST_TEST(a.senders.empty());
    BOOST_TEST(a.networks.size() == 0u);
    a.max_message_bytes = 300;
    a.valid_until = from_unix(0);  // the epoch is a value, not "none"
    a.suspended_until = std::optional<TimePoint>();
    a.suspend_reason = "abuse ticket 42";
    a.networks.push_back(*Cidr::parse("192.0.2.0/24"));
    Authority copy = a;
    a.networks.clear();
    a.suspend_reason = "";
    BOOST_TEST(copy.max_message_bytes.value_or(0) == 300u);
    BOOST_REQUIRE(copy.valid_until.has_value());
    BOOST_TEST(to_unix(*copy.valid_until) == 0);
    BOOST_TEST(!copy.suspended_until.has_value());
    BOOST_TEST(copy.suspend_reason == "abuse ticket 42");
    BOOST_REQUIRE_EQUAL(copy.networks.size(), 1u);
    BOOST_TEST(copy.networks[0].str() == "192.0.2.0/24");
    BOOST_TEST(a.networks.empty());
    BOOST_TEST(a.suspend_reason.empty());
    copy.max_message_bytes = std::nullopt;
    BOOST_TEST(!copy.max_message_bytes);
    BOOST_CHECK_THROW(copy.max_message_bytes.value(), std::bad_optional_access);
    BOOST_TEST(sizeof(Authority) <= 88u);
}

BOOST_AUTO_TEST_SUITE_END()
