// The policy server: Boost.Asio with a small pool of I/O threads that parse, decide from the cached
// snapshot and answer, plus a separate pool of worker threads for requests whose decision may wait on
// the database (Policy::may_block), so a slow database never delays another connection's answer.
// Each connection is lock-step (one request, one answer), as Postfix uses it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "policyd/handler.hpp"
#include "policyd/listener.hpp"
#include "policyd/protocol.hpp"

namespace relay {

// What SIGHUP may change while connections are open.
struct ServerSettings {
    ParseLimits parse;
    std::chrono::milliseconds idle_timeout{330000};
    std::size_t max_connections = 10000;
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
    // Stops accepting, closes idle connections, lets requests already received be answered, and
    // returns when every connection is gone or grace has passed. Idempotent.
    void stop(std::chrono::milliseconds grace);

    void update_settings(const ServerSettings& settings);
    std::shared_ptr<const ServerSettings> settings() const;
    std::size_t connection_count() const;

private:
    friend class Connection;
    using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
    using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol, Strand>;
    struct Listener {
        std::unique_ptr<Acceptor> acceptor;
        std::string description;
    };

    void accept_next(Listener& listener);
    void on_accepted(std::shared_ptr<Connection> connection);
    void register_connection(const std::shared_ptr<Connection>& c);
    void unregister_connection(Connection* c);  // from ~Connection
    void warn_full();

    RequestHandler& handler_;
    // Declared before io_ so connections (destroyed with io_'s pending handlers) can still unregister.
    mutable std::mutex connections_mutex_;
    std::condition_variable connections_cv_;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;
    std::atomic<std::int64_t> last_full_warning_{0};
    std::atomic<bool> stopping_{false};
    std::shared_ptr<const ServerSettings> settings_;
    unsigned io_thread_count_;

    boost::asio::io_context io_;
    // Keeps the I/O threads running while a connection has no I/O pending (its decision is on a worker).
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    boost::asio::thread_pool workers_;
    std::vector<Listener> listeners_;
    std::vector<std::thread> threads_;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace relay
