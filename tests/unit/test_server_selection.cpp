// Choosing among several database servers (core/server_selection.hpp) with made-up times: the first
// healthy server in the configured order, an immediate switch on failure, a hold-down before moving back
// to a preferred server, and what counts as healthy for a Galera node. Also the host entries
// (core/database_servers.hpp: database_servers()).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/store/database_servers.hpp"
#include "core/store/server_selection.hpp"

namespace {

using relay::ServerSelection;
using relay::ServerState;
using namespace std::chrono_literals;

const auto kStart = std::chrono::steady_clock::time_point{} + 1000s;

std::string str(std::optional<std::size_t> index) { return index ? std::to_string(*index) : "none"; }

// A script of reports: at kStart + at, server `server` is found `state`; then current() must be `want`.
struct Step {
    std::chrono::milliseconds at;
    std::size_t server;
    ServerState state;
    std::optional<std::size_t> want;
};

void run(const char* name, std::size_t servers, std::chrono::milliseconds failback, const std::vector<Step>& steps) {
    ServerSelection selection(servers, failback);
    BOOST_CHECK_MESSAGE(!selection.current(), "case " << name << ": got " << str(selection.current()) << " before any check, want none");
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        selection.report(s.server, s.state, kStart + s.at);
        BOOST_CHECK_MESSAGE(selection.current() == s.want, "case " << name << ", step " << i << ": got server "
                                                                   << str(selection.current()) << ", want " << str(s.want));
    }
}

constexpr auto H = ServerState::healthy;
constexpr auto D = ServerState::down;
constexpr auto N = ServerState::not_synced;
constexpr auto R = ServerState::refused;

}  // namespace

BOOST_AUTO_TEST_SUITE(server_selection)

BOOST_AUTO_TEST_CASE(first_healthy_in_order) {
    run("all healthy at start: the first", 3, 30s, {{0ms, 0, H, 0}, {1ms, 1, H, 0}, {2ms, 2, H, 0}});
    // Checks may come back in any order at start: the first in the list wins without a hold-down.
    run("start, answers out of order", 3, 30s, {{0ms, 2, H, 2}, {1ms, 1, H, 1}, {2ms, 0, H, 0}});
    run("first down at start", 3, 30s, {{0ms, 0, D, std::nullopt}, {1ms, 1, H, 1}, {2ms, 2, H, 1}});
    run("wrong credentials on the first: skipped", 3, 30s, {{0ms, 0, R, std::nullopt}, {1ms, 1, H, 1}});
    run("not Synced is not used", 2, 30s, {{0ms, 0, N, std::nullopt}, {1ms, 1, H, 1}});
    run("nothing usable", 3, 30s, {{0ms, 0, D, std::nullopt}, {1ms, 1, R, std::nullopt}, {2ms, 2, N, std::nullopt}});
}

BOOST_AUTO_TEST_CASE(failure_switches_at_once) {
    run("in use fails: next healthy", 3, 30s, {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {0ms, 2, H, 0}, {5s, 0, D, 1}});
    run("in use leaves Synced: next", 3, 30s, {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {0ms, 2, H, 0}, {5s, 0, N, 1}});
    run("two fail: the third", 3, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {0ms, 2, H, 0}, {5s, 0, D, 1}, {6s, 1, D, 2}});
    run("all fail, then one comes back", 2, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {5s, 0, D, 1}, {6s, 1, D, std::nullopt}, {7s, 1, H, 1}});
    // A server that was unhealthy and came back has not been healthy long: when the one in use fails,
    // a server that has been healthy throughout goes first.
    run("failover prefers a stable server over a fresh one", 3, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {0ms, 2, H, 0}, {1s, 1, D, 0}, {2s, 1, H, 0}, {3s, 0, D, 2}});
    run("failover to a fresh one when nothing is stable", 2, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, D, 0}, {2s, 1, H, 0}, {3s, 0, D, 1}});
}

