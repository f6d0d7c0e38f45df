#include "tests/bench/policy-bench/client.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "tests/bench/policy-bench/answer.hpp"
#include "tests/bench/policy-bench/net.hpp"

namespace relay::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRetryDelay = std::chrono::milliseconds(100);
constexpr auto kHousekeeping = std::chrono::milliseconds(20);

// Everything the I/O threads share. Read-only after start, except the atomics.
struct Shared {
    Endpoint endpoint;
    GeneratorConfig generator;
    std::unique_ptr<MessageBudget> messages;
    std::uint64_t request_limit = 0;  // 0: none
    std::atomic<std::uint64_t> requests_issued{0};
    std::atomic<bool> stop{false};
    Clock::time_point measure_from;
    Clock::time_point deadline;
    Clock::duration timeout{};
    Clock::duration interval{};  // --rate: each connection sends at most one request per interval; 0: no pacing
};

enum class ConnState { backoff, connecting, pacing, writing, reading, done };

struct Conn {
    unsigned index = 0;
    int fd = -1;
    ConnState state = ConnState::backoff;
    std::uint32_t registered = 0;  // epoll events currently asked for
    std::unique_ptr<Conversation> conversation;
    const std::string* out = nullptr;
    std::size_t out_off = 0;
    const char* request_state = "";
    std::string in;
    Clock::time_point started;   // request sent / connect begun
    Clock::time_point retry_at;
    Clock::time_point next_send{};  // --rate: when this connection may send its next request
};

class Worker {
public:
    Worker(Shared& shared, std::vector<unsigned> indexes) : s_(shared) {
        epfd_ = epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) throw std::runtime_error("epoll_create1 failed");
        for (unsigned i : indexes) {
            auto c = std::make_unique<Conn>();
            c->index = i;
            c->conversation = make_conversation(s_.generator, i, *s_.messages);
            conns_.push_back(std::move(c));
        }
        active_ = conns_.size();
    }
    ~Worker() {
        for (auto& c : conns_)
            if (c->fd >= 0) close(c->fd);
        if (epfd_ >= 0) close(epfd_);
    }

    void run() {
        Clock::time_point now = Clock::now();
        for (auto& c : conns_) open(*c, now);
        epoll_event events[256];
        Clock::time_point next_housekeeping = now + kHousekeeping;
        while (!s_.stop.load(std::memory_order_relaxed) && now < s_.deadline && active_ > 0) {
            const auto wait = std::min({next_housekeeping, s_.deadline, next_pacing()}) - now;
            const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
            const int ms = wait_ms < 0 ? 0 : static_cast<int>(wait_ms) + (s_.interval.count() ? 0 : 1);
            const int n = epoll_wait(epfd_, events, 256, ms);
            now = Clock::now();
            for (int i = 0; i < n; ++i) handle(*static_cast<Conn*>(events[i].data.ptr), events[i].events, now);
            if (s_.interval.count()) release_paced(now);
            if (now >= next_housekeeping) {
                housekeeping(now);
                next_housekeeping = now + kHousekeeping;
            }
        }
    }

    RunStats stats;
    Clock::time_point last_completion{};

