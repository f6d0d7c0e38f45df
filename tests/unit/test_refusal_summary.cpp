// RefusalSummary with the time passed in (a ManualClock, no sleeps): the first refusal of a (who, reason)
// pair in an interval is written in full, the rest are counted exactly and said when the interval ends;
// intervals are aligned to the clock; a full table counts what it cannot itemise.
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/refusal_summary.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

// 2026-01-01T00:00:00Z: a whole minute, so the intervals below start where the test says.
ManualClock at_minute() { return ManualClock(from_unix(1767225600)); }

std::uint64_t field(const std::string& line, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(" " + name + "=([0-9]+)"))) return 0;
    return std::stoull(m[1]);
}

std::uint64_t sum(const std::vector<RefusalSummary::Line>& lines, const std::string& name) {
    std::uint64_t total = 0;
    for (const auto& l : lines) total += field(l.text, name);
    return total;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(refusal_summary)

BOOST_AUTO_TEST_CASE(interval_zero_writes_every_refusal) {
    ManualClock clock = at_minute();
    RefusalSummary summary;
    for (int i = 0; i < 5; ++i) BOOST_TEST(summary.note("login=a", "sender_not_owned", 1, clock.now()));
    clock.advance(120s);
    BOOST_TEST(summary.due(clock.now()).empty());
    BOOST_TEST(summary.rest().empty());
}

BOOST_AUTO_TEST_CASE(first_refusal_in_full_then_counted_and_summarised_once) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s);
    BOOST_TEST(summary.note("login=alice@example.com", "sender_not_owned", 1, clock.now()));
    for (int i = 0; i < 1234; ++i) {
        clock.advance(10ms);
        BOOST_TEST(!summary.note("login=alice@example.com", "sender_not_owned", 1, clock.now()));
    }
    // another reason and another login are pairs of their own: their first refusal is written too
    BOOST_TEST(summary.note("login=alice@example.com", "rate_limited", 1, clock.now()));
    BOOST_TEST(summary.note("client=192.0.2.7", "sender_not_owned", 1, clock.now()));
    BOOST_TEST(summary.due(clock.now()).empty());  // the minute is not over

    clock.set(from_unix(1767225600 + 60));
    const auto lines = summary.due(clock.now());
    BOOST_TEST_REQUIRE(lines.size() == 1u);  // pairs refused once said everything in their own line
    BOOST_TEST(lines[0].level == 1);
    BOOST_TEST(lines[0].text.rfind("refusal summary: login=alice@example.com reason=sender_not_owned more=1234 "
                                   "interval=60s until=2026-01-01T",
                                   0) == 0u,
               "got " << lines[0].text);
    BOOST_TEST(summary.due(clock.now()).empty());  // said once, then forgotten
    BOOST_TEST(summary.rest().empty());
}

BOOST_AUTO_TEST_CASE(intervals_are_aligned_to_the_clock) {
    ManualClock clock = at_minute();
    clock.advance(59s);  // the last second of the first minute
    RefusalSummary summary(60s);
    BOOST_TEST(summary.note("login=a", "r", 1, clock.now()));
    BOOST_TEST(!summary.note("login=a", "r", 1, clock.now()));
    clock.advance(999ms);  // 00:00:59.999: still the first minute
    BOOST_TEST(!summary.note("login=a", "r", 1, clock.now()));
    BOOST_TEST(summary.due(clock.now()).empty());
    clock.advance(1ms);  // 00:01:00: a new minute, a new first line
    BOOST_TEST(summary.note("login=a", "r", 1, clock.now()));
    BOOST_TEST(!summary.note("login=a", "r", 1, clock.now()));
    const auto first = summary.due(clock.now());
    BOOST_TEST_REQUIRE(first.size() == 1u);
    BOOST_TEST(field(first[0].text, "more") == 2u);
    clock.advance(60s);
    const auto second = summary.due(clock.now());
    BOOST_TEST_REQUIRE(second.size() == 1u);
    BOOST_TEST(field(second[0].text, "more") == 1u);
}

BOOST_AUTO_TEST_CASE(an_interval_without_due_calls_is_said_with_the_next_refusal_counts) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s);
    BOOST_TEST(summary.note("login=a", "r", 1, clock.now()));
    BOOST_TEST(!summary.note("login=a", "r", 1, clock.now()));
    clock.advance(90s);  // nobody asked at the minute's end; the next refusal opens the new minute
    BOOST_TEST(summary.note("login=a", "r", 1, clock.now()));
    const auto lines = summary.due(clock.now());
    BOOST_TEST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(field(lines[0].text, "more") == 1u);
    BOOST_TEST(lines[0].text.find("until=2026-01-01T") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_full_table_counts_what_it_cannot_itemise) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s, 16);  // one pair per shard
    std::uint64_t written = 0;
    const int pairs = 200;
    for (int i = 0; i < pairs; ++i)
        for (int k = 0; k < 3; ++k)
            written += summary.note("login=user" + std::to_string(i), "sender_not_owned", 1, clock.now()) ? 1 : 0;
    BOOST_TEST(written >= 1u);
    BOOST_TEST(written <= 16u);  // never more pairs than the table holds
    clock.advance(60s);
    const auto lines = summary.due(clock.now());
    // every refusal is either written, or counted as "more" of a written pair, or not itemised
    BOOST_TEST(written + sum(lines, "more") + sum(lines, "not_itemised") == 3u * pairs);
    BOOST_TEST(sum(lines, "more") == 2u * written);
}

BOOST_AUTO_TEST_CASE(rest_says_everything_whatever_the_time) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s);
    summary.note("login=a", "r", 2, clock.now());
    summary.note("login=a", "r", 2, clock.now());
    const auto lines = summary.rest();
    BOOST_TEST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0].level == 2);
    BOOST_TEST(field(lines[0].text, "more") == 1u);
}

BOOST_AUTO_TEST_CASE(turned_off_says_what_was_counted) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s);
    summary.note("login=a", "r", 1, clock.now());
    summary.note("login=a", "r", 1, clock.now());
    summary.set_interval(0s);  // SIGHUP with refusal_summary = 0
    BOOST_TEST(summary.note("login=a", "r", 1, clock.now()));
    const auto lines = summary.due(clock.now());
    BOOST_TEST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(field(lines[0].text, "more") == 1u);
}

BOOST_AUTO_TEST_CASE(threads_counting_at_once_lose_nothing) {
    ManualClock clock = at_minute();
    RefusalSummary summary(60s);
    constexpr int kThreads = 4, kEach = 20000, kLogins = 10;
    std::atomic<std::uint64_t> written{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i)
                if (summary.note("login=u" + std::to_string((i + t) % kLogins), "r", 1, clock.now())) ++written;
        });
    for (auto& th : threads) th.join();
    BOOST_TEST(written.load() == static_cast<std::uint64_t>(kLogins));
    clock.advance(60s);
    BOOST_TEST(sum(summary.due(clock.now()), "more") == static_cast<std::uint64_t>(kThreads * kEach - kLogins));
}

BOOST_AUTO_TEST_SUITE_END()
