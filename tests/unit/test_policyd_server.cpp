#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "policyd_server_fixture.hpp"

using namespace relay;
using namespace relay::policyd;
using namespace std::chrono_literals;

namespace {

using relay::test::policy_request;

// Refuses the login "blocked@example.com"; END-OF-MESSAGE "may block" and waits for release() when
// gated, which is how a slow database looks to the server.
class GateDecider : public Decider {
public:
    Decision evaluate(const Request& r) override {
        if (r.stage == Stage::end_of_message) {
            std::unique_lock<std::mutex> lock(mutex_);
            ++waiting_;
            cv_.notify_all();
            cv_.wait(lock, [this] { return !gated_; });
            --waiting_;
        }
        if (r.sasl_login == "blocked@example.com")
            return make_refusal(Verdict::reject, Reason::no_authority, 550, "5.7.1", "no authority");
        return Decision{};
    }
    bool may_block(const Request& r) const override { return r.stage == Stage::end_of_message; }

    void gate() {
        std::lock_guard<std::mutex> lock(mutex_);
        gated_ = true;
    }
    void release() {
        std::lock_guard<std::mutex> lock(mutex_);
        gated_ = false;
        cv_.notify_all();
    }
    bool wait_for_blocked(int n) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, 5s, [&] { return waiting_ >= n; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool gated_ = false;
    int waiting_ = 0;
};

// Two workers; settings as the test gives them.
struct Fixture : relay::test::ServerFixture<GateDecider> {
    explicit Fixture(ServerSettings settings = ServerSettings{}) : ServerFixture(settings, 2) {}
};

struct Client : relay::test::PolicyClient {
    explicit Client(const std::string& path) : PolicyClient(path, 5) {}
};

}  // namespace

BOOST_AUTO_TEST_SUITE(policyd_server)

BOOST_AUTO_TEST_CASE(lock_step_requests_on_one_connection) {
    Fixture f;
    Client c(f.path);
    BOOST_REQUIRE(c.connected());
    for (int i = 0; i < 5; ++i) {
        c.send(policy_request("alice@example.com"));
        BOOST_TEST(c.answer() == "DUNNO");
        c.send(policy_request("blocked@example.com"));
        BOOST_TEST(c.answer() == "550 5.7.1 no authority");
    }
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
    Fixture f;
    Client c(f.path);
    c.send(policy_request("alice@example.com") + policy_request("blocked@example.com") +
           policy_request("alice@example.com") + policy_request("ignored", "ETRN"));
    BOOST_TEST(c.answer() == "DUNNO");
    BOOST_TEST(c.answer() == "550 5.7.1 no authority");
    BOOST_TEST(c.answer() == "DUNNO");
    BOOST_TEST(c.answer() == "DUNNO");
}

BOOST_AUTO_TEST_CASE(request_sent_byte_by_byte) {
    Fixture f;
    Client c(f.path);
    for (char ch : policy_request("blocked@example.com")) {
        c.send(std::string(1, ch));
        std::this_thread::sleep_for(100us);
    }
    BOOST_TEST(c.answer() == "550 5.7.1 no authority");
}

BOOST_AUTO_TEST_CASE(malformed_request_closes_the_connection) {
    Fixture f;
    {
        Client c(f.path);
        c.send("GET / HTTP/1.0\r\n\r\n");
        BOOST_TEST(c.answer() == "CLOSED");
    }
    {
        Client c(f.path);  // a good request first, then junk: the good one is answered
        c.send(policy_request("alice@example.com") + std::string("junk\0\n\n", 7));
        BOOST_TEST(c.answer() == "DUNNO");
        BOOST_TEST(c.answer() == "CLOSED");
    }
    {
        Client c(f.path);  // unusable values
        c.send("request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient_count=many\n\n");
        BOOST_TEST(c.answer() == "CLOSED");
    }
    Client after(f.path);  // the server is fine
    after.send(policy_request("alice@example.com"));
    BOOST_TEST(after.answer() == "DUNNO");
}

BOOST_AUTO_TEST_CASE(overlong_request_is_refused_without_waiting_for_its_end) {
    ServerSettings s;
    s.parse.max_line_length = 100;
    Fixture f(s);
    Client c(f.path);
    c.send("request=" + std::string(500, 'a'));  // no newline ever comes
    BOOST_TEST(c.answer() == "CLOSED");
}

BOOST_AUTO_TEST_CASE(blocking_decision_does_not_delay_other_connections) {
    Fixture f;
    f.decider.gate();
    Client slow(f.path);
    slow.send(policy_request("alice@example.com", "END-OF-MESSAGE"));
    BOOST_REQUIRE(f.decider.wait_for_blocked(1));
    // Both I/O threads are free: cached decisions on other connections go on.
    for (int i = 0; i < 3; ++i) {
        Client fast(f.path);
        fast.send(policy_request("blocked@example.com"));
        BOOST_TEST(fast.answer() == "550 5.7.1 no authority");
    }
    f.decider.release();
    BOOST_TEST(slow.answer() == "DUNNO");
}

BOOST_AUTO_TEST_CASE(stop_answers_requests_in_flight_and_closes_idle_connections) {
    Fixture f;
    f.decider.gate();
    Client busy(f.path);
    Client idle(f.path);
    idle.send(policy_request("alice@example.com"));
    BOOST_REQUIRE(idle.answer() == "DUNNO");
    busy.send(policy_request("alice@example.com", "END-OF-MESSAGE"));
    BOOST_REQUIRE(f.decider.wait_for_blocked(1));
    std::thread stopper([&] { f.server->stop(5s); });
    std::this_thread::sleep_for(100ms);
    BOOST_TEST(idle.answer() == "CLOSED");
    f.decider.release();
    BOOST_TEST(busy.answer() == "DUNNO");
    BOOST_TEST(busy.answer() == "CLOSED");
    stopper.join();
    BOOST_TEST(f.server->connection_count() == 0u);
    Client late(f.path);
    BOOST_TEST(!late.connected());
}

// SIGTERM in the same instant as a request on a persistent connection (the answer to the previous one
// still being written, the connection waiting, or the bytes already taken out of the kernel): the
// request is answered, then the connection is closed. Many rounds with different delays, because the
// race this guards against hit only some of them.
BOOST_AUTO_TEST_CASE(stop_answers_a_request_sent_just_before_it) {
    const std::chrono::microseconds delays[] = {0us, 0us, 20us, 50us, 100us, 300us};
    for (int round = 0; round < 60; ++round) {
        Fixture f;
        Client c(f.path);
        c.send(policy_request("alice@example.com"));
        BOOST_REQUIRE(c.answer() == "DUNNO");
        c.send(policy_request("blocked@example.com"));
        std::this_thread::sleep_for(delays[round % 6]);
        f.server->stop(2s);
        const std::string got = c.answer();
        BOOST_CHECK_MESSAGE(got == "550 5.7.1 no authority",
                            "case round " << round << ": got " << got << ", want 550 5.7.1 no authority");
        BOOST_TEST(c.answer() == "CLOSED");
    }
}

// A client that sends a long pipelined burst and reads the answers only later: the socket stops taking
// answers, the connection writes the rest when it can, and every request is answered, in order.
BOOST_AUTO_TEST_CASE(pipelined_burst_larger_than_the_socket_buffers) {
    Fixture f;
    Client c(f.path);
    constexpr int kRequests = 30000;  // about 500 kB of answers: more than a unix socket buffers
    std::thread sender([&] {
        std::string burst;
        for (int i = 0; i < kRequests; ++i)
            burst += policy_request(i % 3 ? "alice@example.com" : "blocked@example.com");
        c.send(burst);
    });
    std::this_thread::sleep_for(300ms);  // let the answers pile up first
    int right = 0;
    for (int i = 0; i < kRequests; ++i) right += c.answer() == (i % 3 ? "DUNNO" : "550 5.7.1 no authority");
    sender.join();
    BOOST_TEST(right == kRequests);
}

// Issue 16: a busy connection reads into a buffer of its own (no epoll_ctl per request); once quiet it
// gives the buffer back, waits the idle way again, and still answers what comes next.
BOOST_AUTO_TEST_CASE(busy_connection_keeps_a_read_buffer_only_while_busy) {
    Fixture f;
    Client c(f.path);
    BOOST_REQUIRE(c.connected());
    c.send(policy_request("alice@example.com"));
    BOOST_TEST(c.answer() == "DUNNO");
    BOOST_TEST(f.server->read_buffers_held() == 0u);  // one request is not busy yet
    // Lock-step requests well under a second apart make it busy (bounded: any machine answers one of 50
    // requests within a second of the previous one).
    for (int i = 0; i < 50 && f.server->read_buffers_held() == 0; ++i) {
        c.send(policy_request(i % 2 ? "alice@example.com" : "blocked@example.com"));
        BOOST_TEST(c.answer() == (i % 2 ? "DUNNO" : "550 5.7.1 no authority"));
    }
    BOOST_TEST(f.server->read_buffers_held() == 1u);
    // Quiet: the sweep (once a second with these settings) takes the buffer back.
    for (int i = 0; i < 100 && f.server->read_buffers_held() != 0; ++i) std::this_thread::sleep_for(100ms);
    BOOST_TEST(f.server->read_buffers_held() == 0u);
    c.send(policy_request("blocked@example.com"));
    BOOST_TEST(c.answer() == "550 5.7.1 no authority");
    c.send(policy_request("alice@example.com"));
    BOOST_TEST(c.answer() == "DUNNO");
}

BOOST_AUTO_TEST_CASE(idle_connections_time_out) {
    ServerSettings s;
    s.idle_timeout = 200ms;
    Fixture f(s);
    Client c(f.path);
    c.send(policy_request("alice@example.com"));
    BOOST_TEST(c.answer() == "DUNNO");
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(c.answer() == "CLOSED");
    BOOST_TEST((std::chrono::steady_clock::now() - start < 4s));
}

// Issue 13 item 5: every byte reset the idle timer, so a client dribbling one byte at a time held a
// connection without limit. The request deadline counts from its first byte.
BOOST_AUTO_TEST_CASE(dribbling_client_is_disconnected_at_the_request_deadline) {
    ServerSettings s;
    s.idle_timeout = 3s;
    s.request_timeout = 1s;
    Fixture f(s);
    Client c(f.path);
    std::atomic<bool> closed{false};
    const auto start = std::chrono::steady_clock::now();
    std::thread dribbler([&] {
        const std::string partial = "request=smtpd_access_policy\nsender=" + std::string(40, 'x');
        for (char byte : partial) {  // one byte every 200 ms: never idle, never complete (8 s at most)
            if (closed) return;
            c.send(std::string(1, byte));
            std::this_thread::sleep_for(200ms);
        }
    });
    const std::string got = c.answer();  // gives up after 5 s without a byte from the server
    const auto elapsed = std::chrono::steady_clock::now() - start;
    closed = true;
    dribbler.join();
    BOOST_TEST(got == "CLOSED");
    BOOST_CHECK_MESSAGE(elapsed >= 1s && elapsed < 3s,
                        "closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                        << " ms, want after the 1 s deadline and before the 3 s idle timeout");
}

// The deadline belongs to a request, not to the connection: a kept-alive connection that waits between
// complete requests longer than request_timeout is still served.
BOOST_AUTO_TEST_CASE(request_deadline_restarts_with_each_request) {
    ServerSettings s;
    s.idle_timeout = 10s;
    s.request_timeout = 300ms;
    Fixture f(s);
    Client c(f.path);
    for (int i = 0; i < 3; ++i) {
        c.send(policy_request("alice@example.com"));
        BOOST_TEST(c.answer() == "DUNNO");
        std::this_thread::sleep_for(500ms);  // idle between requests, longer than request_timeout
    }
    const std::string r = policy_request("alice@example.com");
    c.send(r.substr(0, 20));  // a request in two parts, well within its deadline
    std::this_thread::sleep_for(100ms);
    c.send(r.substr(20));
    BOOST_TEST(c.answer() == "DUNNO");
}

// Issue 13 item 3: the cap follows the descriptor limit.
BOOST_AUTO_TEST_CASE(connection_cap_table) {
    struct Case {
        std::size_t max_connections;
        std::uint64_t limit;
        std::size_t reserve;
        std::size_t want;
    } const cases[] = {
        {10000, 1024, 60, 964},      // a login default lowers the configured cap
        {10000, 1048576, 60, 10000}, // plenty: as configured
        {10000, 64, 60, 4},
        {10000, 60, 60, 1},          // nothing left: one, never zero (start-up still works)
        {10000, 10, 60, 1},
        {100, 1024, 60, 100},
        {10000, UINT64_MAX, 60, 10000},  // unlimited
    };
    for (const auto& c : cases) {
        const std::size_t got = Server::connection_cap(c.max_connections, c.limit, c.reserve);
        BOOST_CHECK_MESSAGE(got == c.want, "max_connections " << c.max_connections << ", limit " << c.limit
                                                               << ", reserve " << c.reserve << ": got " << got
                                                               << ", want " << c.want);
    }
    BOOST_TEST(Server::descriptor_reserve(1, 2, 32) > 32u + 2u + 1u);  // workers' database connections and more
}

// [policyd] threads = auto: half the CPUs the process may run on, at least 1. The affinity of this
// thread is narrowed (sched_getaffinity(0) reads the calling thread's), as a cpuset or systemd's
// CPUAffinity= would, and put back.
BOOST_AUTO_TEST_CASE(io_threads_auto_is_half_the_cpus_we_may_run_on) {
    BOOST_TEST(Server::io_threads_for(3) == 3u);  // a configured number stays
    cpu_set_t all;
    CPU_ZERO(&all);
    BOOST_REQUIRE(::sched_getaffinity(0, sizeof all, &all) == 0);
    const int cpus = CPU_COUNT(&all);
    BOOST_TEST(Server::io_threads_for(0) == static_cast<unsigned>(std::max(1, cpus / 2)));
    // Narrowed to 1, 2, 3, ... of the CPUs we have.
    cpu_set_t some;
    CPU_ZERO(&some);
    int allowed = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && allowed < cpus; ++cpu) {
        if (!CPU_ISSET(cpu, &all)) continue;
        CPU_SET(cpu, &some);
        ++allowed;
        BOOST_REQUIRE(::sched_setaffinity(0, sizeof some, &some) == 0);
        BOOST_TEST(Server::io_threads_for(0) == static_cast<unsigned>(std::max(1, allowed / 2)),
                   allowed << " CPUs allowed");
    }
    BOOST_REQUIRE(::sched_setaffinity(0, sizeof all, &all) == 0);
    BOOST_TEST(Server::io_threads_for(1) == 1u);
}

namespace {

int highest_open_descriptor() {
    int highest = 2;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (const dirent* e = ::readdir(d)) highest = std::max(highest, std::atoi(e->d_name));
        ::closedir(d);
    }
    return highest;
}

}  // namespace

