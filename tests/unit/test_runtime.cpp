#include <boost/test/unit_test.hpp>

#include <string>

#include "core/base/clock.hpp"
#include "core/config/config.hpp"
#include "core/base/errors.hpp"
#include "tests/support/memory_store.hpp"
#include "core/ratelimit/counter_rate_gate.hpp"
#include "policyd/action.hpp"
#include "policyd/app.hpp"
#include "core/runtime/runtime.hpp"
#include "tests/support/memory_rate_counters.hpp"

using namespace relay;
using namespace relay::policyd;

namespace {

Snapshot rules() {
    SnapshotBuilder b;
    Id acme = b.add_customer("Acme");
    b.add_domain(acme, "example.com");
    b.add_account("alice@example.com");
    return b.build();
}

Request rcpt(const std::string& login, const std::string& sender) {
    Request r;
    r.stage = Stage::rcpt;
    r.sender_known = true;
    r.sasl_login = login;
    r.sender = sender;
    r.recipient = "someone@example.org";
    r.client_address = "192.0.2.1";
    return r;
}

CacheConfig fast_cache() {
    CacheConfig c;
    c.poll_interval_ms = 50;
    c.max_stale_seconds = 300;
    return c;
}

Config test_config() {
    Config c;
    c.general.node = "test";
    c.cache = fast_cache();
    c.audit.spool_size = "0";  // no audit spool: nothing written outside the test's own files
    return c;
}

// A Runtime over a MemoryStore the test keeps a handle on (to make it fail).
struct TestRuntime {
    MemoryStore* store;
    Runtime runtime;
    TestRuntime(Snapshot rules, const Clock& clock, RateGate* rate_gate = nullptr,
                bool failing = false, bool permanent = false)
        : store(nullptr), runtime(test_config(), make(std::move(rules), failing, permanent, store), rate_gate, clock) {}
    static std::unique_ptr<Store> make(Snapshot rules, bool failing, bool permanent, MemoryStore*& out) {
        auto s = std::make_unique<MemoryStore>(std::move(rules));
        s->set_failing(failing);
        s->set_permanent_failure(permanent);
        out = s.get();
        return s;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(runtime)

BOOST_AUTO_TEST_CASE(decides_from_the_store) {
    ManualClock clock;
    TestRuntime t(rules(), clock);
    Runtime& runtime = t.runtime;
    runtime.open();
    BOOST_TEST(runtime.has_rules());
    BOOST_TEST(runtime.account_count() == 1u);
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("alice@example.com", "alice@example.com"))) == "DUNNO");
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("alice@example.com", "ceo@bank.example"))).rfind("550 5.7.1", 0) == 0u);
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("", ""))) == "DUNNO");  // not ours
    BOOST_TEST(!runtime.may_block(rcpt("alice@example.com", "alice@example.com")));
}

BOOST_AUTO_TEST_CASE(end_of_message_goes_to_a_worker_only_for_a_charge) {
    // The root of issue 13 item 2: with a rate gate, every END-OF-MESSAGE used to wait for a worker.
    SnapshotBuilder b;
    b.add_domain(b.add_customer("Acme"), "example.com");
    const Id alice = b.add_account("alice@example.com").id;
    b.add_account("carol@example.com").active = false;
    RateLimit limit;
    limit.id = 7;
    limit.scope = RateScope::authority;
    limit.scope_id = alice;
    limit.amount = 100;
    limit.window_seconds = 3600;
    b.add_rate_limit(limit);
    ManualClock clock;
    MemoryRateCounters counters;
    CounterRateGate rate_gate(counters, RateGateOptions{});
    TestRuntime t(b.build(), clock, &rate_gate);
    Runtime& runtime = t.runtime;
    runtime.open();
    BOOST_REQUIRE(runtime.has_rules());
    auto eom = [](const std::string& login) {
        Request r = rcpt(login, login);
        r.stage = Stage::end_of_message;
        r.recipient_count = 1;
        return r;
    };
    BOOST_TEST(!runtime.evaluate_without_waiting(eom("alice@example.com")).has_value());  // a charge
    const auto disabled = runtime.evaluate_without_waiting(eom("carol@example.com"));
    BOOST_REQUIRE(disabled.has_value());
    BOOST_TEST(policy_action(*disabled).rfind("550 5.7.1", 0) == 0u);
    const auto unauthenticated = runtime.evaluate_without_waiting(eom(""));
    BOOST_REQUIRE(unauthenticated.has_value());
    BOOST_TEST(policy_action(*unauthenticated) == "DUNNO");
    BOOST_TEST(counters.updates() == 0u);
    BOOST_TEST(policy_action(runtime.evaluate(eom("alice@example.com"))) == "DUNNO");  // on the worker
    BOOST_TEST(counters.updates() == 1u);
}