private:
    void set_events(Conn& c, std::uint32_t events) {
        if (c.registered == events) return;
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = &c;
        epoll_ctl(epfd_, c.registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
        c.registered = events;
    }

    void open(Conn& c, Clock::time_point now) {
        c.fd = start_connect(s_.endpoint);
        c.started = now;
        c.in.clear();
        if (c.fd < 0) {
            ++stats.errors.connect;
            c.state = ConnState::backoff;
            c.retry_at = now + kRetryDelay;
            return;
        }
        c.registered = 0;
        c.state = ConnState::connecting;
        set_events(c, EPOLLOUT);
    }

    void close_conn(Conn& c) {
        if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
        c.fd = -1;
        c.registered = 0;
    }

    void finish(Conn& c) {
        close_conn(c);
        c.state = ConnState::done;
        --active_;
    }

    void fail(Conn& c, std::uint64_t& counter, Clock::time_point now) {
        ++counter;
        close_conn(c);
        c.conversation->reset();
        c.state = ConnState::backoff;
        c.retry_at = now + kRetryDelay;
    }

    void handle(Conn& c, std::uint32_t ev, Clock::time_point now) {
        switch (c.state) {
            case ConnState::connecting: {
                if (connect_result(c.fd) != 0) return fail(c, stats.errors.connect, now);
                ++stats.connects;
                send_next(c, now);
                return;
            }
            case ConnState::writing:
                if (ev & (EPOLLERR | EPOLLHUP)) return fail(c, stats.errors.io, now);
                return continue_write(c, now);
            case ConnState::reading: return read_answer(c, now);
            case ConnState::backoff:
            case ConnState::pacing:
            case ConnState::done: return;
        }
    }

    void send_next(Conn& c, Clock::time_point now) {
        if (s_.stop.load(std::memory_order_relaxed) || now >= s_.deadline) return finish(c);
        if (s_.interval.count()) {
            // Fixed offered load: one request per interval per connection, on a schedule (not "interval
            // after the answer"), so a slow answer does not lower the load; a late one is sent at once.
            if (c.next_send == Clock::time_point{}) c.next_send = now + random_phase(c.index);
            if (now < c.next_send) {
                c.state = ConnState::pacing;
                return;
            }
            c.next_send = std::max(c.next_send + s_.interval, now - s_.interval);
        }
        if (s_.request_limit && s_.requests_issued.fetch_add(1, std::memory_order_relaxed) >= s_.request_limit)
            return finish(c);
        Outgoing out;
        if (!c.conversation->next(&out)) return finish(c);
        c.out = out.text;
        c.out_off = 0;
        c.request_state = out.state;
        c.started = now;
        continue_write(c, now);
    }

    void continue_write(Conn& c, Clock::time_point now) {
        const long n = write_some(c.fd, c.out->data() + c.out_off, c.out->size() - c.out_off);
        if (n < 0) return fail(c, stats.errors.io, now);
        c.out_off += static_cast<std::size_t>(n);
        if (c.out_off < c.out->size()) {
            c.state = ConnState::writing;
            set_events(c, EPOLLOUT);
            return;
        }
        c.state = ConnState::reading;
        set_events(c, EPOLLIN | EPOLLRDHUP);
    }

    void read_answer(Conn& c, Clock::time_point now) {
        char buf[4096];
        while (true) {
            const ssize_t n = read(c.fd, buf, sizeof(buf));
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                if (static_cast<std::size_t>(n) < sizeof(buf)) break;
                continue;
            }
            if (n == 0) return fail(c, stats.errors.closed, now);
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return fail(c, stats.errors.io, now);
        }
        std::size_t consumed = 0;
        switch (scan_answer(c.in, &action_, &consumed)) {
            case AnswerScan::need_more: return;
            case AnswerScan::malformed: return fail(c, stats.errors.protocol, now);
            case AnswerScan::complete: break;
        }
        // Lock-step: nothing may follow the answer we asked for.
        if (consumed != c.in.size()) return fail(c, stats.errors.protocol, now);
        c.in.clear();
        record(c, now);
        send_next(c, now);
    }

    void record(Conn& c, Clock::time_point now) {
        const Outcome outcome = classify_action(action_);
        MessageResult done;
        const bool finished_message = c.conversation->answered(outcome, &done);
        if (now < s_.measure_from || now > s_.deadline) return;
        const auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started).count());
        stats.all.record(ns);
        stats.state(c.request_state).record(ns);
        ++stats.actions[action_key(action_)];
        if (finished_message) stats.add_message(done);
        last_completion = now;
    }

    // Spreads the connections' first requests over one interval, so that they do not send in bursts.
    Clock::duration random_phase(unsigned index) const {
        const auto n = static_cast<std::uint64_t>(s_.interval.count());
        return Clock::duration(static_cast<Clock::rep>((index * 2654435761ULL) % (n ? n : 1)));
    }

    Clock::time_point next_pacing() const {
        Clock::time_point next = Clock::time_point::max();
        if (!s_.interval.count()) return next;
        for (const auto& c : conns_)
            if (c->state == ConnState::pacing) next = std::min(next, c->next_send);
        return next;
    }

    void release_paced(Clock::time_point now) {
        for (auto& c : conns_)
            if (c->state == ConnState::pacing && now >= c->next_send) send_next(*c, now);
    }

    void housekeeping(Clock::time_point now) {
        for (auto& cp : conns_) {
            Conn& c = *cp;
            switch (c.state) {
                case ConnState::backoff:
                    if (now >= c.retry_at) {
                        ++stats.reconnects;  // only a failure leads here
                        open(c, now);
                    }
                    break;
                case ConnState::connecting:
                    if (now - c.started > s_.timeout) fail(c, stats.errors.connect, now);
                    break;
                case ConnState::pacing: break;
                case ConnState::writing:
                case ConnState::reading:
                    if (now - c.started > s_.timeout) fail(c, stats.errors.timeout, now);
                    break;
                case ConnState::done: break;
            }
        }
    }

    Shared& s_;
    int epfd_ = -1;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::size_t active_ = 0;
    std::string action_;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Report run_client(const Options& o) {
    Shared s;
    s.endpoint = parse_endpoint(o.target);
    std::vector<FileRequest> file;
    if (o.mix == Mix::file) file = load_requests_file(o.requests_file);
    s.generator.mix = o.mix;
    s.generator.naming.per_domain = o.accounts_per_domain;
    s.generator.accounts = o.accounts;
    s.generator.account = o.account;
    s.generator.unauth_percent = o.unauth_percent;
    s.generator.foreign_percent = o.foreign_percent;
    s.generator.max_recipients = o.max_recipients;
    s.generator.seed = o.seed;
    s.generator.file = &file;
    s.messages = std::make_unique<MessageBudget>(o.messages);
    s.request_limit = o.requests;
    s.timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout));
    if (o.rate > 0)
        s.interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.connections / o.rate));

    Report report;
    report.fd_limit = raise_fd_limit();
    const unsigned threads = std::min(o.threads, o.connections);
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned t = 0; t < threads; ++t) {
        std::vector<unsigned> mine;
        for (unsigned i = t; i < o.connections; i += threads) mine.push_back(i);
        workers.push_back(std::make_unique<Worker>(s, std::move(mine)));
    }
    const auto t0 = Clock::now();
    s.measure_from = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
    s.deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w] { w->run(); });
    for (auto& t : running) t.join();

    Clock::time_point last{};
    for (auto& w : workers) {
        report.stats.merge(w->stats);
        last = std::max(last, w->last_completion);
    }
    // A run bounded by --requests / --messages ends with its last answer; a timed run at the deadline.
    const bool bounded = o.requests || o.messages;
    const auto end = bounded && last > s.measure_from ? std::min(last, s.deadline) : s.deadline;
    report.measured_s = std::max(0.0, seconds(end - s.measure_from));
    report.target = s.endpoint.text;
    report.mix = to_string(o.mix);
    report.connections = o.connections;
    report.threads = threads;
    report.accounts = o.accounts;
    report.warmup_s = o.warmup;
    report.rate = o.rate;
    return report;
}

}  // namespace relay::bench