// Issue 13 item 3: when accept() failed with "too many open files" the server logged, slept 100 ms and
// tried again, and the client waited for an answer that never came. Now it is refused at once (the
// spare descriptor accepts and closes it). The descriptor limit is lowered under a running server;
// the clients live in a child process, which keeps the usual limit.
BOOST_AUTO_TEST_CASE(clients_beyond_the_descriptor_limit_are_refused_not_left_hanging) {
    Fixture f;
    rlimit saved{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int report[2];
    BOOST_REQUIRE(::pipe(report) == 0);
    // Fill the holes below the highest descriptor, then leave room above it for three clients only.
    const int highest = highest_open_descriptor();
    std::vector<int> fillers;
    for (int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC); fd >= 0 && fd < highest; fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC))
        fillers.push_back(fd);
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest_open_descriptor() + 4);
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::setrlimit(RLIMIT_NOFILE, &saved);
        int answered = 0, refused = 0, hanging = 0;
        std::vector<std::unique_ptr<Client>> clients;
        for (int i = 0; i < 12; ++i) {
            clients.push_back(std::make_unique<Client>(f.path));
            clients.back()->send(policy_request("alice@example.com"));
            const std::string got = clients.back()->answer();
            (got == "DUNNO" ? answered : got == "CLOSED" ? refused : hanging)++;
        }
        const std::string counts = std::to_string(answered) + " " + std::to_string(refused) + " " + std::to_string(hanging);
        (void)!::write(report[1], counts.data(), counts.size());
        ::_exit(0);
    }
    ::close(report[1]);
    char buf[64] = {};
    const ssize_t n = ::read(report[0], buf, sizeof buf - 1);
    ::close(report[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    for (int fd : fillers) ::close(fd);
    int answered = -1, refused = -1, hanging = -1;
    BOOST_REQUIRE(n > 0);
    std::sscanf(buf, "%d %d %d", &answered, &refused, &hanging);
    BOOST_CHECK_MESSAGE(hanging == 0 && refused > 0 && answered > 0,
                        "of 12 clients: " << answered << " answered, " << refused << " refused, " << hanging
                                          << " left without an answer; want some answered, the rest refused, none left");
    // descriptors back: a new client is served again
    Client again(f.path);
    again.send(policy_request("alice@example.com"));
    BOOST_TEST(again.answer() == "DUNNO");
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_are_closed) {
    ServerSettings s;
    s.max_connections = 2;
    Fixture f(s);
    Client a(f.path), b(f.path);
    a.send(policy_request("alice@example.com"));
    b.send(policy_request("alice@example.com"));
    BOOST_TEST(a.answer() == "DUNNO");
    BOOST_TEST(b.answer() == "DUNNO");
    Client c(f.path);
    c.send(policy_request("alice@example.com"));
    BOOST_TEST(c.answer() == "CLOSED");
    BOOST_TEST(f.server->connection_count() == 2u);
}

BOOST_AUTO_TEST_CASE(settings_can_change_while_running) {
    Fixture f;
    Client c(f.path);
    c.send(policy_request("alice@example.com"));
    BOOST_TEST(c.answer() == "DUNNO");
    ServerSettings tight;
    tight.parse.max_attributes = 2;
    f.server->update_settings(tight);
    c.send(policy_request("alice@example.com"));  // 6 attributes
    BOOST_TEST(c.answer() == "CLOSED");
}

BOOST_AUTO_TEST_CASE(many_connections_at_once) {
    Fixture f;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<Client>(f.path));
    for (auto& c : clients) c->send(policy_request("blocked@example.com"));
    int answered = 0;
    for (auto& c : clients) answered += c->answer() == "550 5.7.1 no authority";
    BOOST_TEST(answered == 200);
}

BOOST_AUTO_TEST_SUITE_END()
