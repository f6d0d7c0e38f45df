// policy-bench --idle N: can the server hold N connections that do nothing (Postfix keeps one per smtpd
// process, most of them idle most of the time)? Opens them, asks one question on each, keeps them open
// and silent for --hold seconds, then asks once more on each.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "tests/bench/policy-bench/answer.hpp"
#include "tests/bench/policy-bench/client.hpp"
#include "tests/bench/policy-bench/net.hpp"
#include "tests/bench/policy-bench/report.hpp"

namespace relay::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPhaseTimeout = std::chrono::seconds(60);

enum class IdleState { connecting, waiting, idle, failed };

struct IdleConn {
    int fd = -1;
    IdleState state = IdleState::connecting;
    std::string out;
    std::size_t off = 0;
    std::string in;
};

struct IdleResult {
    unsigned asked = 0;
    unsigned connected = 0;
    unsigned answered_first = 0;
    unsigned closed_during_hold = 0;
    unsigned answered_after_hold = 0;
    unsigned errors = 0;
    double open_seconds = 0;
    double hold_seconds = 0;
    long fd_limit = 0;
};

class IdleRun {
public:
    IdleRun(const Options& o) : o_(o), ep_(parse_endpoint(o.target)) {
        naming_.per_domain = o.accounts_per_domain;
        epfd_ = epoll_create1(EPOLL_CLOEXEC);
    }
    ~IdleRun() {
        for (auto& c : conns_)
            if (c.fd >= 0) close(c.fd);
        if (epfd_ >= 0) close(epfd_);
    }

    IdleResult run() {
        r_.asked = o_.idle;
        r_.fd_limit = raise_fd_limit();
        const auto t0 = Clock::now();
        conns_.resize(o_.idle);
        for (unsigned i = 0; i < o_.idle; ++i) open(i);
        r_.answered_first = exchange_round();
        r_.open_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        std::cerr << "policy-bench: holding " << r_.answered_first << " idle connections for " << o_.hold << " s"
                  << std::endl;
        hold();
        for (unsigned i = 0; i < conns_.size(); ++i)
            if (conns_[i].state == IdleState::idle) ask(i, o_.idle + i);
        r_.answered_after_hold = exchange_round();
        return r_;
    }

private:
    void watch(unsigned i, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u32 = i;
        epoll_ctl(epfd_, op, conns_[i].fd, &ev);
    }

    void fail(unsigned i) {
        IdleConn& c = conns_[i];
        if (c.fd >= 0) close(c.fd);
        c.fd = -1;
        c.state = IdleState::failed;
        ++r_.errors;
    }

    void open(unsigned i) {
        IdleConn& c = conns_[i];
        c.fd = start_connect(ep_);
        if (c.fd < 0) return fail(i);
        c.state = IdleState::connecting;
        watch(i, EPOLLOUT, EPOLL_CTL_ADD);
        ask(i, i);
    }

    // Queues one request; it is written as soon as the socket is writable.
    void ask(unsigned i, std::uint64_t serial) {
        IdleConn& c = conns_[i];
        c.out = single_rcpt_request(naming_, static_cast<std::uint32_t>(serial % o_.accounts), serial);
        c.off = 0;
        c.in.clear();
        if (c.state == IdleState::idle) {
            c.state = IdleState::waiting;
            watch(i, EPOLLOUT | EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        }
    }

    void on_event(unsigned i, std::uint32_t ev, unsigned* answered) {
        IdleConn& c = conns_[i];
        if (c.state == IdleState::connecting) {
            if (connect_result(c.fd) != 0) return fail(i);
            ++r_.connected;
            c.state = IdleState::waiting;
            watch(i, EPOLLOUT | EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        }
        if (c.state != IdleState::waiting) return;
        if ((ev & EPOLLOUT) && c.off < c.out.size()) {
            const long n = write_some(c.fd, c.out.data() + c.off, c.out.size() - c.off);
            if (n < 0) return fail(i);
            c.off += static_cast<std::size_t>(n);
            if (c.off == c.out.size()) watch(i, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        }
        if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
        char buf[1024];
        const ssize_t n = read(c.fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) return fail(i);
        c.in.append(buf, static_cast<std::size_t>(n));
        std::string action;
        std::size_t consumed = 0;
        switch (scan_answer(c.in, &action, &consumed)) {
            case AnswerScan::need_more: return;
            case AnswerScan::malformed: return fail(i);
            case AnswerScan::complete: break;
        }
        c.state = IdleState::idle;
        ++*answered;
    }

    // Runs until every connection is idle again or failed, or a minute passed.
    unsigned exchange_round() {
        unsigned answered = 0;
        const auto until = Clock::now() + kPhaseTimeout;
        std::vector<epoll_event> events(1024);
        while (Clock::now() < until) {
            bool pending = false;
            for (const auto& c : conns_) pending = pending || c.state == IdleState::connecting || c.state == IdleState::waiting;
            if (!pending) break;
            const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 100);
            for (int k = 0; k < n; ++k) on_event(events[k].data.u32, events[k].events, &answered);
        }
        for (unsigned i = 0; i < conns_.size(); ++i)
            if (conns_[i].state == IdleState::connecting || conns_[i].state == IdleState::waiting) fail(i);
        return answered;
    }

    // Silence: any event now means the server closed the connection (or sent something unasked).
    void hold() {
        const auto t0 = Clock::now();
        const auto until = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.hold));
        std::vector<epoll_event> events(1024);
        for (auto now = t0; now < until; now = Clock::now()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
            const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), static_cast<int>(left) + 1);
            for (int k = 0; k < n; ++k) {
                const unsigned i = events[k].data.u32;
                if (conns_[i].state != IdleState::idle) continue;
                ++r_.closed_during_hold;
                fail(i);
            }
        }
        r_.hold_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }

    const Options& o_;
    Endpoint ep_;
    AccountNaming naming_;
    int epfd_ = -1;
    std::vector<IdleConn> conns_;
    IdleResult r_;
};

void print(const Options& o, const IdleResult& r) {
    if (o.json) {
        std::printf(
            "{\"mode\":\"idle\",\"target\":%s,\"connections\":%u,\"connected\":%u,\"answered_first\":%u,"
            "\"closed_during_hold\":%u,\"answered_after_hold\":%u,\"errors\":%u,\"open_seconds\":%.3f,"
            "\"hold_seconds\":%.3f,\"fd_limit\":%ld}\n",
            json_string(o.target).c_str(), r.asked, r.connected, r.answered_first, r.closed_during_hold, r.answered_after_hold,
            r.errors, r.open_seconds, r.hold_seconds, r.fd_limit);
        return;
    }
    std::printf("target              %s\n", o.target.c_str());
    std::printf("connections asked   %u (fd limit %ld)\n", r.asked, r.fd_limit);
    std::printf("connected           %u\n", r.connected);
    std::printf("answered at start   %u (%.2f s to open and ask)\n", r.answered_first, r.open_seconds);
    std::printf("closed while idle   %u (held %.1f s)\n", r.closed_during_hold, r.hold_seconds);
    std::printf("answered after hold %u\n", r.answered_after_hold);
    std::printf("errors              %u\n", r.errors);
}

}  // namespace

int run_idle(const Options& o) {
    IdleRun run(o);
    const IdleResult r = run.run();
    print(o, r);
    return r.answered_after_hold == o.idle ? 0 : 1;
}

}  // namespace relay::bench
