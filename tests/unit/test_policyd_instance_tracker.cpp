#include <boost/test/unit_test.hpp>

#include <list>
#include <map>
#include <random>
#include <string>

#include "core/base/clock.hpp"
#include "policyd/instance_tracker.hpp"

using namespace relay;
using namespace relay::policyd;
using std::chrono::seconds;

BOOST_AUTO_TEST_SUITE(policyd_instance_tracker)

BOOST_AUTO_TEST_CASE(counts_recipients_per_message) {
    ManualClock clock;
    InstanceTracker t(10, seconds(3600), clock);
    t.note_recipient("m1", true);
    t.note_recipient("m1", false);
    t.note_recipient("m1", true);
    t.note_recipient("m2", true);
    const auto m1 = t.finish("m1");
    BOOST_REQUIRE(m1.has_value());
    BOOST_TEST(m1->recipients_seen == 3u);
    BOOST_TEST(m1->recipients_allowed == 2u);
    BOOST_TEST(!t.finish("m1").has_value());  // finish removes it
    BOOST_TEST(t.size() == 1u);
    BOOST_TEST(!t.finish("never-seen").has_value());
}

BOOST_AUTO_TEST_CASE(empty_instance_is_not_tracked) {
    ManualClock clock;
    InstanceTracker t(10, seconds(3600), clock);
    t.note_recipient("", true);
    BOOST_TEST(t.size() == 0u);
    BOOST_TEST(!t.finish("").has_value());
}

BOOST_AUTO_TEST_CASE(mail_starts_a_new_message) {
    ManualClock clock;
    InstanceTracker t(10, seconds(3600), clock);
    t.note_recipient("m1", true);
    t.begin("m1");
    t.note_recipient("m1", false);
    const auto m1 = t.finish("m1");
    BOOST_REQUIRE(m1.has_value());
    BOOST_TEST(m1->recipients_seen == 1u);
    BOOST_TEST(m1->recipients_allowed == 0u);
}

BOOST_AUTO_TEST_CASE(entries_expire_after_ttl) {
    ManualClock clock;
    InstanceTracker t(10, seconds(60), clock);
    t.note_recipient("m1", true);
    clock.advance(seconds(60));
    BOOST_TEST(t.peek("m1").has_value());  // exactly at the TTL: still there
    t.note_recipient("m1", true);          // and touching it restarts the TTL
    clock.advance(seconds(61));
    BOOST_TEST(!t.peek("m1").has_value());
    BOOST_TEST(!t.finish("m1").has_value());
    BOOST_TEST(t.size() == 0u);
}

BOOST_AUTO_TEST_CASE(expired_entry_starts_over) {
    ManualClock clock;
    InstanceTracker t(10, seconds(60), clock);
    t.note_recipient("m1", true);
    clock.advance(seconds(120));
    t.note_recipient("m1", false);
    const auto m1 = t.finish("m1");
    BOOST_REQUIRE(m1.has_value());
    BOOST_TEST(m1->recipients_seen == 1u);
}

BOOST_AUTO_TEST_CASE(bounded_least_recently_used_goes_first) {
    ManualClock clock;
    InstanceTracker t(3, seconds(3600), clock);
    t.note_recipient("a", true);
    t.note_recipient("b", true);
    t.note_recipient("c", true);
    t.note_recipient("a", true);  // a is now the most recent
    t.note_recipient("d", true);  // evicts b
    BOOST_TEST(t.size() == 3u);
    BOOST_TEST(t.evicted() == 1u);
    BOOST_TEST(t.peek("a").has_value());
    BOOST_TEST(!t.peek("b").has_value());
    BOOST_TEST(t.peek("c").has_value());
    BOOST_TEST(t.peek("d").has_value());
}

BOOST_AUTO_TEST_CASE(expired_entries_make_room_before_eviction) {
    ManualClock clock;
    InstanceTracker t(2, seconds(60), clock);
    t.note_recipient("old", true);
    clock.advance(seconds(30));
    t.note_recipient("young", true);
    clock.advance(seconds(40));   // old is 70 s old (expired), young 40 s
    t.note_recipient("new", true);
    BOOST_TEST(t.evicted() == 0u);  // the expired one went, nothing live was evicted
    BOOST_TEST(t.peek("young").has_value());
    BOOST_TEST(t.peek("new").has_value());
}

BOOST_AUTO_TEST_CASE(never_grows_past_capacity) {
    ManualClock clock;
    InstanceTracker t(16, seconds(3600), clock);
    for (int i = 0; i < 1000; ++i) t.note_recipient("m" + std::to_string(i), true);
    BOOST_TEST(t.size() == 16u);
    BOOST_TEST(t.evicted() == 1000u - 16u);
    BOOST_TEST(t.peek("m999").has_value());
    BOOST_TEST(!t.peek("m983").has_value());
}