BOOST_AUTO_TEST_CASE(move_back_after_hold_down) {
    const std::vector<Step> back = {
        {0ms, 0, H, 0}, {0ms, 1, H, 0},
        {5s, 0, D, 1},        // failover
        {10s, 0, H, 1},       // back, but not long enough
        {39999ms, 0, H, 1},   // 29.999 s healthy
        {40s, 0, H, 0},       // 30 s: move back
    };
    run("back after 30 s healthy", 2, 30s, back);
    run("failback_after 0: back at once", 2, 0s, {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {5s, 0, D, 1}, {6s, 0, H, 0}});
    // A flapping preferred server restarts its hold-down each time it fails.
    run("flapping server never pulls back", 2, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {5s, 0, D, 1}, {10s, 0, H, 1}, {30s, 0, D, 1}, {31s, 0, H, 1},
         {55s, 0, H, 1}, {60s, 0, N, 1}, {61s, 0, H, 1}, {90s, 0, H, 1}, {91s, 0, H, 0}});
    // Moving back: to the earliest server that has been healthy long enough, checked by any report.
    run("the earliest stable one", 3, 30s,
        {{0ms, 0, H, 0}, {0ms, 1, H, 0}, {0ms, 2, H, 0}, {1s, 0, D, 1}, {2s, 1, D, 2}, {3s, 1, H, 2},
         {4s, 0, H, 2}, {33s, 2, H, 1}, {34s, 2, H, 0}});
}

BOOST_AUTO_TEST_CASE(reconsider_moves_back_without_news) {
    ServerSelection s(2, 30s);
    s.report(0, H, kStart);
    s.report(1, H, kStart);
    s.report(0, D, kStart + 1s);
    s.report(0, H, kStart + 2s);
    BOOST_CHECK_MESSAGE(!s.reconsider(kStart + 31s), "case 29 s: got a change, want none");
    BOOST_CHECK_MESSAGE(s.reconsider(kStart + 32s), "case 30 s: got no change, want one");
    BOOST_CHECK_MESSAGE(s.current() == std::optional<std::size_t>(0), "case 30 s: got " << str(s.current()) << ", want 0");
}

BOOST_AUTO_TEST_CASE(galera_status_decides_health) {
    using relay::GaleraStatus;
    struct Case {
        const char* name;
        GaleraStatus status;
        ServerState want;
        const char* cause_has;
    };
    const Case cases[] = {
        {"plain MariaDB (wsrep_on OFF)", {std::string("OFF"), std::string("OFF"), std::string("0")}, H, ""},
        {"MySQL (no wsrep variables)", {std::nullopt, std::nullopt, std::nullopt}, H, ""},
        {"Galera Synced", {std::string("ON"), std::string("ON"), std::string("4")}, H, ""},
        {"Galera joining", {std::string("ON"), std::string("OFF"), std::string("1")}, N, "Joining"},
        {"Galera donor", {std::string("ON"), std::string("ON"), std::string("2")}, N, "Donor/Desynced"},
        {"Galera non-primary", {std::string("ON"), std::string("OFF"), std::string("0")}, N, "wsrep_ready = OFF"},
        {"Galera without status", {std::string("ON"), std::nullopt, std::nullopt}, N, "(none)"},
    };
    for (const Case& c : cases) {
        std::string cause;
        const ServerState got = relay::galera_state(c.status, &cause);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << relay::server_state_name(got) << ", want "
                                                   << relay::server_state_name(c.want));
        BOOST_CHECK_MESSAGE(cause.find(c.cause_has) != std::string::npos,
                            "case " << c.name << ": got cause '" << cause << "', want it to contain '" << c.cause_has << "'");
    }
}

BOOST_AUTO_TEST_CASE(host_entries_become_servers) {
    relay::DatabaseConfig c;
    c.port = 3307;
    c.host = {"db1.example.net", "10.0.0.5:3310", "[2001:db8::5]:3311", "::1", "[::2]"};
    std::string got;
    for (const auto& server : relay::database_servers(c)) got += (got.empty() ? "" : " ") + server.name();
    const std::string want = "tcp:db1.example.net:3307 tcp:10.0.0.5:3310 tcp:[2001:db8::5]:3311 tcp:[::1]:3307 tcp:[::2]:3307";
    BOOST_CHECK_MESSAGE(got == want, "got '" << got << "', want '" << want << "'");
    c.socket = "/run/mysqld/mysqld.sock";
    got.clear();
    for (const auto& server : relay::database_servers(c)) got += (got.empty() ? "" : " ") + server.name();
    BOOST_CHECK_MESSAGE(got == "unix:/run/mysqld/mysqld.sock", "socket: got '" << got << "', want the socket alone");
}

BOOST_AUTO_TEST_SUITE_END()
