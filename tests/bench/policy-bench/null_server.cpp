// policy-bench --null-server: the physical-limit reference. Answers "action=DUNNO" to every request
// (a request ends at an empty line) without looking at it: what remains is the cost of the sockets, the
// kernel and the client, which no real policy server can beat on the same machine.
//
// --threads epoll loops share one listening socket (EPOLLEXCLUSIVE wakes one of them per connection);
// every connection stays on the loop that accepted it. SIGTERM / SIGINT stop it.
#include "tests/bench/policy-bench/null_server.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tests/bench/policy-bench/net.hpp"

namespace relay::bench {

namespace {

constexpr char kAnswer[] = "action=DUNNO\n\n";
constexpr std::size_t kAnswerLen = sizeof(kAnswer) - 1;

struct NullConn {
    int fd = -1;
    bool last_newline = false;  // the previous chunk ended with '\n' (an empty line may span two reads)
    bool want_out = false;      // EPOLLOUT is registered (only while answers are pending)
    std::string pending;        // answers the socket did not take yet
};

class NullLoop {
public:
    NullLoop(int listen_fd, int stop_fd) : listen_fd_(listen_fd), stop_fd_(stop_fd) {
        epfd_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.fd = listen_fd_;
        epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);
        epoll_event sv{};
        sv.events = EPOLLIN;
        sv.data.fd = stop_fd_;
        epoll_ctl(epfd_, EPOLL_CTL_ADD, stop_fd_, &sv);
    }
    ~NullLoop() {
        for (auto& [fd, c] : conns_) close(fd);
        close(epfd_);
    }

    void run() {
        std::vector<epoll_event> events(512);
        while (true) {
            const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
            if (n < 0 && errno != EINTR) return;
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == stop_fd_) return;
                if (fd == listen_fd_) {
                    accept_all();
                } else {
                    serve(fd, events[i].events);
                }
            }
        }
    }

private:
    void accept_all() {
        while (true) {
            const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN (another loop took it) or a transient error: wait for the next wake-up
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.fd = fd;
            epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
            conns_[fd].fd = fd;
        }
    }

    void drop(int fd) {
        close(fd);
        conns_.erase(fd);
    }

    void serve(int fd, std::uint32_t events) {
        auto it = conns_.find(fd);
        if (it == conns_.end()) return;
        NullConn& c = it->second;
        if ((events & EPOLLOUT) && !c.pending.empty() && !flush(c)) return drop(fd);
        if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
        std::size_t complete = 0;
        while (true) {
            const ssize_t n = read(fd, buf_, sizeof(buf_));
            if (n == 0) return drop(fd);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return drop(fd);
            }
            complete += count_requests(c, buf_, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof(buf_)) break;
        }
        for (std::size_t i = 0; i < complete; ++i) c.pending.append(kAnswer, kAnswerLen);
        if (!c.pending.empty() && !flush(c)) drop(fd);
    }

    // Number of empty lines ("\n\n") in the chunk, counting one that straddles the previous chunk.
    static std::size_t count_requests(NullConn& c, const char* p, std::size_t n) {
        std::size_t count = 0;
        const char* end = p + n;
        const char* start = p;
        while (p < end) {
            const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (!nl) break;
            if (nl == start ? c.last_newline : nl[-1] == '\n') ++count;
            p = nl + 1;
        }
        c.last_newline = end[-1] == '\n';
        return count;
    }

    // Writes what is pending; asks for EPOLLOUT while something remains. False on a broken connection.
    bool flush(NullConn& c) {
        const long n = write_some(c.fd, c.pending.data(), c.pending.size());
        if (n < 0) return false;
        c.pending.erase(0, static_cast<std::size_t>(n));
        // Only a full socket buffer needs EPOLLOUT; the usual answer goes out at once, with no epoll_ctl.
        if (c.want_out != !c.pending.empty()) {
            c.want_out = !c.pending.empty();
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP | (c.want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
            ev.data.fd = c.fd;
            epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
        }
        return true;
    }

    int listen_fd_;
    int stop_fd_;
    int epfd_ = -1;
    std::unordered_map<int, NullConn> conns_;
    char buf_[16384];
};

}  // namespace

int run_null_server(const Options& o) {
    const Endpoint ep = parse_endpoint(o.listen);
    raise_fd_limit();
    // Signals go to sigwait below, never to the loops.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const int listen_fd = listen_on(ep, 4096);
    const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    std::vector<std::unique_ptr<NullLoop>> loops;
    for (unsigned i = 0; i < o.threads; ++i) loops.push_back(std::make_unique<NullLoop>(listen_fd, stop_fd));
    std::vector<std::thread> threads;
    for (auto& l : loops) threads.emplace_back([&l] { l->run(); });
    std::cerr << "policy-bench: null server on " << ep.text << " (" << o.threads
              << " threads): action=DUNNO to every request" << std::endl;

    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
    }
    const std::uint64_t one = 1;
    if (write(stop_fd, &one, sizeof(one)) < 0) std::cerr << "policy-bench: cannot signal the loops" << std::endl;
    for (auto& t : threads) t.join();
    loops.clear();
    close(stop_fd);
    close(listen_fd);
    if (ep.is_unix) unlink(ep.path.c_str());
    std::cerr << "policy-bench: null server stopped" << std::endl;
    return 0;
}

}  // namespace relay::bench
