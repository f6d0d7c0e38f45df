// Charges that fail in the middle against a real MariaDB (run.sh): a COMMIT whose answer is lost is run
// again and found stored (counted once, via rate_charge_keys), a conflict or a node not ready is retried
// on a fresh connection, and a charge whose conflicts never end fails alone, not the rest of its batch.
// The failures are injected at the exact point Galera or a dying server produces them (before COMMIT:
// 1213 / 1047; after COMMIT: 2013), through MysqlRateCounters' test hooks.
#include <boost/test/unit_test.hpp>

#include <cppconn/exception.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "core/base/errors.hpp"
#include "core/store/mysql_rate_gate.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;
using namespace std::chrono_literals;

namespace {

std::string q(MysqlPool& pool, const std::string& sql, std::initializer_list<SqlValue> values = {}) {
    return scalar(pool, sql, values).value_or("NULL");
}

CounterWrite one_more(const std::vector<CounterState>& states, std::uint64_t amount = 1000) {
    CounterWrite w;
    w.charged.resize(states.size());
    w.refused.assign(states.size(), false);
    for (std::size_t i = 0; i < states.size(); ++i) {
        if (states[i].used >= amount) {
            w.refused[i] = true;
            continue;
        }
        CounterState next = states[i];
        ++next.used;
        w.charged[i] = next;
    }
    return w;
}

ChargeDeadline far() { return std::chrono::steady_clock::now() + 60s; }

RetryPolicy quick(std::chrono::milliseconds time) {
    RetryPolicy p;
    p.time = time;
    return p;
}

bool has(const std::vector<CounterKey>& keys, const CounterKey& k) {
    for (const CounterKey& x : keys) {
        if (x.limit_id == k.limit_id && x.subject_id == k.subject_id) return true;
    }
    return false;
}

struct Setup {
    MysqlPool admin{it::config()};
    Fixture f = reset_fixture(admin);
    Id limit = insert(admin, "INSERT INTO rate_limits (scope, meter, amount, window_seconds) VALUES "
                             "('global', 'messages', 1000, 3600)");
    TimePoint now = from_unix(std::stoll(q(admin, "SELECT UNIX_TIMESTAMP()")));
    std::string used(Id subject) {
        return q(admin, "SELECT used FROM rate_counters WHERE rate_limit_id = ? AND subject_id = ?", {limit, subject});
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(charge_retry, *boost::unit_test::precondition(db_configured))

BOOST_AUTO_TEST_CASE(a_commit_whose_answer_was_lost_is_counted_once) {
    Setup s;
    const CounterKey frank{s.limit, s.f.frank};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1, quick(2000ms));
    counters.update({frank}, s.now, [](const std::vector<CounterState>& st) { return one_more(st); }, far());
    BOOST_REQUIRE_EQUAL(s.used(s.f.frank), "1");
    const std::string keys_before = q(s.admin, "SELECT COUNT(*) FROM rate_charge_keys");

    // The COMMIT reached the server; its answer did not (the connection died right after).
    int lost = 0;
    counters.set_test_hooks(nullptr, [&](MysqlConnection& c, const std::vector<CounterKey>&) {
        if (lost++ > 0) return;
        c.mark_broken();
        throw sql::SQLException("Lost connection to server during query (injected)", "HY000", 2013);
    });
    std::optional<CounterState> decided;
    counters.update({frank}, s.now, [&](const std::vector<CounterState>& st) {
        CounterWrite w = one_more(st);
        decided = w.charged[0];
        return w;
    }, far());
    BOOST_CHECK_EQUAL(lost, 2);  // committed, answer lost; run again and committed (the key only)
    BOOST_CHECK_EQUAL(s.used(s.f.frank), "2");  // not 3
    BOOST_REQUIRE(decided);
    BOOST_CHECK_EQUAL(decided->used, 2u);  // what the caller was told is what is stored
    BOOST_CHECK_EQUAL(counters.charges_found_stored(), 1u);
    BOOST_CHECK_EQUAL(counters.retried().lost_connections.load(), 1u);
    BOOST_CHECK_EQUAL(q(s.admin, "SELECT COUNT(*) - ? FROM rate_charge_keys", {std::stoll(keys_before)}), "1");
}

BOOST_AUTO_TEST_CASE(a_lost_connection_before_commit_is_charged_once_on_a_fresh_connection) {
    Setup s;
    const CounterKey frank{s.limit, s.f.frank};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1, quick(2000ms));
    int failures = 0;
    counters.set_test_hooks([&](MysqlConnection& c, const std::vector<CounterKey>&) {
        if (failures++ > 0) return;
        // The server kills our session in the middle of the transaction: nothing of it is stored.
        std::unique_ptr<sql::ResultSet> id(c.query("SELECT CONNECTION_ID()"));
        id->next();
        exec(s.admin, "KILL ?", {static_cast<std::int64_t>(id->getUInt64(1))});
        c.execute("SELECT 1");
    }, nullptr);
    counters.update({frank}, s.now, [](const std::vector<CounterState>& st) { return one_more(st); }, far());
    BOOST_CHECK_EQUAL(failures, 2);
    BOOST_CHECK_EQUAL(s.used(s.f.frank), "1");
    BOOST_CHECK_EQUAL(counters.retried().lost_connections.load(), 1u);
    BOOST_CHECK_EQUAL(counters.charges_found_stored(), 0u);
}

BOOST_AUTO_TEST_CASE(conflicts_and_a_node_not_ready_are_retried_with_backoff) {
    Setup s;
    const CounterKey frank{s.limit, s.f.frank};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1, quick(2000ms));
    const int codes[] = {1213, 1213, 1047, 1180, 1205};
    int attempt = 0;
    counters.set_test_hooks([&](MysqlConnection&, const std::vector<CounterKey>&) {
        if (attempt < 5) {
            const int code = codes[attempt++];
            throw sql::SQLException("injected failure at COMMIT", "40001", code);
        }
    }, nullptr);
    counters.update({frank}, s.now, [](const std::vector<CounterState>& st) { return one_more(st); }, far());
    BOOST_CHECK_EQUAL(s.used(s.f.frank), "1");
    BOOST_CHECK_EQUAL(counters.retried().conflicts.load(), 3u);
    BOOST_CHECK_EQUAL(counters.retried().node_not_ready.load(), 2u);
}

