// Abuse detection (core/ratelimit/abuse.cpp) against a fake AbuseStore: client networks, rate-limit refusals,
// automatic suspension with its event, the store being away, and the notify command.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/ratelimit/abuse.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/support/memory_store.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

// Keeps what MysqlAbuseStore keeps, in memory.
class FakeAbuseStore : public AbuseStore {
public:
    bool failing = false;
    std::map<Id, std::map<std::string, TimePoint>> networks;
    std::map<Id, std::vector<std::pair<TimePoint, std::uint64_t>>> refusals;
    std::map<Id, std::pair<TimePoint, std::string>> suspended;
    int network_writes = 0;

    std::uint64_t record_networks(Id id, const std::vector<std::string>& list, TimePoint now, TimePoint since) override {
        check();
        ++network_writes;
        for (const std::string& n : list) networks[id][n] = now;
        std::uint64_t count = 0;
        for (const auto& [n, seen] : networks[id]) count += seen >= since;
        return count;
    }
    std::uint64_t record_refusals(Id id, std::uint64_t n, TimePoint now, TimePoint since) override {
        check();
        refusals[id].emplace_back(now, n);
        std::uint64_t count = 0;
        for (const auto& [at, k] : refusals[id]) count += at >= since ? k : 0;
        return count;
    }
    bool suspend(Id id, TimePoint until, const std::string& reason, TimePoint now) override {
        check();
        auto it = suspended.find(id);
        if (it != suspended.end() && it->second.first > now) return false;
        suspended[id] = {until, reason};
        networks.erase(id);
        refusals.erase(id);
        return true;
    }
    void purge(TimePoint, TimePoint, TimePoint) override { check(); }

private:
    void check() const {
        if (failing) throw StoreTransientError("abuse store unavailable (test)");
    }
};

AbuseConfig config(unsigned max_networks = 3, unsigned max_refusals = 5) {
    AbuseConfig c;
    c.max_networks = max_networks;
    c.networks_window = 3600;
    c.max_rate_refusals = max_refusals;
    c.refusals_window = 600;
    c.suspend_seconds = 86400;
    return c;
}

