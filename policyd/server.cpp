#include "policyd/server.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "core/metrics/metrics.hpp"
#include "core/base/log.hpp"
#include "core/base/process.hpp"
#include "policyd/connection.hpp"

namespace relay::policyd {

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

// How often the sweep runs: a quarter of the shorter timeout, between 10 ms and 1 s. The defaults
// (idle 330 s, request 10 s) thus close a connection within a second of its deadline; no connection
// re-arms a timer per request.
std::chrono::milliseconds sweep_interval(const ServerSettings& s) {
    return std::clamp(std::min(s.idle_timeout, s.request_timeout) / 4, std::chrono::milliseconds(10),
                      std::chrono::milliseconds(1000));
}

// How long accepting pauses when no descriptor is left even to refuse a client: short, so new clients
// wait little once one closes; not zero, so the loop never spins. Existing connections are served
// meanwhile (a timer, not a sleep).
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// At most one warning a minute for `last` (seconds on the steady clock): a full server must not also
// flood the log.
bool once_a_minute(std::atomic<std::int64_t>& last) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    auto seen = last.load();
    return now - seen >= 60 && last.compare_exchange_strong(seen, now);
}

bool out_of_descriptors(const boost::system::error_code& ec) {
    return ec == boost::system::errc::too_many_files_open || ec == boost::system::errc::too_many_files_open_in_system;
}

}  // namespace

unsigned Server::io_threads_for(unsigned configured) {
    if (configured > 0) return configured;
    cpu_set_t set;
    CPU_ZERO(&set);
    long cpus = 0;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus <= 0) cpus = static_cast<long>(std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::clamp<long>(cpus / 2, 1, 64));
}

std::size_t Server::descriptor_reserve(std::size_t listeners, unsigned io_threads, unsigned workers) {
    // 16: standard descriptors, syslog, the event loop's epoll/eventfd/timerfd, pid file, configuration
    // re-read, name lookups, the spare, metrics; 4: the cache, event writer and rate-limit threads'
    // database connections and a notify_command's pipes.
    return 16 + 4 + listeners + io_threads + workers;
}

std::size_t Server::connection_cap(std::size_t max_connections, std::uint64_t descriptor_limit, std::size_t reserve) {
    if (descriptor_limit <= reserve) return 1;
    return static_cast<std::size_t>(std::min<std::uint64_t>(max_connections, descriptor_limit - reserve));
}

std::size_t Server::effective_max_connections() const {
    return std::min(settings()->max_connections, descriptor_cap_);
}

void Server::warn_capped(std::size_t configured) const {
    if (configured <= descriptor_cap_) return;
    log_warning("max_connections " + std::to_string(configured) + " lowered to " + std::to_string(descriptor_cap_) +
                ": the open file limit (RLIMIT_NOFILE) is " + std::to_string(descriptor_limit()) + " and " +
                std::to_string(descriptor_reserve(listeners_.size(), io_thread_count_, worker_count_)) +
                " descriptors are kept for other work; raise LimitNOFILE (systemd) or ulimit -n");
}

Server::Server(RequestHandler& handler, ServerSettings settings, unsigned io_threads, unsigned workers)
    : handler_(handler),
      worker_count_(workers == 0 ? 1 : workers),
      settings_(std::make_shared<const ServerSettings>(settings)),
      io_thread_count_(io_threads_for(io_threads)),
      workers_(workers == 0 ? 1 : workers) {
    loop_ = std::make_unique<Loop>(io_thread_count_);
}

Server::~Server() {
    stop(std::chrono::milliseconds(0));
    if (const int spare = spare_fd_.exchange(-1); spare >= 0) ::close(spare);
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
    l.pause = std::make_unique<asio::steady_timer>(l.acceptor->get_executor());
    socket.fd = -1;
    l.description = std::make_shared<const std::string>(socket.family == AF_UNIX ? socket.description
                                                                                 : "inet:" + socket.description);
    listeners_.push_back(std::move(l));
}

void Server::start() {
    if (started_) return;
    started_ = true;
    descriptor_cap_ = connection_cap(SIZE_MAX, descriptor_limit(),
                                     descriptor_reserve(listeners_.size(), io_thread_count_, worker_count_));
    warn_capped(settings()->max_connections);
    open_spare();
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
        if (!ec) {
            on_accepted(connection);
            accept_next(listener);
            return;
        }
        if (ec == asio::error::operation_aborted || stopping_) return;
        on_accept_error(listener, ec);
    });
}

// On the listener's strand. Out of descriptors: refuse the waiting client with the spare descriptor
// (it learns at once instead of hanging) and go on; without one, pause accepting briefly. Either way
// one warning a minute.
void Server::on_accept_error(Listener& listener, const boost::system::error_code& ec) {
    if (ec == asio::error::connection_aborted) {  // the client gave up before we accepted: nothing lost
        accept_next(listener);
        return;
    }
    const bool refused = out_of_descriptors(ec) && refuse_one(listener);
    if (refused) refused_without_descriptor_.fetch_add(1);
    if (once_a_minute(last_accept_warning_)) {
        const std::uint64_t count = refused_without_descriptor_.exchange(0);
        log_warning("accept on " + *listener.description + " failed: " + ec.message() +
                    (out_of_descriptors(ec) ? "; new clients are closed at once until descriptors are free (" +
                                                  std::to_string(count) +
                                                  " since the last warning); raise LimitNOFILE or lower "
                                                  "max_connections"
                                            : std::string()));
    }
    if (refused)
        accept_next(listener);
    else
        pause_accepting(listener);
}

