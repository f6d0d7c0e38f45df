// CounterRateGate over in-memory counters with a ManualClock: charging at end of message, the RCPT peek,
// refusal replies, shared pools, shadow limits, and what happens while the counters are unreachable.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "core/ratelimit/abuse.hpp"
#include "core/base/clock.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/support/memory_store.hpp"
#include "core/policy/policy.hpp"
#include "core/ratelimit/counter_rate_gate.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "tests/support/memory_rate_counters.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

RateLimit make(Id id, RateScope scope, std::optional<Id> scope_id, RateMeter meter, std::uint64_t amount,
               std::uint32_t window = 3600) {
    RateLimit l;
    l.id = id;
    l.scope = scope;
    l.scope_id = scope_id;
    l.meter = meter;
    l.amount = amount;
    l.window_seconds = window;
    return l;
}

struct Rig {
    SnapshotBuilder builder;
    Id alice = 0, bob = 0, domain = 0;
    Snapshot snapshot;
    ManualClock clock;
    MemoryStore store;
    EventWriter events{store};
    MemoryRateCounters counters;
    std::unique_ptr<CounterRateGate> rate_gate;

    explicit Rig(RateGateOptions options = {}) {
        domain = builder.add_domain(builder.add_customer("Acme"), "example.com");
        alice = builder.add_account("alice@example.com").id;
        bob = builder.add_account("bob@example.com").id;
        rate_gate = std::make_unique<CounterRateGate>(counters, std::move(options), &events);
    }
    void add(RateLimit l) { builder.add_rate_limit(l); }
    void build() { snapshot = builder.build(); }

    Request request(Stage stage, std::uint32_t recipients = 1, std::uint64_t size = 1000) const {
        Request r;
        r.stage = stage;
        r.client_address = "198.51.100.7";
        r.sasl_login = "alice@example.com";
        r.sender = "alice@example.com";
        r.sender_known = true;
        r.recipient = "x@external.example";
        r.recipient_count = stage == Stage::rcpt ? recipients - 1 : recipients;
        r.size = size;
        r.queue_id = "QID";
        return r;
    }
    std::optional<Decision> eom(const std::string& login = "alice@example.com", std::uint32_t recipients = 1,
                                std::uint64_t size = 1000) {
        Request r = request(Stage::end_of_message, recipients, size);
        r.sasl_login = login;
        return rate_gate->charge(r, *snapshot.find_account(login), snapshot, clock.now());
    }
    std::optional<Decision> rcpt(const std::string& login = "alice@example.com", std::uint32_t nth = 1) {
        Request r = request(Stage::rcpt, nth);
        r.sasl_login = login;
        return rate_gate->peek(r, *snapshot.find_account(login), snapshot, clock.now());
    }
    int accepted_of(int attempts, const std::string& login = "alice@example.com", std::uint32_t recipients = 1,
                    std::uint64_t size = 1000) {
        int n = 0;
        for (int i = 0; i < attempts; ++i) n += !eom(login, recipients, size);
        return n;
    }
    std::vector<Event> written() {
        events.flush();
        return store.events();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(counter_rate_gate)

BOOST_AUTO_TEST_CASE(exact_count_and_the_refusal_reply) {
    Rig r;
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 100));
    r.build();
    BOOST_CHECK_EQUAL(r.accepted_of(150), 100);
    const auto d = r.eom();
    BOOST_REQUIRE(d);
    BOOST_CHECK(d->verdict == Verdict::defer);
    BOOST_CHECK(d->reason == Reason::rate_limited);
    BOOST_CHECK_EQUAL(d->reply(), "450 4.7.1 Rate limit reached for alice@example.com: 100 messages per 1 hour "
                                  "(rolling) (limit 7); try again in 36 seconds");
    BOOST_CHECK_EQUAL(d->authority_id, r.alice);
    BOOST_CHECK_EQUAL(r.counters.refusals(7, r.alice), 51u);
    r.clock.advance(36s);
    BOOST_CHECK_EQUAL(r.accepted_of(5), 1);
}

