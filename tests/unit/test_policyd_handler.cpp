#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "policyd/handler.hpp"

using namespace relay;
using namespace relay::policyd;

namespace {

class ScriptedDecider : public Decider {
public:
    Decision next;
    bool throw_transient = false;
    bool throw_other = false;
    int calls = 0;
    std::uint32_t last_recipient_count = 0;
    Decision evaluate(const Request& r) override {
        ++calls;
        last_recipient_count = r.recipient_count;
        if (throw_transient) throw StoreTransientError("lost connection");
        if (throw_other) throw std::logic_error("bug");
        return next;
    }
    bool may_block(const Request& r) const override { return r.stage == Stage::end_of_message; }
};

Request rcpt(const std::string& instance) {
    Request r;
    r.stage = Stage::rcpt;
    r.sender_known = true;
    r.sasl_login = "alice@example.com";
    r.sender = "alice@example.com";
    r.recipient = "bob@example.org";
    r.client_address = "192.0.2.1";
    r.instance = instance;
    return r;
}

// An allowed decision for an account of ours (Decision{} is "not ours": untracked).
Decision allowed_ours() {
    Decision d;
    d.reason = Reason::ok;
    return d;
}

Decision refusal() {
    return make_refusal(Verdict::reject, Reason::sender_not_owned, 550, "5.7.1", "not yours");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policyd_handler)

BOOST_AUTO_TEST_CASE(answers_with_the_decision) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    const auto now = std::chrono::steady_clock::now();
    decider.next = Decision{};
    BOOST_TEST(handler.finish(rcpt("m1"), handler.decide(rcpt("m1")), now) == "action=DUNNO\n\n");
    decider.next = refusal();
    BOOST_TEST(handler.finish(rcpt("m1"), handler.decide(rcpt("m1")), now) == "action=550 5.7.1 not yours\n\n");
    BOOST_TEST(decider.calls == 2);
}

// ETRN carries no mail and unauthenticated requests are not ours: DUNNO. An authenticated request at a
// stage we do not know (" RCPT", "FOO") must not slip through as DUNNO: a temporary failure naming it.
BOOST_AUTO_TEST_CASE(ignored_answer_fails_closed_for_unknown_authenticated_stages) {
    struct Case {
        const char* name;
        MapStatus status;
        const char* login;
        const char* want;
    };
    const std::string tempfail = "action=451 4.3.5 Policy request with an unknown protocol_state; try again later\n\n";
    const std::vector<Case> cases = {
        {"ETRN, unauthenticated", MapStatus::ignore, "", "action=DUNNO\n\n"},
        {"ETRN, authenticated", MapStatus::ignore, "bob@example.com", "action=DUNNO\n\n"},
        {"unknown state, unauthenticated", MapStatus::unknown_state, "", "action=DUNNO\n\n"},
        {"unknown state, authenticated", MapStatus::unknown_state, "bob@example.com", tempfail.c_str()},
    };
    for (const auto& c : cases) {
        const std::string got = RequestHandler::ignored_answer(c.status, c.login, "unknown protocol_state \x1b FOO", "test");
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got '" << got << "', want '" << c.want << "'");
    }
}

BOOST_AUTO_TEST_CASE(exceptions_fail_closed) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    decider.throw_transient = true;
    Decision d = handler.decide(rcpt("m1"));
    BOOST_TEST((d.verdict == Verdict::defer));
    BOOST_TEST((d.reason == Reason::internal_error));
    decider.throw_transient = false;
    decider.throw_other = true;
    d = handler.decide(rcpt("m1"));
    BOOST_TEST((d.verdict == Verdict::defer));
    const std::string answer = handler.finish(rcpt("m1"), d, std::chrono::steady_clock::now());
    BOOST_TEST(answer.rfind("action=451 4.3.0 ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(tracks_recipients_until_end_of_message) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    const auto now = std::chrono::steady_clock::now();
    Request mail = rcpt("m1");
    mail.stage = Stage::mail;
    handler.finish(mail, Decision{}, now);
    handler.finish(rcpt("m1"), allowed_ours(), now);
    handler.finish(rcpt("m1"), refusal(), now);
    handler.finish(rcpt("m1"), allowed_ours(), now);
    const auto record = tracker.peek("m1");
    BOOST_REQUIRE(record.has_value());
    BOOST_TEST(record->recipients_seen == 3u);
    BOOST_TEST(record->recipients_allowed == 2u);
    Request eom = rcpt("m1");
    eom.stage = Stage::end_of_message;
    eom.recipient_count = 2;
    handler.finish(eom, Decision{}, now);
    BOOST_TEST(!tracker.peek("m1").has_value());
}

// Inbound mail that is not ours (unauthenticated, no IP-authorised account) is never tracked: on an MX
// most of it never reaches END-OF-MESSAGE and would only fill the tracker.
BOOST_AUTO_TEST_CASE(mail_that_is_not_ours_is_not_tracked) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    const auto now = std::chrono::steady_clock::now();
    Request inbound = rcpt("in1");
    inbound.sasl_login.clear();
    BOOST_TEST(handler.finish(inbound, Decision{}, now) == "action=DUNNO\n\n");
    BOOST_TEST(tracker.size() == 0u);
    Decision ip_account = allowed_ours();
    ip_account.verdict = Verdict::permit;
    ip_account.reason = Reason::ip_authorised;
    BOOST_TEST(handler.finish(inbound, ip_account, now) == "action=OK\n\n");
    BOOST_TEST(tracker.size() == 1u);
}