struct Rig {
    FakeAbuseStore store;
    ManualClock clock;
    MemoryStore events_store;
    EventWriter events{events_store};
    AbuseMonitor monitor;
    explicit Rig(AbuseConfig c = config()) : monitor(store, std::move(c), clock, &events, "mx-test") {}
    void use(Id id, const std::string& client) { monitor.observe_use(id, "alice@example.com", client, clock.now()); }
    void refuse(Id id) { monitor.observe_refusal(id, "alice@example.com", "192.0.2.1", clock.now()); }
    std::vector<Event> written() {
        events.flush();
        return events_store.events();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(abuse)

BOOST_AUTO_TEST_CASE(client_network_table) {
    struct Case {
        const char* name;
        const char* address;
        const char* want;  // nullptr: not counted
    } const cases[] = {
        {"ipv4", "192.0.2.77", "192.0.2.0/24"},
        {"ipv4 mapped", "::ffff:198.51.100.9", "198.51.100.0/24"},
        {"ipv6", "2001:db8:1:2::5", "2001:db8:1::/48"},
        {"ipv6 postfix form", "IPv6:2001:db8:abcd:ff::1", "2001:db8:abcd::/48"},
        {"unknown", "unknown", nullptr},
        {"empty", "", nullptr},
    };
    for (const auto& c : cases) {
        const auto got = client_network(c.address);
        const std::string got_text = got ? *got : "(none)";
        const std::string want_text = c.want ? c.want : "(none)";
        BOOST_CHECK_MESSAGE(got_text == want_text, "case " << c.name << ": got " << got_text << ", want " << want_text);
    }
}

BOOST_AUTO_TEST_CASE(too_many_networks_suspends_once_with_an_event) {
    Rig r;
    r.use(7, "192.0.2.1");
    r.use(7, "192.0.2.200");  // same /24
    r.use(7, "198.51.100.1");
    r.use(7, "2001:db8:1::1");
    r.monitor.process();
    BOOST_CHECK(r.store.suspended.empty());  // 3 networks: not more than max_networks
    r.clock.advance(60s);
    r.use(7, "203.0.113.9");
    r.monitor.process();
    BOOST_REQUIRE_EQUAL(r.store.suspended.count(7), 1u);
    BOOST_CHECK(r.store.suspended[7].first == r.clock.now() + 86400s);
    BOOST_CHECK_EQUAL(r.store.suspended[7].second,
                      "automatic: used from 4 client networks within 3600 s (max_networks 3)");
    const auto events = r.written();
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_CHECK(events[0].reason == Reason::account_suspended);
    BOOST_CHECK_EQUAL(events[0].authority_id, 7);
    BOOST_CHECK(events[0].detail.find("automatic suspension until") == 0);
    // Counting starts afresh after a suspension: one more network is not a second suspension.
    r.clock.advance(60s);
    r.use(7, "100.64.0.1");
    r.monitor.process();
    BOOST_CHECK_EQUAL(r.written().size(), 1u);
}

BOOST_AUTO_TEST_CASE(networks_age_out_of_the_window) {
    Rig r;
    for (const char* a : {"192.0.2.1", "198.51.100.1", "203.0.113.1"}) r.use(9, a);
    r.monitor.process();
    r.clock.advance(3601s);
    r.use(9, "100.64.0.1");
    r.monitor.process();
    BOOST_CHECK(r.store.suspended.empty());
}

BOOST_AUTO_TEST_CASE(a_known_network_is_not_written_again_soon) {
    Rig r;
    for (int i = 0; i < 50; ++i) {
        r.use(7, "192.0.2.1");
        r.monitor.process();
    }
    BOOST_CHECK_EQUAL(r.store.network_writes, 1);
    r.clock.advance(301s);  // rewrite interval: networks_window / 10, at most 300 s
    r.use(7, "192.0.2.1");
    r.monitor.process();
    BOOST_CHECK_EQUAL(r.store.network_writes, 2);
}

BOOST_AUTO_TEST_CASE(too_many_rate_refusals_suspends) {
    Rig r;
    for (int i = 0; i < 5; ++i) r.refuse(8);
    r.monitor.process();
    BOOST_CHECK(r.store.suspended.empty());
    r.clock.advance(601s);  // the first five are out of the 600 s window
    for (int i = 0; i < 5; ++i) r.refuse(8);
    r.monitor.process();
    BOOST_CHECK(r.store.suspended.empty());
    r.refuse(8);
    r.monitor.process();
    BOOST_REQUIRE_EQUAL(r.store.suspended.count(8), 1u);
    BOOST_CHECK_EQUAL(r.store.suspended[8].second,
                      "automatic: 6 rate-limit refusals within 600 s (max_rate_refusals 5)");
}

BOOST_AUTO_TEST_CASE(store_away_keeps_the_observations) {
    Rig r;
    r.store.failing = true;
    for (int i = 0; i < 6; ++i) r.refuse(8);
    BOOST_CHECK_THROW(r.monitor.process(), StoreTransientError);
    BOOST_CHECK(r.store.suspended.empty());
    r.store.failing = false;
    r.monitor.process();
    BOOST_CHECK_EQUAL(r.store.suspended.count(8), 1u);
}

BOOST_AUTO_TEST_CASE(disabled_does_nothing) {
    AbuseConfig c = config(1, 1);
    c.enabled = false;
    Rig r(c);
    for (const char* a : {"192.0.2.1", "198.51.100.1", "203.0.113.1"}) r.use(7, a);
    for (int i = 0; i < 5; ++i) r.refuse(7);
    r.monitor.process();
    BOOST_CHECK(r.store.suspended.empty());
    BOOST_CHECK_EQUAL(r.store.network_writes, 0);
}

BOOST_AUTO_TEST_CASE(notify_command_gets_the_event_as_arguments) {
    char dir_template[] = "/tmp/relay-notify-XXXXXX";
    const char* dir = mkdtemp(dir_template);
    BOOST_REQUIRE(dir);
    const std::string script = std::string(dir) + "/notify.sh";
    const std::string out = std::string(dir) + "/args";
    {
        std::ofstream s(script);
        s << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " << out << "\n";
    }
    BOOST_REQUIRE_EQUAL(chmod(script.c_str(), 0700), 0);
    // A value with shell metacharacters stays one argument: no shell ever sees it.
    const pid_t pid = run_notify_command(script, {"suspended", "a;b$(x)@example.com", "7", "2026-01-02T00:00:00Z",
                                                  "automatic: test", "mx-test"});
    BOOST_REQUIRE(pid > 0);
    int status = 0;
    BOOST_REQUIRE_EQUAL(waitpid(pid, &status, 0), pid);
    BOOST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::ifstream in(out);
    std::stringstream got;
    got << in.rdbuf();
    BOOST_CHECK_EQUAL(got.str(), "suspended\na;b$(x)@example.com\n7\n2026-01-02T00:00:00Z\nautomatic: test\nmx-test\n");
    const pid_t missing = run_notify_command(std::string(dir) + "/nonexistent", {"x"});
    BOOST_REQUIRE(missing > 0);
    BOOST_REQUIRE_EQUAL(waitpid(missing, &status, 0), missing);
    BOOST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 127);
    std::remove(script.c_str());
    std::remove(out.c_str());
    rmdir(dir);
}

BOOST_AUTO_TEST_SUITE_END()
