// core/mysql_retry: which database errors are run again, and the backoff between attempts.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "core/store/mysql_retry.hpp"

using namespace relay;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(mysql_retry)

BOOST_AUTO_TEST_CASE(errors_that_pass_are_retried_the_others_not) {
    struct Case {
        int code;
        RetryCause want;
    };
    const Case cases[] = {
        {1213, RetryCause::conflict},          // deadlock, Galera certification conflict
        {1205, RetryCause::conflict},          // lock wait timeout
        {1047, RetryCause::node_not_ready},    // WSREP has not yet prepared node for application use
        {1180, RetryCause::node_not_ready},    // error during COMMIT (not in the primary component)
        {2006, RetryCause::lost_connection},   // server has gone away
        {2013, RetryCause::lost_connection},   // lost connection during query
        {1927, RetryCause::lost_connection},   // connection killed
        {1053, RetryCause::lost_connection},   // server shutdown
        {1045, RetryCause::none},              // access denied: retrying cannot help
        {1146, RetryCause::none},              // no such table
        {1062, RetryCause::none},              // duplicate key
        {1064, RetryCause::none},              // syntax
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT("MariaDB error " << c.code) {
            BOOST_CHECK(retry_cause(c.code) == c.want);
        }
    }
}

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half) {
    RetryPolicy p;
    p.first_delay = 2000us;
    p.max_delay = 64000us;
    for (int attempt = 1; attempt <= 12; ++attempt) {
        const auto cap = std::min<std::chrono::microseconds>(p.max_delay, p.first_delay * (1 << std::min(attempt - 1, 10)));
        for (int i = 0; i < 200; ++i) {
            const auto d = retry_delay(p, attempt);
            BOOST_TEST_CONTEXT("attempt " << attempt << ": got " << d.count() << " us, want " << cap.count() / 2
                                          << " .. " << cap.count()) {
                BOOST_CHECK(d >= cap / 2 && d <= cap);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(backoff_is_random_so_colliding_writers_spread) {
    RetryPolicy p;
    std::set<long long> seen;
    for (int i = 0; i < 100; ++i) seen.insert(retry_delay(p, 5).count());
    BOOST_CHECK_GT(seen.size(), 10u);
}

BOOST_AUTO_TEST_SUITE_END()
