// The write paths' batching against a real MariaDB (run.sh): charges queued while a charge transaction
// runs go together in the next one and are decided one by one (exact, each with its own result); prepared
// statements kept per connection; last-use stamps of several accounts in one statement.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/base/errors.hpp"
#include "core/store/mysql_rate_gate.hpp"
#include "core/store/mysql_store.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;
using namespace std::chrono_literals;

namespace {

std::string q(MysqlPool& pool, const std::string& sql, std::initializer_list<SqlValue> values = {}) {
    return scalar(pool, sql, values).value_or("NULL");
}

// A decide function of a limit of `amount` messages: charge when it fits, else count a refusal.
CounterWrite within(const std::vector<CounterState>& states, std::uint64_t amount) {
    CounterWrite w;
    w.charged.resize(states.size());
    w.refused.assign(states.size(), false);
    for (std::size_t i = 0; i < states.size(); ++i) {
        if (states[i].used < amount) {
            CounterState next = states[i];
            ++next.used;
            w.charged[i] = next;
        } else {
            w.refused[i] = true;
        }
    }
    return w;
}

// A deadline no test reaches.
ChargeDeadline far() { return std::chrono::steady_clock::now() + 60s; }

std::int64_t session_prepares(MysqlConnection& c) {
    auto rs = c.query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'");
    return rs->next() ? std::stoll(std::string(rs->getString(2))) : -1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(charge_batch, *boost::unit_test::precondition(db_configured))

BOOST_AUTO_TEST_CASE(queued_charges_share_one_transaction_and_stay_exact) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id limit = insert(admin, "INSERT INTO rate_limits (scope, meter, amount, window_seconds) VALUES "
                                   "('global', 'messages', 5, 3600)");
    const CounterKey frank{limit, f.frank}, alice{limit, f.alice};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1);
    const TimePoint now = from_unix(std::stoll(q(admin, "SELECT UNIX_TIMESTAMP()")));
    // Create the rows first, so the batch below needs exactly one transaction.
    counters.update({frank, alice}, now, [](const std::vector<CounterState>& s) {
        CounterWrite w;
        w.charged.resize(s.size());
        w.refused.assign(s.size(), false);
        return w;
    }, far());

    // The first charge holds its transaction open (inside decide) until the others have queued.
    std::promise<void> entered, release;
    auto released = release.get_future().share();
    std::thread first([&] {
        bool told = false;
        counters.update({frank}, now, [&](const std::vector<CounterState>& s) {
            if (!told) entered.set_value();
            told = true;
            released.wait();
            return within(s, 5);
        }, far());
    });
    entered.get_future().wait();
    std::atomic<int> accepted{0}, refused{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t) {
        threads.emplace_back([&, t] {
            const CounterKey key = t < 8 ? frank : alice;
            bool charged = false;
            try {
                counters.update({key}, now, [&](const std::vector<CounterState>& s) {
                    if (t == 9) throw std::runtime_error("decide failed");  // this charge only
                    CounterWrite w = within(s, 5);
                    charged = w.charged[0].has_value();
                    return w;
                }, far());
                ++(charged ? accepted : refused);
            } catch (const std::runtime_error&) {
                ++failed;
            }
        });
    }
    for (int i = 0; i < 500 && counters.queued() < 10; ++i) std::this_thread::sleep_for(10ms);
    BOOST_CHECK_EQUAL(counters.queued(), 10u);
    release.set_value();
    first.join();
    for (auto& t : threads) t.join();

    // frank: 1 (first) + 4 of the 8 queued fit in 5; alice: 1 charged, 1 failed on its own.
    BOOST_CHECK_EQUAL(accepted.load(), 5);
    BOOST_CHECK_EQUAL(refused.load(), 4);
    BOOST_CHECK_EQUAL(failed.load(), 1);
    BOOST_CHECK_EQUAL(counters.batches(), 3u);          // the rows, the first charge, then the 10 together
    BOOST_CHECK_EQUAL(counters.batched_charges(), 12u);
    const std::string row = "SELECT CONCAT(used, '/', refusals) FROM rate_counters WHERE rate_limit_id = ? AND subject_id = ?";
    BOOST_CHECK_EQUAL(q(admin, row, {limit, f.frank}), "5/4");
    BOOST_CHECK_EQUAL(q(admin, row, {limit, f.alice}), "1/0");
    BOOST_CHECK_EQUAL(q(admin, "SELECT UNIX_TIMESTAMP(last_charge_at) = ? FROM rate_counters WHERE subject_id = ?",
                        {to_unix(now), f.alice}),
                      "1");
}

BOOST_AUTO_TEST_CASE(a_queued_charge_gives_up_at_its_deadline_without_the_database) {
    // A transaction that hangs (here: inside decide) holds the queue; a charge behind it leaves at its
    // deadline with StoreTransientError, never decided, never stored: the caller answers a temporary failure.
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id limit = insert(admin, "INSERT INTO rate_limits (scope, meter, amount, window_seconds) VALUES "
                                   "('global', 'messages', 5, 3600)");
    const CounterKey frank{limit, f.frank};
    MysqlPool pool(it::config());
    MysqlRateCounters counters(pool, 64, 1);
    const TimePoint now = from_unix(std::stoll(q(admin, "SELECT UNIX_TIMESTAMP()")));
    std::promise<void> entered, release;
    auto released = release.get_future().share();
    std::thread first([&] {
        bool told = false;
        counters.update({frank}, now, [&](const std::vector<CounterState>& s) {
            if (!told) entered.set_value();
            told = true;
            released.wait();
            return within(s, 5);
        }, far());
    });
    entered.get_future().wait();
    bool decided = false;
    const ChargeDeadline deadline = std::chrono::steady_clock::now() + 200ms;
    BOOST_CHECK_THROW(counters.update({frank}, now, [&](const std::vector<CounterState>& s) {
        decided = true;
        return within(s, 5);
    }, deadline), StoreTransientError);
    BOOST_CHECK(!decided);
    BOOST_CHECK_EQUAL(counters.queued(), 0u);
    release.set_value();
    first.join();
    const std::string row = "SELECT CONCAT(used, '/', refusals) FROM rate_counters WHERE rate_limit_id = ? AND subject_id = ?";
    BOOST_CHECK_EQUAL(q(admin, row, {limit, f.frank}), "1/0");  // the first charge only
}

