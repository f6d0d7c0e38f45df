// The policy server: Boost.Asio with a small pool of I/O threads that parse, decide from the cached
// snapshot and answer, plus a separate pool of worker threads for requests whose decision may wait on
// the database (a rate-limit charge: Policy::evaluate_without_waiting says which), so a slow database never
// delays another connection's answer, and a decision on a worker is answered within charge_timeout.
// Everything that touches one connection's socket runs on that connection's strand, one thing at a
// time (only the decision may leave it, to a worker, and comes back to it with the answer); any free
// I/O thread runs the next ready connection. (One event loop per thread, without strands, cost the same
// CPU but doubled p99 latency on a busy machine: a descheduled thread held up all of its connections.)
// Each connection is lock-step (one request, one answer), as Postfix uses it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "policyd/handler.hpp"
#include "policyd/listener.hpp"
#include "policyd/protocol.hpp"

namespace relay::policyd {

// What SIGHUP may change while connections are open.
struct ServerSettings {
    ParseLimits parse;
    std::chrono::milliseconds idle_timeout{330000};
    // A request must be complete this long after its first byte ([policyd] request_timeout): a client
    // that dribbles bytes resets the idle time but not this.
    std::chrono::milliseconds request_timeout{10000};
    std::size_t max_connections = 10000;  // as configured; see Server::connection_cap
    // [rate_limits] charge_timeout: a decision sent to a worker is answered by then, with a temporary
    // failure if the worker has not decided (a hung database must not hold Postfix past its own timeout).
    std::chrono::milliseconds charge_timeout{5000};
};

class Connection;

class Server {
public:
    Server(RequestHandler& handler, ServerSettings settings, unsigned io_threads, unsigned workers);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Adopts a bound, listening socket (the descriptor now belongs to the server: socket.fd becomes -1).
    void add_listener(BoundSocket& socket);
    void start();
    // Stops accepting, closes idle connections, answers every request already received (also one that
    // reached a connection's socket just before it would have gone idle), and returns when every
    // connection is gone or grace has passed. Idempotent.
    void stop(std::chrono::milliseconds grace);

    void update_settings(const ServerSettings& settings);
    std::shared_ptr<const ServerSettings> settings() const;
    std::size_t connection_count() const;
    // Connections holding a read buffer of their own (busy ones; see connection.hpp): tests, diagnostics.
    std::size_t read_buffers_held() const;

    // The I/O threads for [policyd] threads: the configured number, or for 0 (auto) half the CPUs this
    // process may run on (sched_getaffinity: a cpuset or systemd's CPUAffinity counts), at least 1, at
    // most 64. Why half: the same host runs Postfix's smtpd processes, which send the requests, and often
    // the database; an I/O thread that finds no CPU free only adds hand-offs (docs/performance.md,
    // "Issue 16: the RCPT path").
    static unsigned io_threads_for(unsigned configured);
    unsigned io_threads() const { return io_thread_count_; }

    // Descriptors kept free for everything but client connections: listeners, database connections
    // (one per worker, plus the cache, event and rate-limit threads), logs, the event loop, the spare
    // descriptor for refusing clients, and a margin.
    static std::size_t descriptor_reserve(std::size_t listeners, unsigned io_threads, unsigned workers);
    // The connections that fit: max_connections, lowered to the descriptor limit less the reserve (at
    // least 1).
    static std::size_t connection_cap(std::size_t max_connections, std::uint64_t descriptor_limit, std::size_t reserve);
    // connection_cap() for the current settings and the descriptor limit read at start().
    std::size_t effective_max_connections() const;

private:
    friend class Connection;
    using Executor = boost::asio::strand<boost::asio::io_context::executor_type>;
    using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol, Executor>;
    struct Listener {
        std::unique_ptr<Acceptor> acceptor;
        std::unique_ptr<boost::asio::steady_timer> pause;  // accepting paused when no descriptor is left
        std::shared_ptr<const std::string> description;  // shared with its connections' log lines
    };
    // The event loop, run by every I/O thread.
    struct Loop {
        explicit Loop(unsigned threads) : io(static_cast<int>(threads)) {}
        boost::asio::io_context io;
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    };

    void accept_next(Listener& listener);
    void on_accepted(std::shared_ptr<Connection> connection);
    void register_connection(const std::shared_ptr<Connection>& c);
    void unregister_connection(Connection* c);  // from ~Connection
    void warn_full();
    void on_accept_error(Listener& listener, const boost::system::error_code& ec);
    bool refuse_one(Listener& listener);
    void pause_accepting(Listener& listener);
    void open_spare();
    void warn_capped(std::size_t configured) const;
    void schedule_sweep();
    void sweep_idle();
    // The settings as a connection caches them: re-read only when update_settings() ran since.
    std::uint64_t settings_generation() const { return settings_generation_.load(std::memory_order_acquire); }

    RequestHandler& handler_;
    // Declared before the loops so connections (destroyed with a loop's pending handlers) can still
    // unregister.
    mutable std::mutex connections_mutex_;
    std::condition_variable connections_cv_;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;
    std::atomic<std::int64_t> last_full_warning_{0};
    std::atomic<std::int64_t> last_accept_warning_{0};
    std::atomic<std::uint64_t> refused_without_descriptor_{0};  // since the last warning
    // Closed to accept-and-close one client when descriptors run out (EMFILE/ENFILE), then reopened.
    std::atomic<int> spare_fd_{-1};
    std::size_t descriptor_cap_ = SIZE_MAX;  // set in start()
    unsigned worker_count_;
    std::atomic<bool> stopping_{false};
    std::shared_ptr<const ServerSettings> settings_;
    std::atomic<std::uint64_t> settings_generation_{1};
    unsigned io_thread_count_;

    // Held by pointer so ~Server can destroy it explicitly after the acceptors and the sweep timer.
    std::unique_ptr<Loop> loop_;
    boost::asio::thread_pool workers_;
    std::unique_ptr<boost::asio::steady_timer> sweep_timer_;
    std::vector<Listener> listeners_;
    std::vector<std::thread> threads_;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace relay::policyd
