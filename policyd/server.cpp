#include "policyd/server.hpp"

#include <algorithm>
#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include "core/log.hpp"
#include "policyd/connection.hpp"

namespace relay {

namespace asio = boost::asio;

namespace {

std::string describe_peer(const asio::generic::stream_protocol::endpoint& endpoint) {
    const sockaddr* sa = endpoint.data();
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return "local client";
    char host[NI_MAXHOST] = "?";
    char port[NI_MAXSERV] = "?";
    getnameinfo(sa, static_cast<socklen_t>(endpoint.size()), host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    return sa->sa_family == AF_INET6 ? "[" + std::string(host) + "]:" + port : std::string(host) + ":" + port;
}

// How often the idle sweep runs: a quarter of the timeout, between 10 ms and 1 s. The default timeout
// (330 s) thus closes an idle connection within a second of it; no connection re-arms a timer per request.
std::chrono::milliseconds sweep_interval(std::chrono::milliseconds idle_timeout) {
    return std::clamp(idle_timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

}  // namespace

Server::Server(RequestHandler& handler, ServerSettings settings, unsigned io_threads, unsigned workers)
    : handler_(handler),
      settings_(std::make_shared<const ServerSettings>(settings)),
      io_thread_count_(io_threads == 0 ? 1 : io_threads),
      workers_(workers == 0 ? 1 : workers) {
    loop_ = std::make_unique<Loop>(io_thread_count_);
}

Server::~Server() {
    stop(std::chrono::milliseconds(0));
    // The acceptors and the sweep timer use the loop: destroy them first, then the loop (its pending
    // handlers release the last connections).
    sweep_timer_.reset();
    listeners_.clear();
    loop_.reset();
}

void Server::add_listener(BoundSocket& socket) {
    Listener l;
    l.acceptor = std::make_unique<Acceptor>(asio::make_strand(loop_->io));
    const int protocol = socket.family == AF_UNIX ? 0 : IPPROTO_TCP;
    l.acceptor->assign(asio::generic::stream_protocol(socket.family, protocol), socket.fd);
    socket.fd = -1;
    l.description = std::make_shared<const std::string>(socket.family == AF_UNIX ? socket.description
                                                                                 : "inet:" + socket.description);
    listeners_.push_back(std::move(l));
}

void Server::start() {
    if (started_) return;
    started_ = true;
    for (auto& l : listeners_) {
        Listener* listener = &l;
        asio::post(l.acceptor->get_executor(), [this, listener] { accept_next(*listener); });
    }
    sweep_timer_ = std::make_unique<asio::steady_timer>(asio::make_strand(loop_->io));
    asio::post(sweep_timer_->get_executor(), [this] { schedule_sweep(); });
    for (unsigned i = 0; i < io_thread_count_; ++i) {
        asio::io_context* io = &loop_->io;
        threads_.emplace_back([io] { io->run(); });
    }
}

void Server::accept_next(Listener& listener) {
    if (stopping_ || !listener.acceptor->is_open()) return;
    auto connection = std::make_shared<Connection>(*this, asio::make_strand(loop_->io), listener.description);
    listener.acceptor->async_accept(connection->socket(), [this, &listener, connection](const boost::system::error_code& ec) {
        if (ec) {
            if (ec == asio::error::operation_aborted || stopping_) return;
            // EMFILE and friends: log, pause briefly by re-posting, never spin
            log_warning("accept on " + *listener.description + " failed: " + ec.message());
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } else {
            on_accepted(connection);
        }
        accept_next(listener);
    });
}

void Server::on_accepted(std::shared_ptr<Connection> connection) {
    const auto limits = settings();
    if (connection_count() >= limits->max_connections) {
        warn_full();
        boost::system::error_code ignored;
        connection->socket().close(ignored);
        return;
    }
    boost::system::error_code ec;
    const auto peer = connection->socket().remote_endpoint(ec);
    std::string who = ec ? std::string("unknown peer") : describe_peer(peer);
    register_connection(connection);
    asio::post(connection->socket().get_executor(), [connection, who = std::move(who)]() mutable {
        connection->start(std::move(who));
    });
}

void Server::warn_full() {
    // at most one warning a minute: a full server must not also flood the log
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    auto last = last_full_warning_.load();
    if (now - last >= 60 && last_full_warning_.compare_exchange_strong(last, now))
        log_warning("refusing connections: max_connections (" + std::to_string(settings()->max_connections) +
                    ") reached");
}

void Server::register_connection(const std::shared_ptr<Connection>& c) {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    connections_.emplace(c.get(), c);
}

void Server::unregister_connection(Connection* c) {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    connections_.erase(c);
    connections_cv_.notify_all();
}

std::size_t Server::connection_count() const {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    return connections_.size();
}

void Server::update_settings(const ServerSettings& settings) {
    std::atomic_store(&settings_, std::make_shared<const ServerSettings>(settings));
    settings_generation_.fetch_add(1, std::memory_order_acq_rel);  // connections re-read on their next request
}

std::shared_ptr<const ServerSettings> Server::settings() const {
    return std::atomic_load(&settings_);
}

// On the sweep timer's strand. The interval follows the idle timeout, which SIGHUP may change.
void Server::schedule_sweep() {
    if (stopping_) return;
    sweep_timer_->expires_after(sweep_interval(settings()->idle_timeout));
    sweep_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        sweep_idle();
        schedule_sweep();
    });
}

// Finds connections with no activity for idle_timeout; each closes itself on its own strand (where it
// checks again: it may have become active since).
void Server::sweep_idle() {
    const std::int64_t timeout = settings()->idle_timeout.count();
    const std::int64_t now = Connection::now_ms();
    std::vector<std::shared_ptr<Connection>> idle;
    {
        // ~Connection unregisters under this lock first thing, so every connection listed here is alive
        // while we look at it.
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (auto& entry : connections_) {
            if (now - entry.first->last_active_ms() < timeout) continue;
            if (auto c = entry.second.lock()) idle.push_back(std::move(c));
        }
    }
    for (auto& c : idle) {
        const Executor ex = c->socket().get_executor();
        asio::post(ex, [c = std::move(c), now, timeout] { c->close_if_idle(now, timeout); });
    }
}

void Server::stop(std::chrono::milliseconds grace) {
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    for (auto& l : listeners_) {
        Acceptor* acceptor = l.acceptor.get();
        asio::post(acceptor->get_executor(), [acceptor] {
            boost::system::error_code ignored;
            acceptor->close(ignored);
        });
    }
    if (sweep_timer_) {
        asio::steady_timer* timer = sweep_timer_.get();
        asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    }
    // Collected under the lock, posted and released outside it: dropping what may be the last
    // reference runs ~Connection, which takes the same lock.
    std::vector<std::shared_ptr<Connection>> open;
    {
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (auto& entry : connections_) {
            if (auto c = entry.second.lock()) open.push_back(std::move(c));
        }
    }
    for (auto& c : open) {
        const Executor ex = c->socket().get_executor();
        asio::post(ex, [c] { c->shutdown(); });
    }
    open.clear();
    if (started_) {
        std::unique_lock<std::mutex> lock(connections_mutex_);
        connections_cv_.wait_for(lock, grace, [this] { return connections_.empty(); });
        if (!connections_.empty())
            log_warning(std::to_string(connections_.size()) + " connection(s) still busy at shutdown; closing them");
    }
    workers_.join();
    loop_->work.reset();
    loop_->io.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

}  // namespace relay
