// EventWriter over a MemoryStore: batching, the queue bound, keeping events through a transient outage,
// coalescing last-use stamps, the background thread and stop(); and make_event's field mapping.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include "core/errors.hpp"
#include "core/event.hpp"
#include "core/event_writer.hpp"
#include "core/memory_store.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

Event event(const std::string& queue_id) {
    Event e;
    e.at = from_unix(1767225600);
    e.node = "mx1";
    e.queue_id = queue_id;
    e.verdict = Verdict::reject;
    e.reason = Reason::sender_not_owned;
    return e;
}

std::vector<std::string> queue_ids(const MemoryStore& store) {
    std::vector<std::string> out;
    for (const Event& e : store.events()) out.push_back(e.queue_id);
    return out;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_writer)

BOOST_AUTO_TEST_CASE(flush_writes_in_submission_order) {
    MemoryStore store;
    EventWriter writer(store);
    for (int i = 0; i < 450; ++i) writer.submit(event("Q" + std::to_string(i)));  // more than one batch
    writer.flush();
    const auto ids = queue_ids(store);
    BOOST_REQUIRE_EQUAL(ids.size(), 450u);
    for (int i = 0; i < 450; ++i) BOOST_TEST(ids[i] == "Q" + std::to_string(i), "event " << i << ": got " << ids[i]);
}