// Frees the spare descriptor, accepts one waiting client with it and closes that at once, then takes
// the spare back. false: no spare (another listener has it) or nothing to accept.
bool Server::refuse_one(Listener& listener) {
    const int spare = spare_fd_.exchange(-1);
    if (spare < 0) return false;
    ::close(spare);
    const int listening = listener.acceptor->native_handle();
    pollfd ready{listening, POLLIN, 0};
    int client = -1;
    if (::poll(&ready, 1, 0) == 1) client = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client >= 0) ::close(client);
    open_spare();
    return client >= 0;
}

void Server::open_spare() {
    if (spare_fd_.load() >= 0) return;
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // none free now; the next pause tries again
    int none = -1;
    if (!spare_fd_.compare_exchange_strong(none, fd)) ::close(fd);
}

void Server::pause_accepting(Listener& listener) {
    listener.pause->expires_after(kAcceptPause);
    listener.pause->async_wait([this, &listener](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        open_spare();
        accept_next(listener);
    });
}

void Server::on_accepted(std::shared_ptr<Connection> connection) {
    if (connection_count() >= effective_max_connections()) {
        metrics::on_connection_refused();
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
    if (!once_a_minute(last_full_warning_)) return;
    const std::size_t cap = effective_max_connections();
    log_warning("refusing connections: max_connections (" + std::to_string(cap) + ") reached" +
                (cap < settings()->max_connections ? std::string(", lowered from ") +
                                                         std::to_string(settings()->max_connections) +
                                                         " by the open file limit"
                                                   : std::string()));
}

void Server::register_connection(const std::shared_ptr<Connection>& c) {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    connections_.emplace(c.get(), c);
    metrics::on_connection_accepted();
}

void Server::unregister_connection(Connection* c) {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    if (connections_.erase(c) != 0) metrics::on_connection_closed();
    connections_cv_.notify_all();
}

std::size_t Server::connection_count() const {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    return connections_.size();
}

std::size_t Server::read_buffers_held() const {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    return static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(),
                                                  [](const auto& entry) { return entry.first->holds_read_buffer(); }));
}

void Server::update_settings(const ServerSettings& settings) {
    std::atomic_store(&settings_, std::make_shared<const ServerSettings>(settings));
    if (started_) warn_capped(settings.max_connections);
    settings_generation_.fetch_add(1, std::memory_order_acq_rel);  // connections re-read on their next request
}

std::shared_ptr<const ServerSettings> Server::settings() const {
    return std::atomic_load(&settings_);
}

// On the sweep timer's strand. The interval follows the idle timeout, which SIGHUP may change.
void Server::schedule_sweep() {
    if (stopping_) return;
    sweep_timer_->expires_after(sweep_interval(*settings()));
    sweep_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        sweep_idle();
        schedule_sweep();
    });
}

// Finds connections with no activity for idle_timeout or with a request begun request_timeout ago, and
// busy connections gone quiet; each closes itself or gives its read buffer back on its own strand (where
// it checks again: it may have become active since).
void Server::sweep_idle() {
    const auto limits = settings();
    const std::int64_t timeout = limits->idle_timeout.count();
    const std::int64_t request_timeout = limits->request_timeout.count();
    const std::int64_t now = Connection::now_ms();
    std::vector<std::shared_ptr<Connection>> idle;
    {
        // ~Connection unregisters under this lock first thing, so every connection listed here is alive
        // while we look at it.
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (auto& entry : connections_) {
            const std::int64_t started = entry.first->request_started_ms();
            const bool late = started != 0 && now - started >= request_timeout;
            const std::int64_t quiet = now - entry.first->last_active_ms();
            const bool release = entry.first->holds_read_buffer() && quiet >= Connection::kBusyMs;
            if (!late && !release && quiet < timeout) continue;
            if (auto c = entry.second.lock()) idle.push_back(std::move(c));
        }
    }
    for (auto& c : idle) {
        const Executor ex = c->socket().get_executor();
        asio::post(ex, [c = std::move(c), now, timeout, request_timeout] {
            c->close_if_expired(now, timeout, request_timeout);
            c->release_buffer_if_quiet(now);
        });
    }
}

void Server::stop(std::chrono::milliseconds grace) {
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    for (auto& l : listeners_) {
        Acceptor* acceptor = l.acceptor.get();
        asio::steady_timer* pause = l.pause.get();
        asio::post(acceptor->get_executor(), [acceptor, pause] {
            boost::system::error_code ignored;
            acceptor->close(ignored);
            pause->cancel();
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

}  // namespace relay::policyd