BOOST_AUTO_TEST_CASE(many_threads_on_two_processes_stay_exact) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const Id limit = insert(admin, "INSERT INTO rate_limits (scope, meter, amount, window_seconds) VALUES "
                                   "('global', 'messages', 60, 3600)");
    MysqlPool pool_a(it::config()), pool_b(it::config());
    MysqlRateCounters a(pool_a, 64, 2), b(pool_b, 64, 2);
    const TimePoint now = from_unix(std::stoll(q(admin, "SELECT UNIX_TIMESTAMP()")));
    const Id accounts[] = {f.alice, f.bob, f.frank};
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 24; ++t) {
        threads.emplace_back([&, t] {
            MysqlRateCounters& counters = t % 2 ? a : b;
            for (int i = 0; i < 10; ++i) {  // 240 charges, 80 per account, 60 fit
                bool charged = false;
                counters.update({CounterKey{limit, accounts[(t + i) % 3]}}, now,
                                [&](const std::vector<CounterState>& s) {
                                    CounterWrite w = within(s, 60);
                                    charged = w.charged[0].has_value();
                                    return w;
                                }, far());
                accepted += charged;
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_CHECK_EQUAL(accepted.load(), 180);
    BOOST_CHECK_EQUAL(q(admin, "SELECT CONCAT(SUM(used), '/', SUM(refusals)) FROM rate_counters WHERE rate_limit_id = ?",
                        {limit}),
                      "180/60");
    BOOST_TEST_MESSAGE("transactions: " << a.batches() + b.batches() << " for " << a.batched_charges() + b.batched_charges()
                                        << " charges");
}

BOOST_AUTO_TEST_CASE(statements_are_prepared_once_per_connection) {
    MysqlPool pool(it::config());
    auto lease = pool.lease();
    MysqlConnection& c = *lease;
    const std::int64_t before = session_prepares(c);
    for (int i = 0; i < 3; ++i) {
        sql::PreparedStatement& st = c.cached("SELECT ? + 1");
        st.setInt(1, i);
        std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
        BOOST_REQUIRE(rs->next());
        BOOST_CHECK_EQUAL(rs->getInt(1), i + 1);
    }
    c.execute("DO 1");
    c.execute("DO 1");
    const std::int64_t cached = session_prepares(c) - before;
    for (int i = 0; i < 3; ++i) c.prepare("SELECT ? + 1");
    const std::int64_t uncached = session_prepares(c) - before - cached;
    // Each figure also counts one SHOW STATUS of its own.
    BOOST_CHECK_EQUAL(cached, 1 + 1 + 1);
    BOOST_CHECK_EQUAL(uncached, 3 + 1);
    // Beyond the bound the least recently used is dropped and prepared again when needed.
    for (std::size_t i = 0; i < MysqlConnection::kMaxCachedStatements; ++i) c.cached("SELECT " + std::to_string(i));
    const std::int64_t mark = session_prepares(c);
    c.cached("SELECT 1 + 1");  // never cached: one prepare
    c.cached("SELECT 63");     // still cached
    c.cached("SELECT ? + 1");  // dropped meanwhile: prepared again
    BOOST_CHECK_EQUAL(session_prepares(c) - mark, 2 + 1);
}

BOOST_AUTO_TEST_CASE(last_use_stamps_of_several_accounts_in_one_statement) {
    MysqlPool admin(it::config());
    const Fixture f = reset_fixture(admin);
    const std::string generation = q(admin, "SELECT generation FROM change_generation");
    MysqlStore store(it::config());
    store.record_uses({{f.alice, from_unix(1767225600), "192.0.2.1"},
                       {f.bob, from_unix(1767225660), ""},
                       {f.frank, from_unix(1767225720), "2001:db8::1"}});  // 3 stamps: padded to 4
    const std::string stamp = "SELECT CONCAT(UNIX_TIMESTAMP(last_used_at), ' ', COALESCE(last_client_address, '-')) "
                              "FROM smtp_authorities WHERE id = ?";
    BOOST_CHECK_EQUAL(q(admin, stamp, {f.alice}), "1767225600 192.0.2.1");
    BOOST_CHECK_EQUAL(q(admin, stamp, {f.bob}), "1767225660 -");
    BOOST_CHECK_EQUAL(q(admin, stamp, {f.frank}), "1767225720 2001:db8::1");
    BOOST_CHECK_EQUAL(q(admin, "SELECT COUNT(*) FROM smtp_authorities WHERE last_used_at IS NOT NULL"), "3");
    BOOST_CHECK_EQUAL(q(admin, "SELECT generation FROM change_generation"), generation);  // not a rule change
    // An account deleted meanwhile has nothing to write; the others are written all the same.
    store.record_uses({{f.carol, from_unix(1767225900), "198.51.100.9"}, {999999, from_unix(1767225600), ""}});
    BOOST_CHECK_EQUAL(q(admin, stamp, {f.carol}), "1767225900 198.51.100.9");
}

BOOST_AUTO_TEST_SUITE_END()