BOOST_AUTO_TEST_CASE(deferred_attempts_are_not_charged) {
    Rig r;
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 10));
    r.build();
    BOOST_CHECK_EQUAL(r.accepted_of(10), 10);
    const CounterState full = *r.counters.state(7, r.alice);
    BOOST_CHECK_EQUAL(r.accepted_of(50), 0);
    BOOST_CHECK(*r.counters.state(7, r.alice) == full);
    r.clock.advance(3600s);
    BOOST_CHECK_EQUAL(r.accepted_of(20), 10);  // fully back: the 50 refusals cost nothing
}

BOOST_AUTO_TEST_CASE(recipients_and_bytes_meters) {
    Rig r;
    r.add(make(1, RateScope::authority, r.alice, RateMeter::recipients, 10));
    r.add(make(2, RateScope::authority, r.bob, RateMeter::bytes, 10000));
    r.build();
    BOOST_CHECK_EQUAL(r.accepted_of(5, "alice@example.com", 3), 3);  // 9 of 10 recipients
    BOOST_CHECK(!r.eom("alice@example.com", 1));                    // the 10th still fits
    BOOST_CHECK_EQUAL(r.accepted_of(5, "bob@example.com", 1, 4000), 2);
    const auto big = r.eom("bob@example.com", 1, 20000);  // larger than the whole allowance
    BOOST_REQUIRE(big);
    BOOST_CHECK_EQUAL(big->reply().substr(0, 9), "550 5.7.1");
    BOOST_CHECK(big->reply().find("alone exceeds") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(all_or_nothing_across_limits) {
    Rig r;
    r.add(make(1, RateScope::authority, r.alice, RateMeter::messages, 100));
    RateLimit day = make(2, RateScope::global, std::nullopt, RateMeter::messages, 3, 86400);
    day.calendar = RateCalendar::day;
    r.add(day);
    r.build();
    BOOST_CHECK_EQUAL(r.accepted_of(10), 3);
    // The hour limit was charged for the 3 accepted messages only.
    const LimitCheck hour = check_limit(r.snapshot.rate_limits.front(), *r.counters.state(1, r.alice), 0, r.clock.now(),
                                        TimeZone());
    BOOST_CHECK_EQUAL(hour.used, 3u);
}

BOOST_AUTO_TEST_CASE(shared_pool_counts_everyone) {
    Rig r;
    RateLimit pool = make(9, RateScope::domain, r.domain, RateMeter::messages, 10);
    pool.kind = RateKind::shared_pool;
    r.add(pool);
    r.build();
    const int alice = r.accepted_of(6, "alice@example.com");
    const int bob = r.accepted_of(6, "bob@example.com");
    BOOST_CHECK_EQUAL(alice, 6);
    BOOST_CHECK_EQUAL(bob, 4);
    BOOST_CHECK(r.counters.state(9, 0));
    BOOST_CHECK(!r.counters.state(9, r.alice));
    const auto d = r.eom("bob@example.com");
    BOOST_REQUIRE(d);
    BOOST_CHECK(d->text.find("shared by domain example.com") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(actions_reject_and_hold) {
    Rig r;
    RateLimit reject = make(1, RateScope::authority, r.alice, RateMeter::messages, 1);
    reject.action = RateAction::reject;
    RateLimit hold = make(2, RateScope::authority, r.bob, RateMeter::messages, 1);
    hold.action = RateAction::hold;
    r.add(reject);
    r.add(hold);
    r.build();
    BOOST_CHECK(!r.eom("alice@example.com"));
    const auto rejected = r.eom("alice@example.com");
    BOOST_REQUIRE(rejected);
    BOOST_CHECK_EQUAL(rejected->reply(), "550 5.7.1 Rate limit exceeded for alice@example.com: 1 messages per 1 hour "
                                         "(rolling) (limit 1)");
    BOOST_CHECK(!r.eom("bob@example.com"));
    const auto held = r.eom("bob@example.com");
    BOOST_REQUIRE(held);
    BOOST_CHECK(held->verdict == Verdict::hold);
    BOOST_CHECK_EQUAL(held->smtp_code, 0);
    BOOST_CHECK(!r.rcpt("bob@example.com"));  // a hold never refuses at RCPT
    BOOST_CHECK(r.rcpt("alice@example.com"));
}

BOOST_AUTO_TEST_CASE(calendar_reply_names_the_local_reset) {
    RateGateOptions o;
    o.zone = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3");
    Rig r(o);
    RateLimit day = make(3, RateScope::global, std::nullopt, RateMeter::messages, 2, 86400);
    day.calendar = RateCalendar::day;
    r.add(day);
    r.build();
    r.clock.set(from_unix(1774738800 + 1800));  // 2026-03-29 00:30 CET, the 23-hour day
    BOOST_CHECK_EQUAL(r.accepted_of(3), 2);
    const auto d = r.eom();
    BOOST_REQUIRE(d);
    BOOST_CHECK_EQUAL(d->text, "Rate limit reached for alice@example.com: 2 messages per calendar day (limit 3); "
                               "try again after 2026-03-30 00:00 CEST");
    r.clock.set(from_unix(1774821600));  // local midnight
    BOOST_CHECK_EQUAL(r.accepted_of(3), 2);
}

BOOST_AUTO_TEST_CASE(rcpt_peek_refuses_early_and_never_charges) {
    Rig r;
    RateLimit day = make(4, RateScope::authority, r.alice, RateMeter::messages, 3, 86400);
    day.calendar = RateCalendar::day;
    r.add(day);
    r.add(make(5, RateScope::authority, r.bob, RateMeter::recipients, 5));
    r.build();
    BOOST_CHECK(!r.rcpt());  // nothing known yet: no database question at RCPT
    BOOST_CHECK_EQUAL(r.accepted_of(3), 3);
    const std::size_t updates = r.counters.updates();
    for (int i = 0; i < 10; ++i) {
        const auto d = r.rcpt();
        BOOST_REQUIRE(d);
        BOOST_CHECK_EQUAL(d->smtp_code, 450);
    }
    BOOST_CHECK_EQUAL(r.counters.updates(), updates);  // peeks never touched the counters
    // The remembered counter is trusted for peek_memory only; then end of message asks again.
    r.clock.advance(121s);
    BOOST_CHECK(!r.rcpt());
    BOOST_CHECK(r.eom());
    BOOST_CHECK(r.rcpt());

    // Recipients, 3 of 5 used: a new message's 2nd recipient still fits (3 + 2), its 3rd does not.
    BOOST_CHECK(!r.eom("bob@example.com", 3));
    BOOST_CHECK(!r.rcpt("bob@example.com", 2));
    BOOST_CHECK(r.rcpt("bob@example.com", 3));
}

BOOST_AUTO_TEST_CASE(shadow_limit_logs_and_enforces_nothing) {
    Rig r;
    RateLimit shadow = make(6, RateScope::authority, r.alice, RateMeter::messages, 2);
    shadow.shadow = true;
    r.add(shadow);
    r.build();
    BOOST_CHECK_EQUAL(r.accepted_of(5), 5);
    BOOST_CHECK(!r.rcpt());
    std::size_t shadow_events = 0;
    for (const Event& e : r.written()) {
        if (e.reason == Reason::rate_limited && e.verdict == Verdict::cont &&
            e.detail.find("shadow rate limit 6 would have deferred") != std::string::npos)
            ++shadow_events;
    }
    BOOST_CHECK_EQUAL(shadow_events, 3u);
}

BOOST_AUTO_TEST_CASE(database_unavailable_tempfail) {
    Rig r;
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 100));
    r.build();
    r.counters.set_failing(true);
    const auto d = r.eom();
    BOOST_REQUIRE(d);
    BOOST_CHECK_EQUAL(d->reply(), "451 4.3.0 Rate limits cannot be checked at the moment, try again later");
    BOOST_CHECK(d->reason == Reason::rate_limits_unavailable);
    r.counters.set_failing(false);
    BOOST_CHECK(!r.eom());
}

BOOST_AUTO_TEST_CASE(database_unavailable_allow_is_bounded_and_audited) {
    RateGateOptions o;
    o.allow_when_unavailable = true;
    o.unavailable_allowance = 3;
    Rig r(o);
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 100));
    r.add(make(8, RateScope::authority, r.bob, RateMeter::messages, 100));
    r.build();
    r.counters.set_failing(true);
    BOOST_CHECK_EQUAL(r.accepted_of(5), 3);
    BOOST_CHECK_EQUAL(r.accepted_of(5, "bob@example.com"), 3);  // per account
    r.clock.advance(1200s);
    BOOST_CHECK_EQUAL(r.accepted_of(5), 1);  // a third of an hour: one more
    std::size_t audited = 0;
    for (const Event& e : r.written()) audited += e.reason == Reason::rate_limits_unavailable;
    BOOST_CHECK_EQUAL(audited, 7u);
    r.counters.set_failing(false);
    BOOST_CHECK_EQUAL(r.accepted_of(5), 5);  // counted again (nothing was charged meanwhile)
}