// Postfix sends recipient_count=0 at every RCPT; the engine's per-message cap needs the recipients we
// already allowed for this instance, so the handler supplies them.
BOOST_AUTO_TEST_CASE(rcpt_sees_the_recipients_already_allowed) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    const auto now = std::chrono::steady_clock::now();
    const std::uint32_t want[] = {0, 1, 1, 2};
    const bool allow[] = {true, false, true, true};
    for (int i = 0; i < 4; ++i) {
        decider.next = allow[i] ? allowed_ours() : refusal();
        const Decision d = handler.decide(rcpt("m2"));
        BOOST_TEST(decider.last_recipient_count == want[i], "rcpt " << i << ": got "
                   << decider.last_recipient_count << ", want " << want[i]);
        handler.finish(rcpt("m2"), d, now);
    }
    Request other = rcpt("m3");
    handler.decide(other);
    BOOST_TEST(decider.last_recipient_count == 0u);
}

BOOST_AUTO_TEST_CASE(vrfy_is_not_counted_as_a_recipient) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    Request vrfy = rcpt("m1");
    vrfy.sender_known = false;  // what map_policy_request makes of VRFY
    handler.finish(vrfy, allowed_ours(), std::chrono::steady_clock::now());
    BOOST_TEST(tracker.size() == 0u);
}

BOOST_AUTO_TEST_CASE(may_block_is_passed_through) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    RequestHandler handler(decider, tracker);
    Request eom = rcpt("m1");
    BOOST_TEST(!handler.may_block(eom));
    eom.stage = Stage::end_of_message;
    BOOST_TEST(handler.may_block(eom));
}

BOOST_AUTO_TEST_CASE(decide_without_waiting_leaves_only_blocking_decisions_to_a_worker) {
    ManualClock clock;
    InstanceTracker tracker(100, std::chrono::seconds(60), clock);
    ScriptedDecider decider;
    decider.next = refusal();
    RequestHandler handler(decider, tracker);
    Request r = rcpt("m1");
    const auto now = handler.decide_without_waiting(r);
    BOOST_REQUIRE(now.has_value());
    BOOST_TEST(now->reply() == refusal().reply());
    BOOST_TEST(decider.calls == 1);
    r.stage = Stage::end_of_message;  // the fake "may block" here: left for decide() on a worker
    BOOST_TEST(!handler.decide_without_waiting(r).has_value());
    BOOST_TEST(decider.calls == 1);
    decider.throw_transient = true;  // an error while deciding here is a temporary failure, as in decide()
    r.stage = Stage::rcpt;
    const auto failed = handler.decide_without_waiting(r);
    BOOST_REQUIRE(failed.has_value());
    BOOST_CHECK(failed->verdict == Verdict::defer);
}

BOOST_AUTO_TEST_CASE(a_charge_past_its_deadline_is_a_temporary_failure) {
    Request r = rcpt("m1");
    r.stage = Stage::end_of_message;
    const Decision d = RequestHandler::charge_timed_out(r);
    BOOST_CHECK(d.verdict == Verdict::defer);  // never a permit
    BOOST_CHECK(d.reason == Reason::rate_limits_unavailable);
    BOOST_TEST(d.smtp_code / 100 == 4);
    BOOST_TEST(d.login == "alice@example.com");
}

BOOST_AUTO_TEST_CASE(log_line_has_every_field_and_is_sanitized) {
    Request r = rcpt("m1");
    r.queue_id = "19E31A74258";
    r.sender = "evil\r\nforged line@example.com";
    r.recipient_count = 2;
    r.size = 1234;
    Decision d = refusal();
    d.login = "alice@example.com";
    const std::string line = decision_log_line(r, d, "550 5.7.1 not yours", 42, "");
    for (const char* want : {"rcpt:", "queue_id=19E31A74258", "login=alice@example.com", "client=192.0.2.1",
                             "sender=<evil??forged line@example.com>", "recipient=<bob@example.org>",
                             "recipients=2", "size=1234", "verdict=reject", "reason=sender_not_owned",
                             "action=\"550 5.7.1 not yours\"", "latency_us=42"}) {
        BOOST_CHECK_MESSAGE(line.find(want) != std::string::npos, "case field " << want << ": got " << line);
    }
    BOOST_TEST(line.find('\n') == std::string::npos);
    BOOST_TEST(line.find('\r') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(log_line_marks_missing_values) {
    Request r;
    r.stage = Stage::end_of_message;
    const std::string line = decision_log_line(r, Decision{}, "DUNNO", 7, "allowed_by_us=unknown");
    BOOST_CHECK_MESSAGE(line.find("queue_id=- login=- client=-") != std::string::npos, "got " << line);
    BOOST_CHECK_MESSAGE(line.find("allowed_by_us=unknown") != std::string::npos, "got " << line);
    BOOST_CHECK_MESSAGE(line.find("action=") == std::string::npos, "DUNNO is implied; got " << line);
}

BOOST_AUTO_TEST_SUITE_END()
