// An admin's SQL edit reaches a running daemon: the change generation moves (triggers), the polling
// SnapshotCache reloads, and Policy refuses within 2 seconds, without a restart. The refusal lands in
// relay_events through the EventWriter.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include "core/base/clock.hpp"
#include "core/rules/event_writer.hpp"
#include "core/store/mysql_store.hpp"
#include "core/policy/policy.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;
using namespace std::chrono_literals;

namespace {

Request rcpt(const std::string& login) {
    Request r;
    r.stage = Stage::rcpt;
    r.client_address = "198.51.100.20";
    r.sasl_login = login;
    r.sender = login;
    r.sender_known = true;
    r.recipient = "someone@external.example";
    r.tls_protocol = "TLSv1.3";
    r.queue_id = "PROP1";
    return r;
}

// Asks the policy every 20 ms until want(decision) holds; returns how long that took (or the limit).
template <typename Want>
std::chrono::milliseconds time_until(Policy& policy, const Request& r, Want want,
                                     std::chrono::milliseconds limit = 5000ms) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
        if (want(policy.evaluate(r))) break;
        std::this_thread::sleep_for(20ms);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

struct Daemon {
    MysqlPool admin{config()};  // the admin's own connection: plain SQL, nothing of the daemon's
    Fixture f = reset_fixture(admin);
    MysqlStore store{config()};
    RealClock clock;
    SnapshotCache cache{store, CacheOptions{200ms, 300s}, clock};
    EventWriter events{store};
    Policy policy{cache, clock, PolicyOptions{"it-node"}, nullptr, &events};

    Daemon() {
        store.check_schema();
        BOOST_REQUIRE(cache.refresh());
        cache.start_polling();
        events.start();
    }
    ~Daemon() {
        cache.stop_polling();
        events.stop();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(propagation, *boost::unit_test::precondition(db_configured))

BOOST_FIXTURE_TEST_CASE(disabling_an_account_in_sql_refuses_it_within_two_seconds, Daemon) {
    const Request alice = rcpt("alice@example.com");
    BOOST_REQUIRE_MESSAGE(policy.evaluate(alice).reason == Reason::ok, "alice must be allowed before the edit");

    exec(admin, "UPDATE smtp_authorities SET active = 0 WHERE id = ?", {f.alice});
    const auto took = time_until(policy, alice, [](const Decision& d) { return d.reason == Reason::account_disabled; });
    BOOST_TEST((took < 2000ms), "disable took " << took.count() << " ms, want < 2000");
    const Decision d = policy.evaluate(alice);
    BOOST_TEST((d.verdict == Verdict::reject), "got " << to_string(d.verdict));
    BOOST_TEST(d.reply().rfind("550 5.7.1 ", 0) == 0u, "got " << d.reply());

    exec(admin, "UPDATE smtp_authorities SET active = 1 WHERE id = ?", {f.alice});
    const auto back = time_until(policy, alice, [](const Decision& x) { return x.reason == Reason::ok; });
    BOOST_TEST((back < 2000ms), "re-enable took " << back.count() << " ms, want < 2000");

    events.flush();
    BOOST_TEST(scalar(admin,
                      "SELECT COUNT(*) FROM relay_events WHERE authority_id = ? AND reason = 'account_disabled' "
                      "AND verdict = 'reject' AND node = 'it-node' AND queue_id = 'PROP1'",
                      {f.alice})
                   .value_or("0") != "0");
}

BOOST_FIXTURE_TEST_CASE(deleting_a_user_refuses_it_within_two_seconds, Daemon) {
    const Request frank = rcpt("frank@example.com");
    BOOST_REQUIRE_MESSAGE(policy.evaluate(frank).reason == Reason::ok, "frank must be allowed before the edit");
    exec(admin, "DELETE FROM users WHERE id = ?", {f.frank_user});  // cascades to the authority
    const auto took = time_until(policy, frank, [](const Decision& d) { return d.reason == Reason::no_authority; });
    BOOST_TEST((took < 2000ms), "delete took " << took.count() << " ms, want < 2000");
    BOOST_TEST((policy.evaluate(frank).verdict == Verdict::reject));
}

BOOST_FIXTURE_TEST_CASE(suspending_and_sender_rules_propagate, Daemon) {
    const Request alice = rcpt("alice@example.com");
    exec(admin, "UPDATE smtp_authorities SET suspended_until = NOW() + INTERVAL 1 HOUR WHERE id = ?", {f.alice});
    auto took = time_until(policy, alice, [](const Decision& d) { return d.reason == Reason::account_suspended; });
    BOOST_TEST((took < 2000ms), "suspend took " << took.count() << " ms");
    exec(admin, "UPDATE smtp_authorities SET suspended_until = NULL WHERE id = ?", {f.alice});

    Request other = alice;
    other.sender = "team@partner.example";
    // once the suspension is lifted, a partner address is still not hers
    time_until(policy, other, [](const Decision& d) { return d.reason == Reason::sender_not_owned; });
    BOOST_TEST((policy.evaluate(other).reason == Reason::sender_not_owned),
               "got " << to_string(policy.evaluate(other).reason));
    exec(admin, "INSERT INTO authority_senders (authority_id, pattern) VALUES (?, '@partner.example')", {f.alice});
    took = time_until(policy, other, [](const Decision& d) { return d.reason == Reason::ok; });
    BOOST_TEST((took < 2000ms), "new sender pattern took " << took.count() << " ms");
}

BOOST_AUTO_TEST_SUITE_END()
