// Policy: the engine plus its side effects. The database being away must never permit anything; refusals
// and accepted messages reach the audit trail; rate limits are peeked at RCPT and charged at end of message.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/support/memory_store.hpp"
#include "core/policy/policy.hpp"
#include "core/rules/rate_gate.hpp"

using namespace relay;
using namespace std::chrono_literals;

namespace {

Snapshot rules() {
    SnapshotBuilder b;
    Id acme = b.add_customer("Acme");
    b.add_domain(acme, "example.com");
    b.add_account("alice@example.com");
    b.add_user(b.domain("example.com").id, "nobody");  // a login without an authority
    Authority& printer = b.add_account("printer@relay.example.net");
    printer.auth_mode = AuthMode::ip;
    printer.sender_policy = SenderPolicy::own_domain;
    b.add_network(printer.id, "192.0.2.0/24");
    return b.build();
}

Request request(Stage stage, const std::string& login, const std::string& sender = "alice@example.com",
                const std::string& client = "198.51.100.7") {
    Request r;
    r.stage = stage;
    r.client_address = client;
    r.sasl_login = login;
    r.sasl_method = login.empty() ? "" : "PLAIN";
    r.sender = sender;
    r.sender_known = stage != Stage::connect && stage != Stage::helo;
    r.recipient = "bob@external.example";
    r.recipient_count = stage == Stage::end_of_message ? 1 : 0;
    r.size = 1000;
    r.queue_id = "QID1";
    r.tls_protocol = "TLSv1.3";
    return r;
}

// A RateGate that answers what it is told and counts its calls.
class FakeGate : public RateGate {
public:
    std::optional<Decision> peek_answer, charge_answer;
    bool peek_throws = false, charge_throws = false;
    bool peek_has_a_bug = false;  // throws what no database throws
    int peeks = 0, charges = 0;

    std::optional<Decision> peek(const Request&, const Account&, const Snapshot&, TimePoint) override {
        ++peeks;
        if (peek_has_a_bug) throw std::logic_error("bug in the rate gate");
        if (peek_throws) throw StoreTransientError("rate counters unavailable");
        return peek_answer;
    }
    std::optional<Decision> charge(const Request&, const Account&, const Snapshot&, TimePoint) override {
        ++charges;
        if (charge_throws) throw StoreTransientError("rate counters unavailable");
        return charge_answer;
    }
};

Decision rate_limited() {
    return make_refusal(Verdict::defer, Reason::rate_limited, 450, "4.7.1", "Rate limit reached, try again later");
}

// Everything a test needs, wired like a daemon does.
struct Rig {
    MemoryStore store{rules()};
    ManualClock clock;
    SnapshotCache cache;
    EventWriter events{store};
    FakeGate gate;
    Policy policy;