BOOST_AUTO_TEST_CASE(shrinking_limits_trims_at_once) {
    ManualClock clock;
    InstanceTracker t(10, seconds(3600), clock);
    for (int i = 0; i < 10; ++i) t.note_recipient("m" + std::to_string(i), true);
    t.set_limits(4, seconds(3600));
    BOOST_TEST(t.size() == 4u);
    BOOST_TEST(t.peek("m9").has_value());
    BOOST_TEST(!t.peek("m5").has_value());
    t.set_limits(4, seconds(10));
    clock.advance(seconds(11));
    t.set_limits(4, seconds(10));
    BOOST_TEST(t.size() == 0u);
}

// The open-addressing table (insert, backward-shift erase, growth, reused entries) against a plain
// least-recently-used list: thousands of random begin / note / finish / peek / expiry / resize steps over
// more instances than fit, and both must agree on every answer.
BOOST_AUTO_TEST_CASE(agrees_with_a_plain_lru_list_under_random_traffic) {
    struct Model {
        struct Item {
            std::string instance;
            MessageRecord record;
        };
        std::list<Item> items;  // front: most recent
        std::size_t capacity;
        seconds ttl;
        std::uint64_t evicted = 0;
        std::list<Item>::iterator find(const std::string& instance) {
            for (auto it = items.begin(); it != items.end(); ++it)
                if (it->instance == instance) return it;
            return items.end();
        }
        bool stale(const Item& i, TimePoint now) const { return now - i.record.last_seen > ttl; }
        void trim(std::size_t keep, TimePoint now) {
            while (!items.empty()) {
                const bool old = stale(items.back(), now);
                if (!old && items.size() <= keep) break;
                if (!old) ++evicted;
                items.pop_back();
            }
        }
    };
    ManualClock clock;
    Model m{{}, 40, seconds(100)};
    InstanceTracker t(m.capacity, m.ttl, clock);
    std::mt19937 rng(7);
    for (int step = 0; step < 20000; ++step) {
        const std::string instance = "i" + std::to_string(rng() % 120);
        const TimePoint now = clock.now();
        switch (rng() % 10) {
            case 0: {  // MAIL
                t.begin(instance);
                if (auto it = m.find(instance); it != m.items.end()) m.items.erase(it);
                break;
            }
            case 1: {  // END-OF-MESSAGE
                const auto got = t.finish(instance);
                std::optional<MessageRecord> want;
                if (auto it = m.find(instance); it != m.items.end()) {
                    if (!m.stale(*it, now)) want = it->record;
                    m.items.erase(it);
                }
                BOOST_REQUIRE_EQUAL(got.has_value(), want.has_value());
                if (got) BOOST_REQUIRE_EQUAL(got->recipients_seen, want->recipients_seen);
                break;
            }
            case 2: clock.advance(seconds(rng() % 30)); break;
            case 3:
                if (rng() % 50 == 0) {
                    m.capacity = 1 + rng() % 60;
                    t.set_limits(m.capacity, m.ttl);
                    m.trim(m.capacity, now);
                }
                break;
            default: {  // RCPT
                const bool allowed = rng() % 3 != 0;
                t.note_recipient(instance, allowed);
                auto it = m.find(instance);
                if (it != m.items.end() && m.stale(*it, now)) {
                    m.items.erase(it);
                    it = m.items.end();
                }
                if (it == m.items.end()) {
                    m.trim(m.capacity - 1, now);
                    m.items.push_front({instance, {}});
                    m.items.front().record.first_seen = now;
                } else {
                    m.items.splice(m.items.begin(), m.items, it);
                }
                MessageRecord& r = m.items.front().record;
                r.last_seen = now;
                ++r.recipients_seen;
                if (allowed) ++r.recipients_allowed;
            }
        }
        BOOST_REQUIRE_EQUAL(t.size(), m.items.size());
        BOOST_REQUIRE_EQUAL(t.evicted(), m.evicted);
        const std::string probe = "i" + std::to_string(rng() % 120);
        const auto got = t.peek(probe);
        const auto it = m.find(probe);
        const bool want = it != m.items.end() && !m.stale(*it, clock.now());
        BOOST_REQUIRE_EQUAL(got.has_value(), want);
        if (got) BOOST_REQUIRE_EQUAL(got->recipients_allowed, it->record.recipients_allowed);
    }
}

BOOST_AUTO_TEST_SUITE_END()