BOOST_AUTO_TEST_CASE(database_down_at_start_means_temporary_failure) {
    ManualClock clock;
    TestRuntime t(rules(), clock, nullptr, /*failing=*/true);
    Runtime& runtime = t.runtime;
    runtime.open();  // logged, not fatal: the daemon starts without rules
    BOOST_TEST(!runtime.has_rules());
    const std::string action = policy_action(runtime.evaluate(rcpt("alice@example.com", "alice@example.com")));
    BOOST_CHECK_MESSAGE(action == "451 4.3.0 Relay rules temporarily unavailable, try again later", "got " << action);
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("", ""))) == "DUNNO");  // inbound mail untouched
}

BOOST_AUTO_TEST_CASE(permanent_error_at_start_propagates) {
    ManualClock clock;
    TestRuntime t(rules(), clock, nullptr, false, /*permanent=*/true);
    BOOST_CHECK_THROW(t.runtime.open(), StorePermanentError);
}

BOOST_AUTO_TEST_CASE(reload_keeps_the_running_rules_when_the_database_is_down) {
    ManualClock clock;
    TestRuntime t(rules(), clock);
    Runtime& runtime = t.runtime;
    runtime.open();
    BOOST_REQUIRE(runtime.has_rules());
    t.store->set_failing(true);
    CacheConfig other = fast_cache();
    other.max_stale_seconds = 10;
    BOOST_TEST(!runtime.reload_cache(other));
    BOOST_TEST(runtime.has_rules());  // still the old cache with its snapshot
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("alice@example.com", "alice@example.com"))) == "DUNNO");
    t.store->set_failing(false);
    BOOST_TEST(runtime.reload_cache(other));
    BOOST_TEST(policy_action(runtime.evaluate(rcpt("alice@example.com", "alice@example.com"))) == "DUNNO");
}

BOOST_AUTO_TEST_CASE(start_and_stop_run_the_threads_once) {
    ManualClock clock;
    TestRuntime t(rules(), clock);
    t.runtime.open();
    t.runtime.start("unit");
    t.runtime.start("unit");  // a second start is a no-op, not a second poller
    t.runtime.stop();
    t.runtime.stop();
    BOOST_TEST(policy_action(t.runtime.evaluate(rcpt("alice@example.com", "alice@example.com"))) == "DUNNO");
}

BOOST_AUTO_TEST_CASE(server_settings_follow_the_config) {
    PolicydConfig c;
    c.max_line_length = 1000;
    c.max_attributes = 20;
    c.max_request_bytes = 5000;
    c.idle_timeout = 42;
    c.max_connections = 7;
    const ServerSettings s = server_settings(c);
    BOOST_TEST(s.parse.max_line_length == 1000u);
    BOOST_TEST(s.parse.max_attributes == 20u);
    BOOST_TEST(s.parse.max_request_bytes == 5000u);
    BOOST_TEST(s.idle_timeout.count() == 42000);
    BOOST_TEST(s.max_connections == 7u);
}

BOOST_AUTO_TEST_CASE(log_options_follow_the_config) {
    Config c;
    c.general.log_level = "debug";
    c.general.syslog_facility = "local3";
    LogOptions o = log_options(c, false);
    BOOST_TEST(o.ident == "relay-policyd");
    BOOST_TEST(!o.to_stderr);
    BOOST_TEST(o.facility == "local3");
    BOOST_TEST((o.min_level == LogLevel::debug));
    BOOST_TEST(log_options(c, true).to_stderr);
}

