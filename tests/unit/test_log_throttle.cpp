// CauseLog and EventTally with the time passed in (no sleeps): a change of cause is logged again, at most
// once per cause per minute; counts are summarised at most once a minute; and connect_hint's words.
#include <boost/test/unit_test.hpp>

#include <string>

#include "core/base/clock.hpp"
#include "core/store/connect_hint.hpp"
#include "core/base/log_throttle.hpp"

using namespace relay;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(log_throttle)

BOOST_AUTO_TEST_CASE(a_change_of_cause_is_logged_at_most_once_per_cause_per_minute) {
    ManualClock clock;
    CauseLog causes;
    const std::string missing = "no such socket", denied = "access denied";
    BOOST_TEST(causes.should_log(missing, clock.now()));   // the outage starts
    clock.advance(1s);
    BOOST_TEST(!causes.should_log(missing, clock.now()));  // the same cause goes on
    clock.advance(1s);
    BOOST_TEST(causes.should_log(denied, clock.now()));    // a new cause
    clock.advance(1s);
    BOOST_TEST(!causes.should_log(missing, clock.now()));  // back to the first within the minute
    clock.advance(1s);
    BOOST_TEST(!causes.should_log(denied, clock.now()));   // flapping: not again within the minute
    clock.advance(60s);
    BOOST_TEST(causes.should_log(missing, clock.now()));   // a minute later it is said again
    BOOST_TEST(!causes.should_log(missing, clock.now()));
}

BOOST_AUTO_TEST_CASE(a_new_outage_logs_its_first_cause_whatever_came_before) {
    ManualClock clock;
    CauseLog causes;
    BOOST_TEST(causes.should_log("refused", clock.now()));
    causes.end_outage();
    clock.advance(5s);
    BOOST_TEST(causes.should_log("refused", clock.now()));
}

BOOST_AUTO_TEST_CASE(tally_summarises_at_most_once_a_minute_and_forgets_what_it_said) {
    ManualClock clock;
    EventTally tally;
    BOOST_TEST(!tally.summary(clock.now()).has_value());  // nothing counted: nothing to say
    tally.add("deadlock");
    tally.add("retried");
    BOOST_TEST(tally.summary(clock.now()).value_or("none") == "1 deadlock, 1 retried");  // the first at once
    tally.add("deadlock");
    clock.advance(30s);
    tally.add("lock wait timeout");
    tally.add("retried", 2);
    BOOST_TEST(!tally.summary(clock.now()).has_value());
    clock.advance(30s);
    BOOST_TEST(tally.summary(clock.now()).value_or("none") == "1 deadlock, 1 lock wait timeout, 2 retried");
    tally.add("deadlock");
    BOOST_TEST(tally.rest().value_or("none") == "1 deadlock");  // at shutdown, whatever the time
    BOOST_TEST(!tally.rest().has_value());
}

BOOST_AUTO_TEST_CASE(connect_hints_name_the_cause) {
    const auto socket = [](const char* n) {
        return "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (" + std::string(n) + ")";
    };
    const std::string denied = connect_hint(2002, socket("13"));
    BOOST_TEST(denied.find("permission denied for uid") == 0u, denied);
    BOOST_TEST(denied.find("is the server running") == std::string::npos, denied);
    BOOST_TEST(connect_hint(2002, socket("2")) == "no such socket: is the server running? check [database] socket");
    BOOST_TEST(connect_hint(2002, socket("111")).find("connection refused") == 0u);
    BOOST_TEST(connect_hint(2003, "Can't connect to server on '192.0.2.1' (110)").find("no answer") == 0u);
    BOOST_TEST(connect_hint(2005, "Unknown server host 'db.invalid' (-2)") == "unknown host: check [database] host");
    BOOST_TEST(connect_hint(2002, "no number here") == "is the server running? check [database] socket/host/port");
}

BOOST_AUTO_TEST_SUITE_END()