BOOST_AUTO_TEST_CASE(a_full_queue_drops_new_events) {
    MemoryStore store;
    EventWriter writer(store, 3);
    for (int i = 0; i < 5; ++i) writer.submit(event("Q" + std::to_string(i)));
    writer.flush();
    BOOST_TEST(queue_ids(store) == (std::vector<std::string>{"Q0", "Q1", "Q2"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(transient_errors_keep_events_for_a_retry) {
    MemoryStore store;
    EventWriter writer(store, 10);
    writer.submit(event("A"));
    writer.submit(event("B"));
    store.set_failing(true);
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    writer.submit(event("C"));
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    store.set_failing(false);
    writer.flush();
    BOOST_TEST(queue_ids(store) == (std::vector<std::string>{"A", "B", "C"}), boost::test_tools::per_element());
    writer.flush();  // nothing written twice
    BOOST_TEST(store.events().size() == 3u);
}

BOOST_AUTO_TEST_CASE(the_bound_holds_while_the_store_is_down) {
    MemoryStore store;
    EventWriter writer(store, 4);
    store.set_failing(true);
    for (int i = 0; i < 10; ++i) {
        writer.submit(event("Q" + std::to_string(i)));
        BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    }
    store.set_failing(false);
    writer.flush();
    BOOST_TEST(store.events().size() == 4u);
}

BOOST_AUTO_TEST_CASE(permanent_errors_drop_the_batch) {
    MemoryStore store;
    EventWriter writer(store);
    writer.submit(event("A"));
    store.set_permanent_failure(true);
    BOOST_CHECK_THROW(writer.flush(), StorePermanentError);
    store.set_permanent_failure(false);
    writer.submit(event("B"));
    writer.flush();
    BOOST_TEST(queue_ids(store) == (std::vector<std::string>{"B"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(last_use_stamps_keep_the_latest_per_account) {
    MemoryStore store;
    EventWriter writer(store);
    writer.submit_use(7, from_unix(100), "192.0.2.1");
    writer.submit_use(8, from_unix(150), "192.0.2.8");
    writer.submit_use(7, from_unix(200), "192.0.2.2");
    writer.submit_use(7, from_unix(120), "192.0.2.3");  // older, arrived late
    writer.flush();
    const auto uses = store.uses();
    BOOST_REQUIRE_EQUAL(uses.size(), 2u);
    for (const auto& use : uses) {
        if (use.authority_id == 7) {
            BOOST_TEST(use.client_address == "192.0.2.2");
            BOOST_TEST(to_unix(use.when) == 200);
        } else {
            BOOST_TEST(use.authority_id == 8);
            BOOST_TEST(use.client_address == "192.0.2.8");
        }
    }
}

BOOST_AUTO_TEST_CASE(last_use_stamps_survive_an_outage) {
    MemoryStore store;
    EventWriter writer(store);
    writer.submit_use(7, from_unix(100), "192.0.2.1");
    store.set_failing(true);
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    store.set_failing(false);
    writer.flush();
    BOOST_TEST(store.uses().size() == 1u);
}

BOOST_AUTO_TEST_CASE(last_use_stamps_go_to_the_store_in_one_call_per_flush) {
    // Counts the batched calls (MysqlStore writes each call with one UPDATE per 128 accounts).
    struct CountingStore : MemoryStore {
        std::vector<std::size_t> calls;
        void record_uses(const std::vector<UseStamp>& uses) override {
            calls.push_back(uses.size());
            MemoryStore::record_uses(uses);
        }
    } store;
    EventWriter writer(store);
    for (Id id = 1; id <= 300; ++id) writer.submit_use(id, from_unix(100 + id), "192.0.2.1");
    writer.submit_use(5, from_unix(1000), "192.0.2.5");  // coalesced with the earlier stamp of 5
    writer.flush();
    BOOST_TEST(store.calls == (std::vector<std::size_t>{300}), boost::test_tools::per_element());
    writer.flush();  // nothing queued: no call
    BOOST_TEST(store.calls.size() == 1u);
    BOOST_TEST(store.uses().size() == 300u);
}

BOOST_AUTO_TEST_CASE(last_use_stamps_are_not_lost_at_stop) {
    MemoryStore store;
    {
        EventWriter writer(store);
        writer.start();
        for (Id id = 1; id <= 50; ++id) writer.submit_use(id, from_unix(100), "192.0.2.1");
        writer.stop();
    }
    BOOST_TEST(store.uses().size() == 50u);
}

BOOST_AUTO_TEST_CASE(background_thread_writes_and_retries) {
    MemoryStore store;
    EventWriter writer(store);
    writer.start();
    writer.start();  // harmless
    writer.submit(event("A"));
    BOOST_TEST(eventually([&] { return store.events().size() == 1u; }));

    store.set_failing(true);
    writer.submit(event("B"));
    std::this_thread::sleep_for(1500ms);  // at least one failed attempt
    BOOST_TEST(store.events().size() == 1u);
    store.set_failing(false);
    BOOST_TEST(eventually([&] { return store.events().size() == 2u; }, 10000ms));
    writer.stop();
    BOOST_TEST(queue_ids(store) == (std::vector<std::string>{"A", "B"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stop_flushes_and_is_immediate) {
    MemoryStore store;
    EventWriter writer(store);
    writer.start();
    writer.submit(event("A"));
    writer.submit_use(3, from_unix(5), "2001:db8::1");
    const auto start = std::chrono::steady_clock::now();
    writer.stop();
    BOOST_TEST((std::chrono::steady_clock::now() - start < 900ms));
    BOOST_TEST(store.events().size() == 1u);
    BOOST_TEST(store.uses().size() == 1u);
    writer.stop();  // twice is harmless
}

BOOST_AUTO_TEST_CASE(stop_without_a_database_gives_up) {
    MemoryStore store;
    store.set_failing(true);
    {
        EventWriter writer(store);
        writer.start();
        writer.submit(event("A"));
    }  // the destructor stops: logs what is lost, never throws or hangs
    BOOST_TEST(store.events().empty());
}

BOOST_AUTO_TEST_CASE(make_event_maps_request_and_decision) {
    Request r;
    r.stage = Stage::rcpt;
    r.client_address = "192.0.2.9";
    r.sasl_login = "Alice@Example.com";
    r.sender = "alice@example.com";
    r.recipient = "bob@external.example";
    r.recipient_count = 2;
    r.size = 1234;
    r.queue_id = "4ABC";
    Decision d = make_refusal(Verdict::reject, Reason::external_relay_denied, 550, "5.7.1", "Relaying denied");
    d.authority_id = 42;
    d.login = "alice@example.com";
    Event e = make_event(r, d, from_unix(1000), "mx1");
    BOOST_TEST(to_unix(e.at) == 1000);
    BOOST_TEST(e.node == "mx1");
    BOOST_TEST(to_string(e.stage) == std::string("rcpt"));
    BOOST_TEST(e.authority_id == 42);
    BOOST_TEST(e.login == "alice@example.com");
    BOOST_TEST(e.client_address == "192.0.2.9");
    BOOST_TEST(e.sender == "alice@example.com");
    BOOST_TEST(e.recipient_count == 2u);
    BOOST_TEST(e.size == 1234u);
    BOOST_TEST(to_string(e.verdict) == std::string("reject"));
    BOOST_TEST(to_string(e.reason) == std::string("external_relay_denied"));
    BOOST_TEST(e.queue_id == "4ABC");
    BOOST_TEST(e.detail.find("550 5.7.1 Relaying denied") != std::string::npos, "detail: " << e.detail);
    BOOST_TEST(e.detail.find("bob@external.example") != std::string::npos, "detail: " << e.detail);

    d.login.clear();  // no account found: the login as typed
    BOOST_TEST(make_event(r, d, from_unix(1000), "mx1").login == "Alice@Example.com");
}

BOOST_AUTO_TEST_SUITE_END()
