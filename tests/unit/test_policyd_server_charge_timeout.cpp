// relay-policyd's bound on a charge ([rate_limits] charge_timeout, ServerSettings::charge_timeout): a
// decision sent to a worker is answered with a temporary failure when the worker has not decided in time;
// a charge still queued behind stuck workers at its deadline never reaches the decider (the database);
// and what needs no database is answered while every worker is stuck.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "policyd_server_fixture.hpp"

using namespace relay;
using namespace relay::policyd;
using namespace std::chrono_literals;

namespace {

// END-OF-MESSAGE of limited@example.com is a charge: decided only on a worker, where it hangs (a frozen
// database) until release(). Everything else is decided at once: disabled@example.com is refused.
class FrozenDecider : public Decider {
public:
    Decision evaluate(const Request& r) override {
        if (is_charge(r)) {
            std::unique_lock<std::mutex> lock(mutex_);
            ++charges_started_;
            cv_.notify_all();
            cv_.wait(lock, [this] { return !frozen_; });
        }
        if (r.sasl_login == "disabled@example.com")
            return make_refusal(Verdict::reject, Reason::account_disabled, 550, "5.7.1", "disabled");
        return Decision{};
    }
    bool may_block(const Request& r) const override { return r.stage == Stage::end_of_message; }
    std::optional<Decision> evaluate_without_waiting(const Request& r) override {
        if (is_charge(r)) return std::nullopt;
        return evaluate(r);
    }

    void release() {
        std::lock_guard<std::mutex> lock(mutex_);
        frozen_ = false;
        cv_.notify_all();
    }
    int charges_started() {
        std::lock_guard<std::mutex> lock(mutex_);
        return charges_started_;
    }
    bool wait_for_charges(int n) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, 5s, [&] { return charges_started_ >= n; });
    }

private:
    static bool is_charge(const Request& r) {
        return r.stage == Stage::end_of_message && r.sasl_login == "limited@example.com";
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    bool frozen_ = true;
    int charges_started_ = 0;
};

ServerSettings with_charge_timeout(std::chrono::milliseconds charge_timeout) {
    ServerSettings settings;
    settings.charge_timeout = charge_timeout;
    return settings;
}

// One worker, so one hanging charge occupies them all.
struct Fixture : relay::test::ServerFixture<FrozenDecider> {
    explicit Fixture(std::chrono::milliseconds charge_timeout)
        : ServerFixture(with_charge_timeout(charge_timeout), 1) {}
};

struct Client : relay::test::PolicyClient {
    explicit Client(const std::string& path) : PolicyClient(path, 10) {}
    void send_eom(const std::string& login) { send(relay::test::policy_request(login, "END-OF-MESSAGE")); }
};

bool temporary(const std::string& action) {
    return action.rfind("DEFER_IF_PERMIT ", 0) == 0 || action.rfind("4", 0) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policyd_server_charge_timeout)

BOOST_AUTO_TEST_CASE(hanging_charges_get_a_temporary_failure_and_cached_answers_do_not_wait) {
    Fixture f(300ms);
    Client first(f.path), second(f.path), disabled(f.path), unauthenticated(f.path);
    BOOST_REQUIRE(first.connected() && second.connected() && disabled.connected() && unauthenticated.connected());
    first.send_eom("limited@example.com");
    BOOST_REQUIRE(f.decider.wait_for_charges(1));  // the only worker now hangs
    second.send_eom("limited@example.com");        // queued behind it

    // Nothing is released: only the bound can answer these two.
    const std::string a = first.answer();
    const std::string b = second.answer();
    BOOST_CHECK_MESSAGE(temporary(a), "got " << a << ", want a temporary failure");
    BOOST_CHECK_MESSAGE(temporary(b), "got " << b << ", want a temporary failure");

    // The worker still hangs on the first charge; these need no worker.
    disabled.send_eom("disabled@example.com");
    BOOST_TEST(disabled.answer() == "550 5.7.1 disabled");
    unauthenticated.send_eom("");
    BOOST_TEST(unauthenticated.answer() == "DUNNO");

    f.decider.release();
    first.send_eom("limited@example.com");  // the worker is free again: decided by it
    BOOST_TEST(first.answer() == "DUNNO");
    // The queued charge found its deadline passed when the worker came to it: never evaluated.
    BOOST_TEST(f.decider.charges_started() == 2);
}

BOOST_AUTO_TEST_CASE(a_charge_within_the_bound_gets_the_decision) {
    Fixture f(10s);
    f.decider.release();
    Client c(f.path);
    BOOST_REQUIRE(c.connected());
    for (int i = 0; i < 3; ++i) {
        c.send_eom("limited@example.com");
        BOOST_TEST(c.answer() == "DUNNO");
    }
    BOOST_TEST(f.decider.charges_started() == 3);
}

BOOST_AUTO_TEST_SUITE_END()
