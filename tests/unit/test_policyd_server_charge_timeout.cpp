// relay-policyd's bound on a charge ([rate_limits] charge_timeout, ServerSettings::charge_timeout): a
// decision sent to a worker is answered with a temporary failure when the worker has not decided in time;
// a charge still queued behind stuck workers at its deadline never reaches the decider (the database);
// and what needs no database is answered while every worker is stuck.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/base/clock.hpp"
#include "policyd/handler.hpp"
#include "policyd/instance_tracker.hpp"
#include "policyd/listener.hpp"
#include "policyd/server.hpp"
#include "temp_dir.hpp"

using namespace relay;
using namespace relay::policyd;
using namespace std::chrono_literals;

namespace {

using relay::test::TempDir;

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

// One worker, so one hanging charge occupies them all.
struct Fixture {
    TempDir dir;
    std::string path = dir.path + "/policy.sock";
    ManualClock clock;
    FrozenDecider decider;
    InstanceTracker tracker{1000, std::chrono::seconds(60), clock};
    RequestHandler handler{decider, tracker};
    std::unique_ptr<Server> server;
    BoundSocket socket;

    explicit Fixture(std::chrono::milliseconds charge_timeout) {
        ListenSpec spec;
        spec.kind = ListenSpec::Kind::unix_path;
        spec.path = path;
        spec.text = "unix:" + path;
        socket = bind_listener(spec, UnixSocketAccess{}).at(0);
        ServerSettings settings;
        settings.charge_timeout = charge_timeout;
        server = std::make_unique<Server>(handler, settings, 2, 1);
        server->add_listener(socket);
        server->start();
    }
    ~Fixture() {
        decider.release();
        server->stop(2s);
        release_listener(socket);
    }
};

class Client {
public:
    explicit Client(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~Client() { ::close(fd_); }
    bool connected() const { return connected_; }
    void send_eom(const std::string& login) {
        const std::string bytes = "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsasl_username=" +
                                  login + "\nsender=" + login + "\nrecipient=x@example.org\ninstance=i1\n\n";
        ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    // The next answer without "action=", "CLOSED" or "TIMEOUT".
    std::string answer() {
        while (buffer_.find("\n\n") == std::string::npos) {
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n == 0) return "CLOSED";
            if (n < 0) return "TIMEOUT";
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
        const auto end = buffer_.find("\n\n");
        std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return block.rfind("action=", 0) == 0 ? block.substr(7) : "BAD " + block;
    }

private:
    int fd_ = -1;
    bool connected_ = false;
    std::string buffer_;
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
