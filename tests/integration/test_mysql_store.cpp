// MysqlStore against a real MariaDB: every query it runs, the constraints admins rely on, and rows that
// the schema's CHECKs would refuse but an admin may still sneak in (checks switched off): fail closed.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "core/rules/engine.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event_writer.hpp"
#include "core/store/mysql_store.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;

namespace {

struct StoreFixture {
    MysqlPool sql{config()};
    Fixture f = reset_fixture(sql);
    MysqlStore store{config()};
};

Request rcpt(const std::string& login, const std::string& sender, const std::string& client = "198.51.100.20",
             const std::string& recipient = "someone@external.example") {
    Request r;
    r.stage = Stage::rcpt;
    r.client_address = client;
    r.sasl_login = login;
    r.sender = sender;
    r.sender_known = true;
    r.recipient = recipient;
    r.tls_protocol = "TLSv1.3";
    return r;
}

std::uint64_t generation_in_sql(MysqlPool& sql) {
    return std::stoull(scalar(sql, "SELECT generation FROM change_generation WHERE id = 1").value());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mysql_store, *boost::unit_test::precondition(db_configured))

BOOST_FIXTURE_TEST_CASE(check_schema_accepts_the_migrated_database, StoreFixture) {
    BOOST_CHECK_NO_THROW(store.check_schema());
    BOOST_TEST(store.schema_version() >= kRequiredSchemaVersion);
    BOOST_CHECK_NO_THROW(store.ping());
}

BOOST_FIXTURE_TEST_CASE(generation_reads_change_generation, StoreFixture) {
    BOOST_TEST(store.generation() == generation_in_sql(sql));
    const std::uint64_t before = store.generation();
    exec(sql, "UPDATE smtp_authorities SET require_tls = 0 WHERE id = ?", {f.alice});
    BOOST_TEST(store.generation() > before);
}

BOOST_FIXTURE_TEST_CASE(load_snapshot_reads_every_rule_table, StoreFixture) {
    auto s = store.load_snapshot();
    BOOST_TEST(s->generation == generation_in_sql(sql));
    BOOST_TEST(s->customers.size() == 2u);
    BOOST_TEST(s->customers.at(f.acme).name == "Acme GmbH");
    BOOST_TEST(!s->customers.at(f.dormant).active);
    BOOST_TEST(s->domains.size() == 4u);
    BOOST_TEST(s->domains.at(f.buecher).name == "xn--bcher-kva.example");
    BOOST_TEST(!s->domains.at(f.relay_net).is_local);
    BOOST_TEST(s->users.size() == 8u);
    BOOST_TEST(s->authorities.size() == 7u);
    BOOST_TEST(s->account_count() == 7u);

    const Authority& alice = s->authorities.at(f.alice);
    BOOST_TEST(alice.user_id == f.alice_user);
    BOOST_TEST(alice.customer_id == f.acme);
    BOOST_TEST(alice.active);
    BOOST_TEST((alice.sender_policy == SenderPolicy::own_address));
    BOOST_TEST((alice.auth_mode == AuthMode::sasl));
    BOOST_TEST(alice.may_relay_external);
    BOOST_TEST(alice.require_tls);
    BOOST_TEST(alice.allow_null_sender);
    BOOST_TEST(alice.max_recipients_per_message.value_or(0) == 50u);
    BOOST_TEST(alice.max_message_bytes.value_or(0) == 10485760u);
    BOOST_REQUIRE(alice.valid_until.has_value());
    BOOST_TEST(to_unix(*alice.valid_until) == 2000000000);
    BOOST_TEST(!alice.suspended_until.has_value());
    BOOST_TEST(alice.senders.size() == 2u);

    const Authority& bob = s->authorities.at(f.bob);
    BOOST_TEST(bob.customer_id == f.acme);  // filled in by the BEFORE INSERT trigger
    BOOST_TEST((bob.sender_policy == SenderPolicy::own_domain));
    BOOST_TEST(!bob.may_relay_external);
    BOOST_TEST(!bob.max_recipients_per_message.has_value());
    BOOST_TEST(!bob.max_message_bytes.has_value());
    BOOST_REQUIRE(bob.suspended_until.has_value());
    BOOST_TEST(to_unix(*bob.suspended_until) == kFarFutureUnix);  // 2099: beyond UNIX_TIMESTAMP()
    BOOST_TEST(bob.suspend_reason == "abuse ticket 42");

    const Authority& printer = s->authorities.at(f.printer);
    BOOST_TEST((printer.auth_mode == AuthMode::ip));
    BOOST_TEST((printer.sender_policy == SenderPolicy::listed_only));
    BOOST_REQUIRE_EQUAL(printer.networks.size(), 2u);
    BOOST_TEST(printer.networks[0].str() == "192.0.2.0/28");
    BOOST_TEST(printer.networks[1].str() == "2001:db8:1::/48");

    const Authority& erin = s->authorities.at(f.erin);
    BOOST_TEST((erin.auth_mode == AuthMode::sasl_and_ip));
    BOOST_REQUIRE(erin.valid_until.has_value());
    BOOST_TEST(to_unix(*erin.valid_until) == 0);  // 1960: before the epoch, long expired

    BOOST_REQUIRE_EQUAL(s->rate_limits.size(), 3u);
    const RateLimit& global = s->rate_limits[0];
    BOOST_TEST((global.scope == RateScope::global));
    BOOST_TEST(!global.scope_id.has_value());
    BOOST_TEST((global.meter == RateMeter::messages));
    BOOST_TEST(global.amount == 100u);
    BOOST_TEST(global.window_seconds == 3600u);
    BOOST_TEST((global.calendar == RateCalendar::rolling));
    BOOST_TEST((global.kind == RateKind::each_account));
    BOOST_TEST((global.action == RateAction::defer));
    BOOST_TEST(!global.shadow);
    BOOST_TEST(global.active);
    const RateLimit& daily = s->rate_limits[1];
    BOOST_TEST((daily.scope == RateScope::authority));
    BOOST_TEST(daily.scope_id.value_or(0) == f.alice);
    BOOST_TEST((daily.calendar == RateCalendar::day));
    BOOST_TEST((daily.action == RateAction::reject));
    BOOST_TEST(daily.shadow);
    const RateLimit& net = s->rate_limits[2];
    BOOST_TEST((net.scope == RateScope::client_network));
    BOOST_REQUIRE(net.cidr.has_value());
    BOOST_TEST(net.cidr->str() == "203.0.113.0/24");
    BOOST_TEST((net.meter == RateMeter::bytes));
    BOOST_TEST((net.kind == RateKind::shared_pool));
    BOOST_TEST((net.action == RateAction::hold));
    BOOST_TEST(!net.active);
}

BOOST_FIXTURE_TEST_CASE(decisions_over_the_loaded_rules, StoreFixture) {
    auto s = store.load_snapshot();
    const TimePoint now = SystemClock::now();
    struct Case {
        const char* name;
        Request req;
        Verdict verdict;
        Reason reason;
    };
    const Case cases[] = {
        {"alice, own address", rcpt("alice@example.com", "alice@example.com"), Verdict::cont, Reason::ok},
        {"alice typed in upper case", rcpt("Alice@EXAMPLE.com", "alice@example.com"), Verdict::cont, Reason::ok},
        {"alice, extra sender pattern", rcpt("alice@example.com", "x@xn--bcher-kva.example"), Verdict::cont,
         Reason::ok},
        {"alice, foreign sender", rcpt("alice@example.com", "ceo@bank.example"), Verdict::reject,
         Reason::sender_not_owned},
        {"bob, suspended until 2099", rcpt("bob@example.com", "bob@example.com"), Verdict::reject,
         Reason::account_suspended},
        {"carol, user inactive", rcpt("carol@example.com", "carol@example.com"), Verdict::reject,
         Reason::account_disabled},
        {"dan, customer inactive", rcpt("dan@dormant.example", "dan@dormant.example"), Verdict::reject,
         Reason::customer_disabled},
        {"erin, expired in 1960", rcpt("erin@xn--bcher-kva.example", "erin@xn--bcher-kva.example", "198.51.100.7"),
         Verdict::reject, Reason::account_expired},
        {"nobody, no authority", rcpt("nobody@example.com", "nobody@example.com"), Verdict::reject,
         Reason::no_authority},
        {"printer inside its IPv4 network", rcpt("", "scan@relay.example.net", "192.0.2.5"), Verdict::permit,
         Reason::ip_authorised},
        {"printer inside its IPv6 network", rcpt("", "scan@relay.example.net", "2001:db8:1:2::9"), Verdict::permit,
         Reason::ip_authorised},
        {"stranger outside every network", rcpt("", "scan@relay.example.net", "192.0.2.16"), Verdict::cont,
         Reason::not_ours},
    };
    for (const Case& c : cases) {
        const Decision d = decide(c.req, *s, now).decision;
        BOOST_TEST((d.verdict == c.verdict),
                   "case " << c.name << ": got " << to_string(d.verdict) << ", want " << to_string(c.verdict));
        BOOST_TEST((d.reason == c.reason),
                   "case " << c.name << ": got " << to_string(d.reason) << ", want " << to_string(c.reason));
    }
}

BOOST_FIXTURE_TEST_CASE(record_use_sets_last_use_without_moving_the_generation, StoreFixture) {
    const std::uint64_t before = store.generation();
    store.record_use(f.alice, from_unix(1767225600), "2001:db8::25");
    BOOST_TEST(scalar(sql, "SELECT UNIX_TIMESTAMP(last_used_at) FROM smtp_authorities WHERE id = ?", {f.alice})
                   .value_or("NULL") == "1767225600");
    BOOST_TEST(scalar(sql, "SELECT last_client_address FROM smtp_authorities WHERE id = ?", {f.alice})
                   .value_or("NULL") == "2001:db8::25");
    BOOST_TEST(store.generation() == before, "record_use moved the change generation");
    store.record_use(999999, from_unix(1767225600), "192.0.2.1");  // a deleted account: nothing happens
}

BOOST_FIXTURE_TEST_CASE(record_events_round_trip, StoreFixture) {
    Event e;
    e.at = from_unix(1767225600) + std::chrono::microseconds(123456);
    e.node = "mx1.example.net";
    e.stage = Stage::end_of_message;
    e.authority_id = f.alice;
    e.login = "alice@example.com";
    e.client_address = "192.0.2.44";
    e.sender = "alice@example.com";
    e.recipient_count = 3;
    e.size = 5000000000ull;
    e.verdict = Verdict::cont;
    e.reason = Reason::ok;
    e.queue_id = "4XyZ1";
    e.detail = "accepted";
    Event hostile;  // what a client can put into sender and login: control bytes, bad UTF-8, huge
    hostile.at = from_unix(1767225601);
    hostile.stage = Stage::rcpt;
    hostile.login = std::string(400, 'L');
    hostile.sender = "evil\r\n\x01\xff\xfe@example.com " + std::string(600, 'x') + "\xc3\xa9";
    hostile.detail = "surrogate \xed\xa0\x80, above U+10FFFF \xf4\x90\x80\x80, overlong \xe0\x80\xaf, ok \xc3\xa9";
    hostile.verdict = Verdict::reject;
    hostile.reason = Reason::sender_not_owned;
    hostile.repeat_count = 7;
    store.record_events({e, hostile});
    BOOST_TEST(scalar(sql, "SELECT GROUP_CONCAT(repeat_count ORDER BY stage) FROM relay_events").value() == "1,7");

    BOOST_TEST(scalar(sql, "SELECT COUNT(*) FROM relay_events").value() == "2");
    BOOST_TEST(scalar(sql, "SELECT UNIX_TIMESTAMP(event_time) FROM relay_events WHERE queue_id = '4XyZ1'").value() ==
               "1767225600.123456");
    BOOST_TEST(scalar(sql,
                      "SELECT CONCAT_WS('|', node, stage, authority_id, login, client_address, sender, "
                      "recipient_count, size_bytes, verdict, reason, detail) FROM relay_events WHERE queue_id = ?",
                      {std::string("4XyZ1")})
                   .value() == "mx1.example.net|end_of_message|" + std::to_string(f.alice) +
                                   "|alice@example.com|192.0.2.44|alice@example.com|3|5000000000|continue|ok|accepted");
    BOOST_TEST(scalar(sql, "SELECT authority_id IS NULL FROM relay_events WHERE stage = 'rcpt'").value() == "1");
    BOOST_TEST(scalar(sql, "SELECT CHAR_LENGTH(login) FROM relay_events WHERE stage = 'rcpt'").value() == "320");
    const std::string sender = scalar(sql, "SELECT sender FROM relay_events WHERE stage = 'rcpt'").value();
    BOOST_TEST(sender.rfind("evil?????@example.com ", 0) == 0, "got " << sender.substr(0, 40));
    BOOST_TEST(sender.find('\r') == std::string::npos);
    const std::string detail = scalar(sql, "SELECT detail FROM relay_events WHERE stage = 'rcpt'").value();
    BOOST_TEST(detail == "surrogate ???, above U+10FFFF ????, overlong ???, ok \xc3\xa9", "got " << detail);
}

BOOST_FIXTURE_TEST_CASE(record_events_in_batches, StoreFixture) {
    std::vector<Event> events(250);
    for (std::size_t i = 0; i < events.size(); ++i) {
        events[i].at = from_unix(1767225600 + static_cast<std::int64_t>(i));
        events[i].queue_id = "Q" + std::to_string(i);
    }
    store.record_events(events);
    store.record_events({});
    BOOST_TEST(scalar(sql, "SELECT COUNT(DISTINCT queue_id) FROM relay_events").value() == "250");
}

// A flood of refusals through the real writer into the real table: every decision is in SUM(repeat_count),
// the rows are few, nothing is dropped; allowed messages keep a row each.
BOOST_FIXTURE_TEST_CASE(event_writer_flood_is_folded_into_repeat_count, StoreFixture) {
    const std::size_t n = 50000;
    const Id accounts[] = {f.alice, f.bob, f.carol};
    EventWriter::Drops drops;
    {
        EventWriter writer(store, 1000);
        writer.start();
        for (std::size_t i = 0; i < n; ++i) {
            Event e;
            e.at = from_unix(1767225600) + std::chrono::microseconds(i * 20);  // 1 s of decisions
            e.node = "it-flood";
            e.stage = Stage::rcpt;
            e.authority_id = accounts[i % 3];
            e.login = "account" + std::to_string(i % 3) + "@example.com";
            e.client_address = "192.0.2.7";
            e.verdict = Verdict::reject;
            e.reason = i % 2 ? Reason::account_disabled : Reason::rate_limited;
            e.detail = "recipient r" + std::to_string(i) + "@external.example";
            if (i % 5000 == 0) {
                e.stage = Stage::end_of_message;
                e.verdict = Verdict::cont;
                e.reason = Reason::ok;
            }
            writer.submit(std::move(e));
        }
        writer.stop();
        drops = writer.drops();
    }
    BOOST_TEST(drops.queue_full == 0u);
    BOOST_TEST(drops.not_writable == 0u);
    BOOST_TEST(scalar(sql, "SELECT SUM(repeat_count) FROM relay_events WHERE node = 'it-flood'").value() ==
               std::to_string(n));
    BOOST_TEST(scalar(sql, "SELECT COUNT(*) FROM relay_events WHERE node = 'it-flood' AND verdict = 'continue' "
                           "AND repeat_count = 1").value() == std::to_string(n / 5000));
    const auto rows = std::stoul(scalar(sql, "SELECT COUNT(*) FROM relay_events WHERE node = 'it-flood'").value());
    BOOST_TEST(rows < n / 10, "got " << rows << " rows for " << n << " decisions");
    BOOST_TEST(scalar(sql, "SELECT MIN(repeat_count) >= 1 FROM relay_events").value() == "1");
}

BOOST_FIXTURE_TEST_CASE(constraints_refuse_bad_input_as_conflicts, StoreFixture) {
    const std::vector<std::pair<const char*, std::function<void()>>> cases = {
        {"a second authority for a user",
         [&] { exec(sql, "INSERT INTO smtp_authorities (user_id) VALUES (?)", {f.alice_user}); }},
        {"an authority for a user that does not exist",
         [&] { exec(sql, "INSERT INTO smtp_authorities (user_id, customer_id) VALUES (999999, ?)", {f.acme}); }},
        {"a duplicate domain", [&] {
             exec(sql, "INSERT INTO domains (customer_id, name) VALUES (?, 'example.com')", {f.acme});
         }},
        {"an upper-case domain (CHECK)", [&] {
             exec(sql, "INSERT INTO domains (customer_id, name) VALUES (?, 'Upper.Example')", {f.acme});
         }},
        {"a network with host bits (CHECK)", [&] {
             exec(sql, "INSERT INTO authority_networks (authority_id, cidr) VALUES (?, '192.0.2.1/24')", {f.printer});
         }},
        {"deleting a customer that owns domains",
         [&] { exec(sql, "DELETE FROM customers WHERE id = ?", {f.acme}); }},
    };
    for (const auto& [name, fn] : cases) {
        try {
            fn();
            BOOST_ERROR("case " << name << ": accepted, want StoreConflictError");
        } catch (const StoreConflictError& e) {
            BOOST_TEST_MESSAGE("case " << name << ": " << e.what());
        } catch (const std::exception& e) {
            BOOST_ERROR("case " << name << ": got " << e.what() << ", want StoreConflictError");
        }
    }
    BOOST_TEST(scalar(sql, "SELECT COUNT(*) FROM smtp_authorities WHERE user_id = ?", {f.alice_user}).value() == "1");
}

BOOST_FIXTURE_TEST_CASE(broken_rows_never_widen_access, StoreFixture) {
    // An admin with CHECKs switched off (or an older schema) can store what the loader must survive.
    MysqlConnection raw(config());
    raw.execute("SET SESSION check_constraint_checks = 0");
    raw.execute("SET SESSION sql_mode = ''");
    auto run = [&](const std::string& statement, Id id) {
        auto st = raw.prepare(statement);
        st->setInt64(1, id);
        st->execute();
    };
    // alice gets a second, unreadable network: she must then be refused everywhere, not allowed anywhere
    run("INSERT INTO authority_networks (authority_id, cidr) VALUES (?, '192.0.2.300/24')", f.alice);
    // frank gets an unknown sender_policy (stored as '' without strict mode): his account is left out
    run("UPDATE smtp_authorities SET sender_policy = 'everything' WHERE id = ?", f.frank);
    // an unreadable sender pattern for the printer just matches nothing
    run("INSERT INTO authority_senders (authority_id, pattern) VALUES (?, 'not a pattern')", f.printer);
    // a domain name that is no host name is ignored (its users cannot log in)
    run("INSERT INTO domains (customer_id, name) VALUES (?, 'bad_domain!')", f.acme);

    auto s = store.load_snapshot();
    BOOST_TEST(!s->authorities.at(f.alice).active, "alice with a broken network row is still active");
    BOOST_TEST(s->authorities.count(f.frank) == 0u);
    BOOST_TEST(s->authorities.at(f.printer).senders.size() == 1u);
    BOOST_TEST(s->domains.size() == 4u);

    const TimePoint now = SystemClock::now();
    const Decision alice = decide(rcpt("alice@example.com", "alice@example.com", "192.0.2.3"), *s, now).decision;
    BOOST_TEST(alice.refused(), "alice: got " << to_string(alice.verdict) << " " << to_string(alice.reason));
    const Decision frank = decide(rcpt("frank@example.com", "frank@example.com"), *s, now).decision;
    BOOST_TEST((frank.reason == Reason::no_authority), "frank: got " << to_string(frank.reason));
}

BOOST_FIXTURE_TEST_CASE(the_pool_serves_many_threads, StoreFixture) {
    DatabaseConfig small = config();
    small.pool_size = 2;
    MysqlStore shared(small);
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20; ++i) {
                try {
                    shared.generation();
                    if (i % 5 == 0) shared.load_snapshot();
                    ++ok;
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(ok.load() == 120);
    BOOST_TEST(failed.load() == 0);
}

BOOST_AUTO_TEST_CASE(the_sample_data_loads_cleanly) {
    const std::string name = env("RELAY_TEST_DB_SAMPLE_NAME");
    BOOST_REQUIRE_MESSAGE(!name.empty(), "RELAY_TEST_DB_SAMPLE_NAME not set by run.sh");
    MysqlStore store(config(name));
    BOOST_CHECK_NO_THROW(store.check_schema());
    auto s = store.load_snapshot();
    BOOST_TEST(s->account_count() >= 5u);
    BOOST_TEST(s->account_count() == s->authorities.size(), "an authority of the sample data was left out");
}

BOOST_AUTO_TEST_SUITE_END()