// A charge that lost to other writers for its whole retry time (StoreContentionError) is a temporary
// failure of that message alone: not an outage, so on_rate_limits_unavailable = allow does not let it through
// uncounted, and the next message is charged as usual.
BOOST_AUTO_TEST_CASE(contention_tempfails_that_message_only_and_is_no_outage) {
    RateGateOptions o;
    o.allow_when_unavailable = true;
    o.unavailable_allowance = 3;
    Rig r(o);
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 100));
    r.build();
    r.counters.set_contended(1);
    const auto d = r.eom();
    BOOST_REQUIRE(d);
    BOOST_CHECK_EQUAL(d->reply(), "451 4.3.0 Rate limits cannot be checked at the moment, try again later");
    BOOST_CHECK_EQUAL(r.accepted_of(2), 2);
    BOOST_CHECK_EQUAL(r.accepted_of(100), 98);  // the tempfailed message was not counted
    std::size_t uncounted = 0;
    for (const Event& e : r.written()) uncounted += e.reason == Reason::rate_limits_unavailable && e.verdict == Verdict::cont;
    BOOST_CHECK_EQUAL(uncounted, 0u);
}

BOOST_AUTO_TEST_CASE(abuse_counts_a_refused_message_once) {
    struct CountingStore : AbuseStore {
        std::uint64_t refusals = 0;
        std::uint64_t record_networks(Id, const std::vector<std::string>&, TimePoint, TimePoint) override { return 1; }
        std::uint64_t record_refusals(Id, std::uint64_t n, TimePoint, TimePoint) override { return refusals += n; }
        bool suspend(Id, TimePoint, const std::string&, TimePoint) override { return false; }
        void purge(TimePoint, TimePoint, TimePoint) override {}
    } store;
    Rig r;
    AbuseMonitor monitor(store, AbuseConfig{}, r.clock, nullptr, "mx-test");
    CounterRateGate rate_gate(r.counters, RateGateOptions{}, nullptr, &monitor);
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 1));
    r.build();
    const Account alice = *r.snapshot.find_account("alice@example.com");
    auto at = [&](Stage stage, const char* instance) {
        Request q = r.request(stage);
        q.instance = instance;
        return stage == Stage::rcpt ? rate_gate.peek(q, alice, r.snapshot, r.clock.now())
                                    : rate_gate.charge(q, alice, r.snapshot, r.clock.now());
    };
    BOOST_CHECK(!at(Stage::end_of_message, "m1"));
    for (int i = 0; i < 5; ++i) BOOST_CHECK(at(Stage::rcpt, "m2"));  // one message, five recipients
    for (int i = 0; i < 3; ++i) BOOST_CHECK(at(Stage::rcpt, "m3"));
    BOOST_CHECK(at(Stage::rcpt, "m2"));  // the first message again: a retry counts
    monitor.process();
    BOOST_CHECK_EQUAL(store.refusals, 3u);
}

