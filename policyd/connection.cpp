#include "policyd/connection.hpp"

#include <boost/asio/defer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/metrics/metrics.hpp"
#include "core/base/log.hpp"

namespace relay::policyd {

namespace asio = boost::asio;

namespace {

// The first bytes of what a client sent, printable, for the "malformed request" log line.
constexpr std::size_t kLoggedBytes = 80;

// One read buffer per I/O thread instead of one per connection: a Postfix request is well under 1 KiB,
// and only the thread that runs a connection's handler reads into it, finishing with it before it
// returns (a request left incomplete is copied into the connection's own buffer).
constexpr std::size_t kReadChunk = 16384;
thread_local char t_chunk[kReadChunk];

// A busy connection's own read buffer: a Postfix request fits (a longer one takes more than one read,
// its start kept in buffer_ as usual).
constexpr std::size_t kOwnBuffer = 2048;

// The request being decided on this I/O thread, reused so its strings keep their capacity: no
// allocation per request once warm. Only a decision handed to a worker gets a copy of its own.
thread_local Request t_request;

// When this I/O thread started its latest request, and how long before that its previous one: a short gap
// means it is working through a burst of ready connections (see on_read).
thread_local SteadyTime t_last_request{};
thread_local std::chrono::steady_clock::duration t_request_gap = std::chrono::hours(1);
constexpr std::chrono::microseconds kBurstGap{200};

bool would_block(const boost::system::error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

Connection::Connection(Server& server, Server::Executor executor, std::shared_ptr<const std::string> listener)
    : server_(server), socket_(executor), listener_(std::move(listener)), last_active_ms_(now_ms()) {}

Connection::~Connection() {
    server_.unregister_connection(this);
}

std::int64_t Connection::now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Connection::who() const {
    return peer_ + " on " + *listener_;
}

void Connection::refresh_settings() {
    const std::uint64_t generation = server_.settings_generation();
    if (generation == settings_generation_ && settings_) return;
    settings_ = server_.settings();
    settings_generation_ = generation;
}

void Connection::start(std::string peer) {
    peer_ = std::move(peer);
    if (server_.stopping_) {  // accepted while the server was being stopped
        close();
        return;
    }
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);  // our reads and writes are attempts: the event loop does the waiting
    if (ec) {
        log_warning("closing connection from " + who() + ": " + ec.message());
        close();
        return;
    }
    touch();
    log_debug("connect from " + who());
    wait_readable();
}

// Stopping. Waiting for a request: cancel the wait; on_readable then reads whatever has arrived (a
// request sent just before the signal is answered) and closes. Deciding or writing: the answer goes out
// first; afterwards the connection reads once more for a request already sent, answers it, and closes.
void Connection::shutdown() {
    stopping_ = true;
    if (state_ != State::waiting) return;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
}

void Connection::close_if_expired(std::int64_t now_ms, std::int64_t idle_timeout_ms, std::int64_t request_timeout_ms) {
    if (state_ != State::waiting && state_ != State::writing) return;  // deciding: not the client's fault
    const std::int64_t started = request_started_ms();
    if (state_ == State::waiting && started != 0 && now_ms - started >= request_timeout_ms) {
        log_info("closing connection from " + who() + ": request not complete " +
                 std::to_string(request_timeout_ms / 1000) + " s after its first byte (request_timeout; " +
                 std::to_string(buffer_.size()) + " bytes, starting with \"" +
                 sanitize(std::string_view(buffer_).substr(0, kLoggedBytes), kLoggedBytes) + "\")");
        close();
        return;
    }
    if (now_ms - last_active_ms() < idle_timeout_ms) return;  // active since the sweep looked
    log_info("closing idle connection from " + who());
    close();
}

void Connection::release_buffer_if_quiet(std::int64_t now_ms) {
    if (state_ == State::closed || !busy_ || now_ms - last_active_ms() < kBusyMs) return;
    busy_ = false;
    // A pending read gives the buffer back in on_read (cancelled); otherwise it goes now.
    if (reading_) {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
        return;
    }
    own_buffer_.reset();
    holds_read_buffer_.store(false, std::memory_order_relaxed);
}

// Busy: let Asio read into our own buffer when data arrives (no epoll_ctl). Otherwise: wait for
// readability without holding a buffer.
void Connection::wait_readable() {
    state_ = State::waiting;
    if (busy_ && !stopping_) {
        if (!own_buffer_) {
            own_buffer_.reset(new char[kOwnBuffer]);
            holds_read_buffer_.store(true, std::memory_order_relaxed);
        }
        reading_ = true;
        socket_.async_read_some(asio::buffer(own_buffer_.get(), kOwnBuffer),
                                [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                    self->on_read(ec, n);
                                });
        return;
    }
    if (own_buffer_) {  // went quiet while a read was finishing
        own_buffer_.reset();
        holds_read_buffer_.store(false, std::memory_order_relaxed);
    }
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->on_readable(ec);
    });
}

