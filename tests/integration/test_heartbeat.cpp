// The heartbeat (core/heartbeat, table nodes) against the real database: a beat writes one row per node
// and daemon, keeps started_at within a process, never moves change_generation; a clean stop records
// 'stopped'; read_nodes() (relayctl status) flags stopped, silent and behind daemons; the live daemons
// are counted for the rate-limit leases (fresh relay-policyd and relay-milter rows, not stopped ones).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "core/store/heartbeat.hpp"
#include "core/store/nodes.hpp"
#include "db.hpp"

using namespace relay;
using namespace relay::it;
using namespace std::chrono_literals;

namespace {

const NodeRow* find(const NodesReport& report, const std::string& node, const std::string& daemon) {
    for (const auto& n : report.nodes)
        if (n.node == node && n.daemon == daemon) return &n;
    return nullptr;
}

std::string generation(MysqlPool& pool) { return scalar(pool, "SELECT generation FROM change_generation").value(); }

// What a heartbeat thread last told its sink: -1 nothing yet, -2 "could not be read".
struct LastCount {
    std::atomic<int> value{-1};
    DaemonCountSink sink() {
        return [this](std::optional<unsigned> n) { value = n ? static_cast<int>(*n) : -2; };
    }
};

// Bounded: up to 20 s (the beats come every 50 ms), for slow CI machines.
bool eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 400; ++i) {
        if (condition()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return condition();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(heartbeat, *boost::unit_test::precondition(db_configured))

BOOST_AUTO_TEST_CASE(beats_upsert_one_row_and_leave_the_change_generation_alone) {
    MysqlPool admin{config()};
    exec(admin, "DELETE FROM nodes");
    const auto before = generation(admin);
    NodeStatus status{42, "serving"};
    Heartbeat beat(config(), {"mta1", "relay-policyd", "9.9.9"}, [&] { return status; }, 100ms);
    BOOST_TEST(beat.beat());
    const auto started = scalar(admin, "SELECT started_at FROM nodes WHERE node = 'mta1'").value();
    exec(admin, "UPDATE nodes SET started_at = started_at - INTERVAL 1 HOUR, last_seen_at = last_seen_at - INTERVAL 1 HOUR");
    status.rules_generation = 43;
    BOOST_TEST(beat.beat());
    BOOST_TEST(scalar(admin, "SELECT COUNT(*) FROM nodes").value() == "1");
    BOOST_TEST(scalar(admin, "SELECT rules_generation FROM nodes WHERE node = 'mta1'").value() == "43");
    BOOST_TEST(scalar(admin, "SELECT TIMESTAMPDIFF(MINUTE, started_at, NOW()) >= 59 FROM nodes").value() == "1");
    BOOST_TEST(scalar(admin, "SELECT TIMESTAMPDIFF(SECOND, last_seen_at, NOW(3)) < 60 FROM nodes").value() == "1");
    BOOST_TEST(scalar(admin, "SELECT version FROM nodes").value() == "9.9.9");
    BOOST_TEST(generation(admin) == before);
    (void)started;
}

BOOST_AUTO_TEST_CASE(status_flags_stopped_silent_and_behind_daemons) {
    MysqlPool admin{config()};
    exec(admin, "DELETE FROM nodes");
    const std::uint64_t current = std::stoull(generation(admin));
    {
        Heartbeat milter(config(), {"mta1", "relay-milter", "1"}, [] { return NodeStatus{1, "serving"}; }, 50ms);
        milter.start();
        milter.stop();  // a clean shutdown
    }
    Heartbeat fine(config(), {"mta1", "relay-policyd", "1"}, [&] { return NodeStatus{current, "serving"}; });
    BOOST_TEST(fine.beat());
    Heartbeat behind(config(), {"mta2", "relay-policyd", "1"}, [&] { return NodeStatus{current - 1, "serving"}; });
    BOOST_TEST(behind.beat());
    Heartbeat silent(config(), {"mta3", "relay-policyd", "1"}, [&] { return NodeStatus{current, "serving"}; });
    BOOST_TEST(silent.beat());
    exec(admin, "UPDATE nodes SET last_seen_at = NOW(3) - INTERVAL 40 SECOND WHERE node = 'mta3'");
    // The change is old enough for mta2 to have seen it.
    exec(admin, "UPDATE change_generation SET changed_at = NOW(6) - INTERVAL 1 MINUTE WHERE id = 1");

    MysqlPool pool{config()};
    const auto report = read_nodes(pool, 30);
    BOOST_TEST(report.generation == current);
    BOOST_REQUIRE(report.nodes.size() == 4u);
    BOOST_TEST(!report.ok());
    BOOST_TEST(find(report, "mta1", "relay-policyd")->problems.empty());
    BOOST_TEST(find(report, "mta1", "relay-milter")->state == "stopped");
    BOOST_TEST(find(report, "mta1", "relay-milter")->problems == std::vector<std::string>{"stopped"});
    BOOST_TEST(find(report, "mta2", "relay-policyd")->problems == std::vector<std::string>{"rules generation behind"});
    const auto* old = find(report, "mta3", "relay-policyd");
    BOOST_REQUIRE(old->problems.size() == 1u);
    BOOST_TEST(old->problems[0].rfind("heartbeat 4", 0) == 0, old->problems[0]);  // "heartbeat 40 s old"
    // Within the grace after a change, an older generation is not (yet) behind.
    exec(admin, "UPDATE change_generation SET changed_at = NOW(6) WHERE id = 1");
    BOOST_TEST(find(read_nodes(pool, 30), "mta2", "relay-policyd")->problems.empty());
    exec(admin, "DELETE FROM nodes");
}

BOOST_AUTO_TEST_CASE(live_daemons_are_fresh_policyd_and_milter_rows_not_stopped_ones) {
    MysqlPool admin{config()};
    exec(admin, "DELETE FROM nodes");
    Heartbeat policyd(config(), {"mta1", "relay-policyd", "1"}, [] { return NodeStatus{1, "serving"}; });
    Heartbeat milter(config(), {"mta2", "relay-milter", "1"}, [] { return NodeStatus{1, "serving"}; });
    Heartbeat gone(config(), {"mta3", "relay-policyd", "1"}, [] { return NodeStatus{1, "serving"}; });
    Heartbeat stopped(config(), {"mta4", "relay-milter", "1"}, [] { return NodeStatus{1, "serving"}; });
    BOOST_REQUIRE(policyd.beat() && milter.beat() && gone.beat() && stopped.beat("stopped"));
    // Silent for longer than three beats of a daemon (5 s each): no longer counted.
    exec(admin, "UPDATE nodes SET last_seen_at = NOW(3) - INTERVAL 16 SECOND WHERE node = 'mta3'");
    // Another program's row (not a daemon that charges): not counted.
    exec(admin, "INSERT INTO nodes (node, daemon, version, started_at, last_seen_at, state) "
                "VALUES ('mta5', 'relay-other', '1', NOW(), NOW(3), 'serving')");
    BOOST_TEST(policyd.live_within().count() == 15000);
    BOOST_TEST(policyd.live_daemons().value_or(0) == 2u);
    BOOST_REQUIRE(gone.beat());  // beats again: counted again
    BOOST_TEST(milter.live_daemons().value_or(0) == 3u);
    exec(admin, "DELETE FROM nodes");
}

BOOST_AUTO_TEST_CASE(the_heartbeat_thread_hands_the_count_over_after_its_beats) {
    MysqlPool admin{config()};
    exec(admin, "DELETE FROM nodes");
    LastCount seen_by_policyd, seen_by_milter;
    Heartbeat policyd(config(), {"mta1", "relay-policyd", "1"}, [] { return NodeStatus{1, "serving"}; }, 50ms);
    policyd.count_daemons(seen_by_policyd.sink());
    policyd.start();
    {
        Heartbeat milter(config(), {"mta1", "relay-milter", "1"}, [] { return NodeStatus{1, "serving"}; }, 50ms);
        milter.count_daemons(seen_by_milter.sink());
        milter.start();
        BOOST_TEST(eventually([&] { return seen_by_policyd.value == 2 && seen_by_milter.value == 2; }),
                   "two daemons beating: policyd saw " << seen_by_policyd.value << ", milter "
                                                       << seen_by_milter.value);
    }  // the milter stops: its row says 'stopped'
    BOOST_TEST(eventually([&] { return seen_by_policyd.value == 1; }), "after the milter stopped: "
                                                                            << seen_by_policyd.value);
    policyd.stop();
    exec(admin, "DELETE FROM nodes");
}

BOOST_AUTO_TEST_CASE(a_count_that_cannot_be_read_is_handed_over_as_unknown) {
    auto bad = config();
    bad.socket = "/nonexistent/relay-heartbeat-test.sock";
    bad.connect_timeout = 1;
    LastCount seen;
    Heartbeat beat(bad, {"mta9", "relay-policyd", "1"}, [] { return NodeStatus{}; }, 50ms);
    beat.count_daemons(seen.sink());
    beat.start();
    BOOST_TEST(eventually([&] { return seen.value == -2; }), "got " << seen.value);
    BOOST_TEST(!beat.live_daemons().has_value());
}

BOOST_AUTO_TEST_CASE(a_missing_database_fails_the_beat_without_throwing) {
    auto bad = config();
    bad.socket = "/nonexistent/relay-heartbeat-test.sock";
    bad.connect_timeout = 1;
    Heartbeat beat(bad, {"mta9", "relay-policyd", "1"}, [] { return NodeStatus{}; });
    BOOST_TEST(!beat.beat());
}

BOOST_AUTO_TEST_SUITE_END()