BOOST_AUTO_TEST_CASE(wired_into_policy) {
    // The whole path: Policy peeks at RCPT, charges at end of message, writes the refusal to the audit trail.
    Rig r;
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 2));
    r.build();
    MemoryStore rules(r.snapshot);
    SnapshotCache cache(rules, CacheOptions{1000ms, 60s}, r.clock);
    BOOST_REQUIRE(cache.refresh());
    Policy policy(cache, r.clock, PolicyOptions{"mx-test"}, r.rate_gate.get(), &r.events);
    Verdict rcpt_verdicts[4], eom_verdicts[4];
    for (int i = 0; i < 4; ++i) {
        rcpt_verdicts[i] = policy.evaluate(r.request(Stage::rcpt)).verdict;
        eom_verdicts[i] = policy.evaluate(r.request(Stage::end_of_message)).verdict;
    }
    BOOST_CHECK(rcpt_verdicts[0] == Verdict::cont && rcpt_verdicts[1] == Verdict::cont);
    BOOST_CHECK(eom_verdicts[0] == Verdict::cont && eom_verdicts[1] == Verdict::cont);
    BOOST_CHECK(rcpt_verdicts[2] == Verdict::defer);  // the second charge showed the allowance spent
    BOOST_CHECK(eom_verdicts[2] == Verdict::defer && eom_verdicts[3] == Verdict::defer);
    std::size_t refusals = 0;
    for (const Event& e : r.written())  // repeated refusals share a row (EventWriter folds them)
        if (e.reason == Reason::rate_limited && e.verdict == Verdict::defer) refusals += e.repeat_count;
    BOOST_CHECK_EQUAL(refusals, 4u);  // RCPT and end of message of attempts 3 and 4
    BOOST_CHECK(policy.may_block(r.request(Stage::end_of_message)));
    BOOST_CHECK(!policy.may_block(r.request(Stage::rcpt)));
}

