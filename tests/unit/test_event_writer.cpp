// EventWriter over a MemoryStore: batching, the queue bound, keeping events through a transient outage,
// coalescing last-use stamps, folding repeated refusals, drops by cause, the background thread and stop();
// and make_event's field mapping.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>
#include <thread>

#include "core/base/errors.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/support/memory_store.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

Event event(const std::string& queue_id) {
    Event e;
    e.at = from_unix(1767225600);
    e.node = "mx1";
    e.queue_id = queue_id;
    e.login = queue_id + "@example.com";  // one account each: these tests are about order, not folding
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

// A saturated daemon refusing a few accounts over and over: every decision is accounted for in the
// rows' repeat_count, none dropped, and the rows stay few.
BOOST_AUTO_TEST_CASE(a_flood_of_refusals_is_folded_not_dropped) {
    MemoryStore store;
    EventWriter writer(store, 1000);  // far fewer rows than decisions
    const std::size_t n = 200000;
    const std::vector<Reason> reasons = {Reason::account_disabled, Reason::rate_limited, Reason::sender_not_owned};
    std::size_t allowed = 0;
    for (std::size_t i = 0; i < n; ++i) {
        Event e;
        e.at = from_unix(1767225600) + std::chrono::microseconds(i * 10);  // 2 s of decisions
        e.node = "mx1";
        e.authority_id = static_cast<Id>(1 + i % 4);
        e.login = "user" + std::to_string(i % 4) + "@example.com";
        e.client_address = "192.0.2." + std::to_string(i % 4);
        e.stage = Stage::rcpt;
        e.verdict = Verdict::reject;
        e.reason = reasons[i % reasons.size()];
        e.detail = "recipient r" + std::to_string(i) + "@example.net";
        if (i % 1000 == 0) {  // an accepted message now and then: never folded
            e.stage = Stage::end_of_message;
            e.verdict = Verdict::cont;
            e.reason = Reason::ok;
            ++allowed;
        }
        writer.submit(std::move(e));
    }
    writer.flush();
    std::size_t refused = 0, allowed_rows = 0;
    for (const Event& e : store.events()) {
        if (e.verdict == Verdict::cont) {
            ++allowed_rows;
            BOOST_TEST(e.repeat_count == 1u);
        } else {
            refused += e.repeat_count;
        }
    }
    BOOST_TEST(allowed_rows == allowed);
    BOOST_TEST(refused + allowed_rows == n, "got " << refused + allowed_rows << " decisions in the rows, want " << n);
    BOOST_TEST(writer.drops().queue_full == 0u);
    BOOST_TEST(writer.drops().not_writable == 0u);
    // 12 keys (4 accounts x 3 reasons), a new row per key each second: 2 s -> at most 3 rows per key.
    BOOST_TEST(store.events().size() <= allowed + 12 * 3, "got " << store.events().size() << " rows");
}

// The same flood while the background thread writes concurrently (rows taken mid-fold start new rows).
BOOST_AUTO_TEST_CASE(folding_while_the_writer_runs_loses_nothing) {
    MemoryStore store;
    const std::size_t n = 100000;
    {
        EventWriter writer(store, 500);
        writer.start();
        for (std::size_t i = 0; i < n; ++i) {
            Event e = event("Q" + std::to_string(i % 3));
            e.at = from_unix(1767225600) + std::chrono::microseconds(i);
            writer.submit(std::move(e));
        }
        writer.stop();
        BOOST_TEST(writer.drops().queue_full == 0u);
    }
    std::size_t total = 0;
    for (const Event& e : store.events()) total += e.repeat_count;
    BOOST_TEST(total == n);
}

BOOST_AUTO_TEST_CASE(what_is_folded_and_what_is_not) {
    const auto t0 = from_unix(1767225600);
    struct Case {
        const char* name;
        std::function<void(Event&)> change;  // applied to the second of two refusals
        std::size_t want_rows;
    };
    const std::vector<Case> cases = {
        {"identical refusal", [](Event&) {}, 1},
        {"other recipient, sender, queue id", [](Event& e) { e.detail = "x"; e.sender = "y@example.com"; e.queue_id = "Z"; }, 1},
        {"0.999 s later", [&](Event& e) { e.at = t0 + std::chrono::milliseconds(999); }, 1},
        {"1 s later", [&](Event& e) { e.at = t0 + std::chrono::seconds(1); }, 2},
        {"other account", [](Event& e) { e.authority_id = 8; }, 2},
        {"other login", [](Event& e) { e.login = "other@example.com"; }, 2},
        {"other client address", [](Event& e) { e.client_address = "192.0.2.2"; }, 2},
        {"other stage", [](Event& e) { e.stage = Stage::mail; }, 2},
        {"other reason", [](Event& e) { e.reason = Reason::account_disabled; }, 2},
        {"defer instead of reject", [](Event& e) { e.verdict = Verdict::defer; }, 2},
        {"allowed, not a refusal", [](Event& e) { e.verdict = Verdict::cont; e.reason = Reason::ok; }, 2},
    };
    for (const auto& c : cases) {
        MemoryStore store;
        EventWriter writer(store);
        Event first = event("A");
        first.at = t0;
        first.authority_id = 7;
        first.client_address = "192.0.2.1";
        Event second = first;
        c.change(second);
        writer.submit(first);
        writer.submit(second);
        writer.flush();
        const auto rows = store.events();
        BOOST_CHECK_MESSAGE(rows.size() == c.want_rows, "case " << c.name << ": got " << rows.size() << " rows, want " << c.want_rows);
        if (c.want_rows == 1 && rows.size() == 1) {
            BOOST_CHECK_MESSAGE(rows[0].repeat_count == 2u, "case " << c.name << ": got repeat_count " << rows[0].repeat_count);
            BOOST_CHECK_MESSAGE(rows[0].queue_id == "A" && rows[0].detail == first.detail,
                                "case " << c.name << ": the row is not the first decision's");
        }
    }
}

BOOST_AUTO_TEST_CASE(drops_are_counted_by_cause) {
    MemoryStore store;
    EventWriter writer(store, 2);
    for (int i = 0; i < 5; ++i) writer.submit(event("Q" + std::to_string(i)));  // 3 do not fit
    BOOST_TEST(writer.drops().queue_full == 3u);
    store.set_permanent_failure(true);
    BOOST_CHECK_THROW(writer.flush(), StorePermanentError);
    BOOST_TEST(writer.drops().not_writable == 2u);
    BOOST_TEST(writer.drops().queue_full == 3u);
}

// What /metrics shows of the audit trail: the queue now, decisions written (folded repeats count each),
// and the drops by cause.
BOOST_AUTO_TEST_CASE(figures_count_queued_written_and_dropped_decisions) {
    MemoryStore store;
    EventWriter writer(store, 3);
    Event repeated = event("R");
    writer.submit(repeated);
    writer.submit(repeated);  // folded into the first row
    writer.submit(event("A"));
    writer.submit(event("B"));
    writer.submit(event("C"));  // the queue holds 3 rows: dropped
    EventWriter::Figures f = writer.figures();
    BOOST_TEST(f.queued == 3u);
    BOOST_TEST(f.written == 0u);
    BOOST_TEST(f.dropped.queue_full == 1u);
    writer.flush();
    f = writer.figures();
    BOOST_TEST(f.queued == 0u);
    BOOST_TEST(f.written == 4u);
    writer.submit(event("D"));
    store.set_permanent_failure(true);
    BOOST_CHECK_THROW(writer.flush(), StorePermanentError);
    f = writer.figures();
    BOOST_TEST(f.written == 4u);
    BOOST_TEST(f.dropped.not_writable == 1u);
    BOOST_TEST(f.dropped.queue_full == 1u);
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
