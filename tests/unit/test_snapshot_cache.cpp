// SnapshotCache over a MemoryStore with a ManualClock: loading, reloading on a generation change, serving
// through an outage up to max_stale and nothing after it, the polling thread and its immediate stop.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "tests/support/memory_store.hpp"
#include "core/policy/snapshot_cache.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

Snapshot rules(bool alice_active = true) {
    SnapshotBuilder b;
    Authority& alice = b.add_account("alice@example.com");
    alice.active = alice_active;
    b.add_account("bob@example.com");
    return b.build();
}

CacheOptions options(std::chrono::seconds max_stale = 300s, std::chrono::milliseconds poll = 1000ms) {
    CacheOptions o;
    o.max_stale = max_stale;
    o.poll_interval = poll;
    return o;
}

// Waits (bounded) until pred holds; true if it did.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(snapshot_cache)

BOOST_AUTO_TEST_CASE(nothing_is_served_before_the_first_load) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(), clock);
    BOOST_TEST(!cache.current());
    BOOST_TEST(!cache.last_loaded());
}

BOOST_AUTO_TEST_CASE(refresh_loads_once_and_reloads_only_when_the_generation_moves) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(), clock);

    BOOST_TEST(cache.refresh());
    SnapshotPtr first = cache.current();
    BOOST_REQUIRE(first);
    BOOST_TEST(first->generation == 1u);
    BOOST_TEST(first->account_count() == 2u);
    BOOST_TEST((first->loaded_at == clock.now()));

    BOOST_TEST(cache.refresh());
    BOOST_TEST(cache.refresh());
    BOOST_TEST(store.load_calls() == 1u);
    BOOST_TEST(store.generation_calls() == 3u);
    BOOST_TEST(cache.current() == first);  // the very same object: nothing reloaded

    store.set_snapshot(rules(false));  // an admin disables alice
    BOOST_TEST(cache.refresh());
    SnapshotPtr second = cache.current();
    BOOST_REQUIRE(second);
    BOOST_TEST(second->generation == 2u);
    BOOST_TEST(store.load_calls() == 2u);
    BOOST_TEST(!second->find_account("alice@example.com")->authority->active);
    // a reader still holding the old snapshot keeps a valid object
    BOOST_TEST(first->find_account("alice@example.com")->authority->active);
}

BOOST_AUTO_TEST_CASE(generation_bump_without_change_reloads) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(), clock);
    BOOST_TEST(cache.refresh());
    store.bump_generation();
    BOOST_TEST(cache.refresh());
    BOOST_TEST(store.load_calls() == 2u);
    BOOST_TEST(cache.current()->generation == 2u);
}

BOOST_AUTO_TEST_CASE(outage_serves_the_last_good_rules_up_to_max_stale) {
    // After a good refresh at t0 the database fails; current() is asked at t0 + offset.
    struct Case {
        const char* name;
        std::chrono::seconds offset;
        bool served;
    };
    const Case cases[] = {
        {"right after the failure", 0s, true},
        {"one second in", 1s, true},
        {"just inside max_stale", 299s, true},
        {"exactly max_stale", 300s, true},
        {"one second past max_stale", 301s, false},
        {"an hour later", 3600s, false},
    };
    for (const Case& c : cases) {
        MemoryStore store(rules());
        ManualClock clock;
        SnapshotCache cache(store, options(300s), clock);
        BOOST_REQUIRE(cache.refresh());
        store.set_failing(true);
        clock.advance(c.offset);
        BOOST_TEST(!cache.refresh(), "case " << c.name << ": refresh reported success during an outage");
        const bool served = cache.current() != nullptr;
        BOOST_TEST(served == c.served, "case " << c.name << ": got served=" << served << ", want " << c.served);
        BOOST_TEST(cache.last_loaded() != nullptr, "case " << c.name << ": last_loaded() lost the rules");
    }
}