BOOST_AUTO_TEST_CASE(only_a_real_charge_waits_for_the_database) {
    // Policy::evaluate_without_waiting answers everything from the cached rules except an END-OF-MESSAGE
    // that must charge: that one comes back as nullopt, with nothing charged or recorded yet.
    Rig r;
    r.builder.add_account("carol@example.com").active = false;
    r.add(make(7, RateScope::authority, r.alice, RateMeter::messages, 100));
    r.build();
    MemoryStore rules(r.snapshot);
    SnapshotCache cache(rules, CacheOptions{1000ms, 60s}, r.clock);
    BOOST_REQUIRE(cache.refresh());
    Policy policy(cache, r.clock, PolicyOptions{"mx-test"}, r.rate_gate.get(), &r.events);
    auto eom = [&](const std::string& login) {
        Request q = r.request(Stage::end_of_message);
        q.sasl_login = login;
        q.sender = login;
        return q;
    };

    BOOST_CHECK(!policy.evaluate_without_waiting(eom("alice@example.com")));  // limited: a charge
    BOOST_CHECK_EQUAL(r.counters.updates(), 0u);
    BOOST_CHECK(r.written().empty());

    const auto unlimited = policy.evaluate_without_waiting(eom("bob@example.com"));
    BOOST_REQUIRE(unlimited);
    BOOST_CHECK(unlimited->verdict == Verdict::cont);
    const auto disabled = policy.evaluate_without_waiting(eom("carol@example.com"));
    BOOST_REQUIRE(disabled);
    BOOST_CHECK(disabled->verdict == Verdict::reject);
    BOOST_CHECK(disabled->reason == Reason::account_disabled);
    const auto unauthenticated = policy.evaluate_without_waiting(eom(""));
    BOOST_REQUIRE(unauthenticated);
    BOOST_CHECK(unauthenticated->reason == Reason::not_ours);
    const auto rcpt = policy.evaluate_without_waiting(r.request(Stage::rcpt));  // a peek needs no database
    BOOST_REQUIRE(rcpt);
    BOOST_CHECK(rcpt->verdict == Verdict::cont);
    BOOST_CHECK_EQUAL(r.counters.updates(), 0u);

    BOOST_CHECK(policy.evaluate(eom("alice@example.com")).verdict == Verdict::cont);  // the charge itself
    BOOST_CHECK_EQUAL(r.counters.updates(), 1u);
    BOOST_CHECK(r.counters.state(7, r.alice).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