    explicit Rig(bool with_gate = false)
        : cache(store, CacheOptions{1000ms, 60s}, clock),
          policy(cache, clock, PolicyOptions{"mx-test"}, with_gate ? &gate : nullptr, &events) {
        BOOST_REQUIRE(cache.refresh());
    }
    // The database goes away and the rules grow older than max_stale.
    void lose_database() {
        store.set_failing(true);
        clock.advance(61s);
        cache.refresh();
        BOOST_REQUIRE(!cache.current());
        store.set_failing(false);  // so that flush() can show what was queued
    }
    std::vector<Event> written() {
        events.flush();
        return store.events();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(policy)

BOOST_AUTO_TEST_CASE(decisions_and_their_audit_trail) {
    struct Case {
        const char* name;
        Request req;
        Verdict verdict;
        Reason reason;
        int code;
        bool recorded;
        bool use_recorded;
    };
    const Case cases[] = {
        {"allowed rcpt is not recorded", request(Stage::rcpt, "alice@example.com"), Verdict::cont, Reason::ok, 0,
         false, false},
        {"allowed mail is not recorded", request(Stage::mail, "alice@example.com"), Verdict::cont, Reason::ok, 0,
         false, false},
        {"allowed end of message is recorded with its use", request(Stage::end_of_message, "alice@example.com"),
         Verdict::cont, Reason::ok, 0, true, true},
        {"foreign sender is refused and recorded", request(Stage::rcpt, "alice@example.com", "ceo@bank.example"),
         Verdict::reject, Reason::sender_not_owned, 550, true, false},
        {"login without authority", request(Stage::rcpt, "nobody@example.com"), Verdict::reject,
         Reason::no_authority, 550, true, false},
        {"unauthenticated stranger is not ours", request(Stage::rcpt, "", "someone@else.example"), Verdict::cont,
         Reason::not_ours, 0, false, false},
        {"ip-authorised printer rcpt is permitted, not recorded",
         request(Stage::rcpt, "", "scan@relay.example.net", "192.0.2.10"), Verdict::permit, Reason::ip_authorised, 0,
         false, false},
        {"ip-authorised printer end of message is recorded",
         request(Stage::end_of_message, "", "scan@relay.example.net", "192.0.2.10"), Verdict::permit,
         Reason::ip_authorised, 0, true, true},
    };
    for (const Case& c : cases) {
        Rig rig;
        const Decision d = rig.policy.evaluate(c.req);
        BOOST_TEST((d.verdict == c.verdict),
                   "case " << c.name << ": got " << to_string(d.verdict) << ", want " << to_string(c.verdict));
        BOOST_TEST((d.reason == c.reason),
                   "case " << c.name << ": got " << to_string(d.reason) << ", want " << to_string(c.reason));
        BOOST_TEST(d.smtp_code == c.code, "case " << c.name << ": got code " << d.smtp_code << ", want " << c.code);
        const auto events = rig.written();
        BOOST_TEST(events.size() == (c.recorded ? 1u : 0u),
                   "case " << c.name << ": got " << events.size() << " events, want " << c.recorded);
        if (!events.empty()) {
            BOOST_TEST((events[0].reason == c.reason), "case " << c.name << ": event reason "
                                                             << to_string(events[0].reason));
            BOOST_TEST(events[0].node == "mx-test", "case " << c.name);
            BOOST_TEST(events[0].queue_id == "QID1", "case " << c.name);
        }
        const auto uses = rig.store.uses();
        BOOST_TEST(uses.size() == (c.use_recorded ? 1u : 0u),
                   "case " << c.name << ": got " << uses.size() << " uses, want " << c.use_recorded);
        if (!uses.empty()) {
            BOOST_TEST(uses[0].authority_id == d.authority_id, "case " << c.name);
            BOOST_TEST(uses[0].client_address == c.req.client_address, "case " << c.name);
        }
    }
}

BOOST_AUTO_TEST_CASE(without_rules_authenticated_mail_is_deferred_and_nothing_is_permitted) {
    const Stage stages[] = {Stage::connect, Stage::helo, Stage::mail, Stage::rcpt, Stage::data,
                            Stage::end_of_message};
    for (bool with_gate : {false, true}) {
        for (Stage stage : stages) {
            for (const std::string login : {"alice@example.com", "nobody@example.com", "unknown@nowhere.example"}) {
                Rig rig(with_gate);
                rig.lose_database();
                const Decision d = rig.policy.evaluate(request(stage, login));
                const std::string name = std::string(to_string(stage)) + " " + login;
                BOOST_TEST((d.verdict == Verdict::defer), "case " << name << ": got " << to_string(d.verdict));
                BOOST_TEST((d.reason == Reason::rules_unavailable), "case " << name << ": got " << to_string(d.reason));
                BOOST_TEST(d.reply() == "451 4.3.0 Relay rules temporarily unavailable, try again later",
                           "case " << name << ": got " << d.reply());
                const auto events = rig.written();
                BOOST_TEST(events.size() == 1u, "case " << name << ": the deferral was not recorded");
                BOOST_TEST(rig.gate.peeks + rig.gate.charges == 0, "case " << name << ": rate gate consulted");
            }
            // Unauthenticated, even from the printer's network: not ours, never permit.
            for (const std::string client : {"192.0.2.10", "198.51.100.7"}) {
                Rig rig(with_gate);
                rig.lose_database();
                const Decision d = rig.policy.evaluate(request(stage, "", "scan@relay.example.net", client));
                const std::string name = std::string(to_string(stage)) + " unauthenticated " + client;
                BOOST_TEST((d.verdict == Verdict::cont), "case " << name << ": got " << to_string(d.verdict));
                BOOST_TEST((d.reason == Reason::not_ours), "case " << name << ": got " << to_string(d.reason));
                BOOST_TEST(rig.written().empty(), "case " << name << ": recorded");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(rules_within_max_stale_keep_serving) {
    Rig rig;
    rig.store.set_failing(true);
    rig.clock.advance(30s);
    BOOST_TEST(!rig.cache.refresh());
    const Decision d = rig.policy.evaluate(request(Stage::rcpt, "alice@example.com"));
    BOOST_TEST((d.verdict == Verdict::cont), "got " << to_string(d.verdict));
    BOOST_TEST((d.reason == Reason::ok), "got " << to_string(d.reason));
}

BOOST_AUTO_TEST_CASE(rate_gate_peeks_at_rcpt_and_charges_at_end_of_message) {
    struct Case {
        const char* name;
        Stage stage;
        std::string sender;
        int peeks, charges;
    };
    const Case cases[] = {
        {"rcpt peeks", Stage::rcpt, "alice@example.com", 1, 0},
        {"end of message charges", Stage::end_of_message, "alice@example.com", 0, 1},
        {"mail does neither", Stage::mail, "alice@example.com", 0, 0},
        {"data does neither", Stage::data, "alice@example.com", 0, 0},
        {"a refused rcpt is not peeked", Stage::rcpt, "ceo@bank.example", 0, 0},
        {"a refused message is not charged", Stage::end_of_message, "ceo@bank.example", 0, 0},
    };
    for (const Case& c : cases) {
        Rig rig(true);
        rig.policy.evaluate(request(c.stage, "alice@example.com", c.sender));
        BOOST_TEST(rig.gate.peeks == c.peeks, "case " << c.name << ": got " << rig.gate.peeks << " peeks, want " << c.peeks);
        BOOST_TEST(rig.gate.charges == c.charges,
                   "case " << c.name << ": got " << rig.gate.charges << " charges, want " << c.charges);
    }
}

BOOST_AUTO_TEST_CASE(rate_gate_refusals_and_failures) {
    struct Case {
        const char* name;
        Stage stage;
        bool refuse, fail;
        Verdict verdict;
        Reason reason;
        std::string reply;
        bool use_recorded;
    };
    const Case cases[] = {
        {"peek refuses", Stage::rcpt, true, false, Verdict::defer, Reason::rate_limited,
         "450 4.7.1 Rate limit reached, try again later", false},
        {"charge refuses", Stage::end_of_message, true, false, Verdict::defer, Reason::rate_limited,
         "450 4.7.1 Rate limit reached, try again later", false},
        {"charge cannot reach the counters", Stage::end_of_message, false, true, Verdict::defer,
         Reason::rate_limits_unavailable, "451 4.3.0 Rate limits cannot be checked at the moment, try again later", false},
        {"peek cannot reach the counters", Stage::rcpt, false, true, Verdict::defer, Reason::rate_limits_unavailable,
         "451 4.3.0 Rate limits cannot be checked at the moment, try again later", false},
        {"within limits", Stage::end_of_message, false, false, Verdict::cont, Reason::ok, "", true},
    };
    for (const Case& c : cases) {
        Rig rig(true);
        if (c.refuse) rig.gate.peek_answer = rig.gate.charge_answer = rate_limited();
        rig.gate.peek_throws = rig.gate.charge_throws = c.fail;
        const Decision d = rig.policy.evaluate(request(c.stage, "alice@example.com"));
        BOOST_TEST((d.verdict == c.verdict), "case " << c.name << ": got " << to_string(d.verdict));
        BOOST_TEST((d.reason == c.reason), "case " << c.name << ": got " << to_string(d.reason));
        BOOST_TEST(d.reply() == c.reply, "case " << c.name << ": got '" << d.reply() << "', want '" << c.reply << "'");
        BOOST_TEST(d.authority_id != 0, "case " << c.name << ": the account was lost from the decision");
        BOOST_TEST(d.login == "alice@example.com", "case " << c.name << ": got login " << d.login);
        const auto events = rig.written();
        BOOST_REQUIRE_MESSAGE(events.size() == 1u, "case " << c.name << ": got " << events.size() << " events");
        BOOST_TEST((events[0].reason == c.reason), "case " << c.name);
        BOOST_TEST(events[0].authority_id == d.authority_id, "case " << c.name);
        BOOST_TEST(rig.store.uses().size() == (c.use_recorded ? 1u : 0u), "case " << c.name);
    }
}

// Before issue 14 a bug was answered and audited as store_unavailable, like a database outage.
BOOST_AUTO_TEST_CASE(an_internal_error_is_not_a_database_outage) {
    Rig rig(true);
    rig.gate.peek_has_a_bug = true;
    const Decision d = rig.policy.evaluate(request(Stage::rcpt, "alice@example.com"));
    BOOST_TEST((d.verdict == Verdict::defer), "got " << to_string(d.verdict));
    BOOST_TEST((d.reason == Reason::internal_error), "got " << to_string(d.reason));
    BOOST_TEST(d.reply() == "451 4.3.0 Internal error in the relay authority check, try again later");
    BOOST_TEST(d.login == "alice@example.com");
    const auto events = rig.written();
    BOOST_REQUIRE_EQUAL(events.size(), 1u);
    BOOST_TEST((events[0].reason == Reason::internal_error), "got " << to_string(events[0].reason));
}

BOOST_AUTO_TEST_CASE(one_fail_closed_decision_per_failure) {
    struct Case {
        Failure failure;
        Reason reason;
        const char* reply;
    };
    const Case cases[] = {
        {Failure::rules_unavailable, Reason::rules_unavailable, "451 4.3.0 Relay rules temporarily unavailable, try again later"},
        {Failure::rate_limits_unavailable, Reason::rate_limits_unavailable,
         "451 4.3.0 Rate limits cannot be checked at the moment, try again later"},
        {Failure::internal_error, Reason::internal_error,
         "451 4.3.0 Internal error in the relay authority check, try again later"},
    };
    for (const Case& c : cases) {
        const Decision d = fail_closed(c.failure);
        BOOST_TEST((d.verdict == Verdict::defer), to_string(c.reason));
        BOOST_TEST((d.reason == c.reason), "got " << to_string(d.reason) << ", want " << to_string(c.reason));
        BOOST_TEST(d.reply() == c.reply);
        BOOST_TEST(!allowed(d));
    }
}

BOOST_AUTO_TEST_CASE(allowed_is_cont_and_permit_only) {
    const std::pair<Verdict, bool> cases[] = {{Verdict::cont, true}, {Verdict::permit, true}, {Verdict::hold, false},
                                              {Verdict::reject, false}, {Verdict::defer, false}};
    for (const auto& [verdict, want] : cases) {
        Decision d;
        d.verdict = verdict;
        BOOST_TEST(allowed(d) == want, to_string(verdict) << ": got " << allowed(d));
    }
}

BOOST_AUTO_TEST_CASE(may_block_only_at_end_of_message_with_a_limiter) {
    struct Case {
        const char* name;
        Stage stage;
        bool gate;
        bool want;
    };
    const Case cases[] = {
        {"eom with rate_gate", Stage::end_of_message, true, true},
        {"eom without rate_gate", Stage::end_of_message, false, false},
        {"rcpt with rate_gate", Stage::rcpt, true, false},
        {"mail with rate_gate", Stage::mail, true, false},
        {"data with rate_gate", Stage::data, true, false},
    };
    for (const Case& c : cases) {
        Rig rig(c.gate);
        const bool got = rig.policy.may_block(request(c.stage, "alice@example.com"));
        BOOST_TEST(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(a_pinned_snapshot_is_used_instead_of_the_cache) {
    Rig rig;
    const SnapshotPtr pinned = rig.cache.current();
    rig.lose_database();  // the cache has nothing to offer now
    const Request alice = request(Stage::rcpt, "alice@example.com");
    BOOST_TEST((rig.policy.evaluate(alice).reason == Reason::rules_unavailable));
    BOOST_TEST((rig.policy.evaluate(alice, pinned).reason == Reason::ok));
    const Decision none = rig.policy.evaluate(alice, nullptr);
    BOOST_TEST((none.reason == Reason::rules_unavailable), "got " << to_string(none.reason));
    BOOST_TEST((rig.policy.evaluate(request(Stage::rcpt, ""), nullptr).reason == Reason::not_ours));
}

BOOST_AUTO_TEST_CASE(works_without_an_event_writer) {
    MemoryStore store(rules());
    ManualClock clock;
    SnapshotCache cache(store, CacheOptions{}, clock);
    Policy policy(cache, clock, PolicyOptions{"mx"});
    BOOST_TEST((policy.evaluate(request(Stage::rcpt, "alice@example.com")).verdict == Verdict::defer));  // no rules yet
    BOOST_REQUIRE(cache.refresh());
    BOOST_TEST((policy.evaluate(request(Stage::rcpt, "alice@example.com")).verdict == Verdict::cont));
    BOOST_TEST((policy.evaluate(request(Stage::rcpt, "alice@example.com", "x@bank.example")).verdict ==
                Verdict::reject));
}

BOOST_AUTO_TEST_SUITE_END()