BOOST_AUTO_TEST_CASE(a_charge_in_endless_conflict_fails_alone_not_its_batch) {
    Setup s;
    const CounterKey alice{s.limit, s.f.alice}, bob{s.limit, s.f.bob}, frank{s.limit, s.f.frank},
        carol{s.limit, s.f.carol};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1, quick(200ms));
    // The rows first, so that every later transaction charges at once.
    counters.update({alice, bob, frank, carol}, s.now, [](const std::vector<CounterState>& st) {
        CounterWrite w;
        w.charged.resize(st.size());
        w.refused.assign(st.size(), false);
        return w;
    }, far());
    // frank's counter is hot: every transaction that writes it loses certification.
    counters.set_test_hooks([&](MysqlConnection&, const std::vector<CounterKey>& keys) {
        if (has(keys, frank)) throw sql::SQLException("Deadlock found (injected certification conflict)", "40001", 1213);
    }, nullptr);

    // alice's charge holds its transaction open until the three others have queued: they go together.
    std::promise<void> entered, release;
    auto released = release.get_future().share();
    std::thread first([&] {
        bool told = false;
        counters.update({alice}, s.now, [&](const std::vector<CounterState>& st) {
            if (!told) entered.set_value();
            told = true;
            released.wait();
            return one_more(st);
        }, far());
    });
    entered.get_future().wait();
    std::atomic<int> charged{0}, contended{0};
    std::vector<std::thread> threads;
    for (const CounterKey& key : {bob, frank, carol}) {
        threads.emplace_back([&, key] {
            try {
                counters.update({key}, s.now, [](const std::vector<CounterState>& st) { return one_more(st); }, far());
                ++charged;
            } catch (const StoreContentionError&) {
                ++contended;
            }
        });
    }
    for (int i = 0; i < 500 && counters.queued() < 3; ++i) std::this_thread::sleep_for(10ms);
    BOOST_REQUIRE_EQUAL(counters.queued(), 3u);
    release.set_value();
    first.join();
    for (auto& t : threads) t.join();

    BOOST_CHECK_EQUAL(charged.load(), 2);
    BOOST_CHECK_EQUAL(contended.load(), 1);
    BOOST_CHECK_EQUAL(counters.batches_split(), 1u);
    BOOST_CHECK_EQUAL(s.used(s.f.alice), "1");
    BOOST_CHECK_EQUAL(s.used(s.f.bob), "1");
    BOOST_CHECK_EQUAL(s.used(s.f.carol), "1");
    BOOST_CHECK_EQUAL(s.used(s.f.frank), "0");  // failed closed: not counted
}

BOOST_AUTO_TEST_SUITE_END()