// A busy connection's read finished: what arrived is in own_buffer_.
void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
    reading_ = false;
    if (state_ == State::closed) return;
    if (ec == asio::error::operation_aborted) {
        // The sweep took the buffer back (the connection went quiet), or the server is stopping; either
        // way, read what has arrived the idle way.
        read_and_process();  // ... and wait_readable() gives the buffer back if the connection is no longer busy
        return;
    }
    if (ec) {
        failed_read(ec);
        return;
    }
    if (!received(std::string_view(own_buffer_.get(), n))) return;
    // Asio (1.74) tries the next read at once, before waiting: right after our answer that read finds
    // nothing (the client is still reading the answer) and costs a failed recv per request. In a burst
    // (this thread's previous request began less than kBurstGap ago), queued behind the other
    // connections' ready handlers, it usually finds the next request already there. Outside a burst
    // nothing is queued: deferring would only add a turn of the event loop (an epoll_wait) per request.
    if (t_request_gap >= kBurstGap) {
        read_next();
        return;
    }
    asio::defer(socket_.get_executor(), [self = shared_from_this()] {
        if (self->state_ != State::closed) self->read_next();
    });
}

void Connection::read_next() {
    if (stopping_)
        read_and_process();  // a request sent meanwhile is still answered, then the connection closes
    else
        wait_readable();
}

void Connection::on_readable(const boost::system::error_code& ec) {
    if (state_ == State::closed) return;
    // operation_aborted: shutdown() cancelled the wait; what has arrived is still read and answered.
    if (ec && ec != asio::error::operation_aborted) {
        log_debug("waiting for " + who() + " failed: " + ec.message());
        close();
        return;
    }
    read_and_process();
}

// Reads what the kernel holds (never blocks) and answers the complete requests in it. Returns with a
// wait, a decision or a write pending, or the connection closed.
void Connection::read_and_process() {
    while (true) {
        boost::system::error_code ec;
        const std::size_t n = socket_.read_some(asio::buffer(t_chunk, kReadChunk), ec);
        if (would_block(ec)) {
            if (stopping_) {  // nothing more was sent: done
                close();
                return;
            }
            wait_readable();
            return;
        }
        if (ec) {
            failed_read(ec);
            return;
        }
        if (!received(std::string_view(t_chunk, n))) return;
        if (!stopping_) {
            wait_readable();
            return;
        }
        // stopping: a request may have arrived meanwhile; read once more before closing
    }
}

// A read that failed (or found the end of the stream): log what was lost, close. Returns true.
bool Connection::failed_read(const boost::system::error_code& ec) {
    if (ec == asio::error::eof && !buffer_.empty())
        log_info("connection from " + who() + " closed in the middle of a request");
    else if (ec != asio::error::eof && !buffer_.empty())
        log_debug("read from " + who() + " failed: " + ec.message());
    close();
    return true;
}

// Bytes arrived (in the I/O thread's chunk or in own_buffer_): answer the complete requests among them.
// true: wait for more; false: an answer or decision is pending, or the connection closed.
bool Connection::received(std::string_view data) {
    const std::int64_t now = now_ms();
    if (last_read_ms_ != 0 && now - last_read_ms_ < kBusyMs) busy_ = true;
    last_read_ms_ = now;
    last_active_ms_.store(now, std::memory_order_relaxed);
    Next next;
    if (buffer_.empty()) {
        next = process(data, false);
    } else {
        buffer_.append(data.data(), data.size());
        next = process(buffer_, true);
    }
    return next == Next::read_more;
}

// Answers every complete request at the start of data (the I/O thread's chunk, or buffer_ itself),
// keeps what is left in buffer_, and says what comes next.
Connection::Next Connection::process(std::string_view data, bool data_is_buffer) {
    refresh_settings();
    RequestHandler& handler = server_.handler_;
    std::size_t pos = 0;
    while (true) {
        const std::string_view rest = data.substr(pos);
        const ParseResult parsed = parse_policy_request(rest, settings_->parse);
        switch (parsed.status) {
            case ParseStatus::need_more:
                // the deadline runs from the first byte of this request, not from its latest one
                if (rest.empty())
                    request_started_ms_.store(0, std::memory_order_relaxed);
                else if (request_started_ms() == 0)
                    request_started_ms_.store(now_ms(), std::memory_order_relaxed);
                keep(rest, data_is_buffer);
                return Next::read_more;
            case ParseStatus::malformed:
                metrics::on_malformed_request();
                log_warning("closing connection from " + who() + ": malformed request (" + parsed.error +
                            "), starting with \"" + sanitize(rest.substr(0, kLoggedBytes), kLoggedBytes) + "\"");
                close();
                return Next::closed;
            case ParseStatus::complete: break;
        }
        pos += parsed.consumed;
        request_started_ms_.store(0, std::memory_order_relaxed);  // complete: the next one starts afresh
        const SteadyTime started = std::chrono::steady_clock::now();
        t_request_gap = started - t_last_request;
        t_last_request = started;
        std::string error;
        const MapStatus status = map_policy_request(parsed.attributes, t_request, error);
        switch (status) {
            case MapStatus::ignore:
            case MapStatus::unknown_state:
                if (!answer(RequestHandler::ignored_answer(status, parsed.attributes.sasl_username, error, who())))
                    return pending(data.substr(pos), data_is_buffer);
                continue;
            case MapStatus::invalid:
                log_warning("closing connection from " + who() + ": unusable request (" + sanitize(error) + ")");
                close();
                return Next::closed;
            case MapStatus::ok: break;
        }
        // Decided here from the cached rules unless it needs the database (a charge): only that one
        // goes to a worker, so refused and unauthenticated mail never queue behind a slow database.
        const std::optional<Decision> decision = handler.decide_without_waiting(t_request);
        if (!decision) {
            keep(data.substr(pos), data_is_buffer);
            decide_on_worker(Request(t_request), started);
            return Next::busy;
        }
        if (!answer(handler.finish(t_request, *decision, started))) return pending(data.substr(pos), data_is_buffer);
    }
}