BOOST_AUTO_TEST_CASE(recovery_after_max_stale_serves_again_without_a_reload) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(10s), clock);
    BOOST_REQUIRE(cache.refresh());
    store.set_failing(true);
    for (int i = 0; i < 20; ++i) {  // a long outage, polled every second: logged once, never thrown
        clock.advance(1s);
        BOOST_TEST(!cache.refresh());
    }
    BOOST_TEST(!cache.current());
    store.set_failing(false);
    BOOST_TEST(cache.refresh());
    BOOST_REQUIRE(cache.current());
    BOOST_TEST(store.load_calls() == 1u);  // same generation: the rules are confirmed, not reloaded
}

BOOST_AUTO_TEST_CASE(a_failing_reload_keeps_the_old_rules_and_their_age) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(10s), clock);
    BOOST_REQUIRE(cache.refresh());
    store.set_snapshot(rules(false));
    store.set_failing(true);
    clock.advance(11s);
    BOOST_TEST(!cache.refresh());
    BOOST_TEST(!cache.current());
    BOOST_TEST(cache.last_loaded()->generation == 1u);
}

BOOST_AUTO_TEST_CASE(no_rules_and_no_database_serves_nothing) {
    MemoryStore store(rules());
    store.set_failing(true);
    ManualClock clock;
    SnapshotCache cache(store, options(), clock);
    BOOST_TEST(!cache.refresh());
    BOOST_TEST(!cache.current());
}

BOOST_AUTO_TEST_CASE(permanent_errors_are_rethrown_and_keep_the_rules) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(), clock);
    BOOST_REQUIRE(cache.refresh());
    store.set_permanent_failure(true);
    BOOST_CHECK_THROW(cache.refresh(), StorePermanentError);
    BOOST_TEST(cache.current() != nullptr);
}

BOOST_AUTO_TEST_CASE(polling_thread_picks_up_changes_and_survives_outages) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(300s, 10ms), clock);
    cache.start_polling();
    cache.start_polling();  // a second start is harmless
    BOOST_TEST(eventually([&] { return cache.current() != nullptr; }));

    store.set_failing(true);
    const std::size_t calls = store.generation_calls();
    BOOST_TEST(eventually([&] { return store.generation_calls() > calls + 3; }));
    BOOST_TEST(cache.current() != nullptr);

    store.set_failing(false);
    store.set_snapshot(rules(false));
    BOOST_TEST(eventually([&] {
        SnapshotPtr s = cache.current();
        return s && s->generation == 2u;
    }));

    store.set_permanent_failure(true);  // logged by the thread, never kills it
    const std::size_t before = store.generation_calls();
    BOOST_TEST(eventually([&] { return store.generation_calls() > before + 2; }));
    cache.stop_polling();
}

BOOST_AUTO_TEST_CASE(stop_is_immediate_even_with_a_long_poll_interval) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(300s, std::chrono::milliseconds(60000)), clock);
    cache.start_polling();
    BOOST_TEST(eventually([&] { return cache.current() != nullptr; }));
    const auto start = std::chrono::steady_clock::now();
    cache.stop_polling();
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took < 2s), "stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                       << " ms, want well under the 60 s poll interval");
    cache.stop_polling();  // twice is harmless
}

BOOST_AUTO_TEST_CASE(readers_and_the_poller_run_concurrently) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, options(300s, 1ms), clock);
    BOOST_REQUIRE(cache.refresh());
    cache.start_polling();
    std::atomic<bool> done{false};
    std::atomic<long> lookups{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back([&] {
            while (!done) {
                SnapshotPtr s = cache.current();
                if (s && s->find_account("bob@example.com")) ++lookups;
            }
        });
    }
    for (int i = 0; i < 20; ++i) {
        store.set_snapshot(rules(i % 2 == 0));
        std::this_thread::sleep_for(2ms);
    }
    done = true;
    for (auto& t : readers) t.join();
    cache.stop_polling();
    BOOST_TEST(lookups.load() > 0);
}

BOOST_AUTO_TEST_SUITE_END()