BOOST_AUTO_TEST_CASE(keys_needing_restart_table) {
    struct Case {
        const char* name;
        void (*change)(Config&);
        std::string want;  // "" = reloadable
    };
    const Case cases[] = {
        {"log level", [](Config& c) { c.general.log_level = "debug"; }, ""},
        {"cache timing", [](Config& c) { c.cache.max_stale_seconds = 5; }, ""},
        {"idle timeout", [](Config& c) { c.policyd.idle_timeout = 5; }, ""},
        {"line cap", [](Config& c) { c.policyd.max_line_length = 100; }, ""},
        {"instance ttl", [](Config& c) { c.policyd.instance_ttl = 100; }, ""},
        {"listen", [](Config& c) { c.policyd.listen = {"inet:127.0.0.1:1"}; }, "[policyd] listen"},
        {"user", [](Config& c) { c.policyd.user = "nobody"; }, "[policyd] user"},
        {"threads", [](Config& c) { c.policyd.threads = 9; }, "[policyd] threads"},
        {"socket mode", [](Config& c) { c.policyd.socket_mode = "0600"; }, "[policyd] socket_mode"},
        {"database password", [](Config& c) { c.database.password = "new"; }, "[database] password"},
        {"node", [](Config& c) { c.general.node = "mx9"; }, "[general] node"},
        {"rate-limit time zone", [](Config& c) { c.rate_limits.time_zone = "Europe/Berlin"; }, "[rate_limits] time_zone"},
        {"charge timeout", [](Config& c) { c.rate_limits.charge_timeout = 9; }, "[rate_limits] charge_timeout"},
        {"metrics port", [](Config& c) { c.metrics.policyd_listen = "127.0.0.1:9"; }, "[metrics] policyd_listen"},
        {"the milter's key: not ours", [](Config& c) { c.milter.timeout = 9; }, ""},
        {"the milter's metrics port: not ours", [](Config& c) { c.metrics.milter_listen = "127.0.0.1:9"; }, ""},
        {"relayctl's key: not ours", [](Config& c) { c.relayctl.min_password_length = 30; }, ""},
        {"abuse window", [](Config& c) { c.abuse.networks_window = 60; }, "[abuse] networks_window"},
    };
    for (const auto& c : cases) {
        Config a, b;
        c.change(b);
        const auto keys = keys_needing_restart(a, b, DaemonKind::policyd);
        const std::string got = keys.empty() ? "" : keys.front();
        BOOST_CHECK_MESSAGE(got == c.want && keys.size() <= 1, "case " << c.name << ": got \"" << got << "\", want \""
                                                                        << c.want << "\"");
    }
}

BOOST_AUTO_TEST_CASE(sighup_applies_exactly_the_reloadable_keys) {
    Config running, fresh;
    fresh.general.log_level = "debug";
    fresh.policyd.idle_timeout = 7;
    fresh.cache.max_stale_seconds = 11;
    fresh.general.refusal_summary = 60;
    fresh.policyd.listen = {"inet:127.0.0.1:1"};  // needs a restart: not applied
    fresh.database.password = "new";               // likewise
    apply_reloadable_keys(running, fresh, DaemonKind::policyd);
    BOOST_TEST(running.general.log_level == "debug");
    BOOST_TEST(running.policyd.idle_timeout == 7u);
    BOOST_TEST(running.cache.max_stale_seconds == 11u);
    BOOST_TEST(running.general.refusal_summary == 60u);
    BOOST_TEST(running.policyd.listen != fresh.policyd.listen);
    BOOST_TEST(running.database.password != "new");
    // every key is either applied or reported, never silently ignored
    const auto applied = reloadable_keys(DaemonKind::policyd);
    BOOST_TEST(applied.size() == 13u);
}

BOOST_AUTO_TEST_SUITE_END()