// An answer is being written (or the connection closed while writing): keep the rest for later.
Connection::Next Connection::pending(std::string_view rest, bool data_is_buffer) {
    if (state_ == State::closed) return Next::closed;
    keep(rest, data_is_buffer);
    return Next::busy;
}

void Connection::keep(std::string_view rest, bool data_is_buffer) {
    if (rest.empty()) {
        // An idle connection holds no memory for requests it does not have.
        if (buffer_.capacity() > 15) std::string().swap(buffer_);
        else buffer_.clear();
        return;
    }
    if (data_is_buffer)
        buffer_.erase(0, static_cast<std::size_t>(rest.data() - buffer_.data()));
    else
        buffer_.assign(rest.data(), rest.size());
}

// A decision on a worker, answered on the strand by whichever comes first: the worker's decision, or the
// charge_timeout timer with a temporary failure. The other one then does nothing. A worker that starts
// only after the deadline (every worker was waiting on the database) does not touch the database at all.
struct Connection::WorkerDecision {
    WorkerDecision(const Server::Executor& ex, Request r) : timer(ex), request(std::move(r)) {}
    bool claim() { return !answered.exchange(true); }  // true: this one answers

    boost::asio::steady_timer timer;
    const Request request;
    std::atomic<bool> answered{false};
};

void Connection::decide_on_worker(Request request, SteadyTime started) {
    state_ = State::deciding;
    auto job = std::make_shared<WorkerDecision>(socket_.get_executor(), std::move(request));
    const SteadyTime deadline = started + settings_->charge_timeout;
    job->timer.expires_at(deadline);
    job->timer.async_wait([self = shared_from_this(), job, started](const boost::system::error_code& ec) {
        if (ec || !job->claim()) return;
        self->deliver(job->request, RequestHandler::charge_timed_out(job->request), started);
    });
    asio::post(server_.workers_, [self = shared_from_this(), job, started, deadline]() mutable {
        if (job->answered.load() || std::chrono::steady_clock::now() >= deadline) return;  // the timer answers
        Decision decision = self->server_.handler_.decide(job->request);
        const Server::Executor ex = self->socket_.get_executor();
        asio::post(ex, [self = std::move(self), job = std::move(job), decision = std::move(decision), started]() {
            if (!job->claim()) return;
            job->timer.cancel();
            self->deliver(job->request, decision, started);
        });
    });
}

void Connection::deliver(const Request& request, const Decision& decision, SteadyTime started) {
    if (state_ == State::closed) return;
    if (!answer(server_.handler_.finish(request, decision, started))) return;
    after_answer();
}

// Sends the answer without waiting when the socket takes it (it nearly always does: a few bytes).
// true: sent, go on; false: the rest is being written (on_written continues) or the connection closed.
bool Connection::answer(const std::string& bytes) {
    if (state_ == State::closed) return false;
    boost::system::error_code ec;
    std::size_t n = socket_.write_some(asio::buffer(bytes), ec);
    if (would_block(ec)) {
        n = 0;
        ec.clear();
    }
    if (ec) {
        log_debug("write to " + who() + " failed: " + ec.message());
        close();
        return false;
    }
    if (n == bytes.size()) return true;
    touch();  // idle time of a client that does not read its answer counts from here
    state_ = State::writing;
    out_.assign(bytes, n, std::string::npos);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                          self->on_written(e);
                      });
    return false;
}

void Connection::on_written(const boost::system::error_code& ec) {
    if (state_ == State::closed) return;
    if (ec) {
        log_debug("write to " + who() + " failed: " + ec.message());
        close();
        return;
    }
    std::string().swap(out_);
    after_answer();
}

// An answer that had to wait (worker, slow socket) is out: a pipelined request may already be here.
void Connection::after_answer() {
    if (process(buffer_, true) != Next::read_more) return;
    read_next();
}

void Connection::close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    std::string().swap(buffer_);
    std::string().swap(out_);
}

}  // namespace relay::policyd
