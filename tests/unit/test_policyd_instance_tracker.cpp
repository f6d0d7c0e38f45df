#include <boost/test/unit_test.hpp>

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

BOOST_AUTO_TEST_SUITE_END()
