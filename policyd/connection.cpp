#include "policyd/connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <netdb.h>
#include <sys/socket.h>

#include "core/log.hpp"

namespace relay {

namespace asio = boost::asio;

namespace {

// The first bytes of what a client sent, printable, for the "malformed request" log line.
constexpr std::size_t kLoggedBytes = 80;

}  // namespace

Connection::Connection(Server& server, Server::Strand strand, std::string listener)
    : server_(server), socket_(strand), timer_(strand), listener_(std::move(listener)) {}

Connection::~Connection() {
    server_.unregister_connection(this);
}

std::string Connection::who() const {
    return peer_ + " on " + listener_;
}

void Connection::start(std::string peer) {
    peer_ = std::move(peer);
    if (server_.stopping_) {  // accepted while the server was being stopped
        close();
        return;
    }
    log_debug("connect from " + who());
    read_more();
}

void Connection::shutdown() {
    stopping_ = true;
    // Deciding or writing: the answer goes out first (on_written closes). Reading: if the kernel
    // already holds bytes for us, a request may have arrived just now; let the pending read take them
    // (process_buffer answers a complete request, and closes on an incomplete one). Otherwise close.
    if (state_ != State::reading) return;
    boost::system::error_code ec;
    if (socket_.available(ec) > 0 && !ec) return;
    // The reactor may already have taken the bytes of a request out of the kernel, with on_read queued
    // behind us: closing now would drop that request unanswered. Cancel instead: a read still waiting
    // ends with operation_aborted and on_read closes; a read that completed delivers its bytes, which
    // are answered (stopping_ closes the connection after that answer).
    socket_.cancel(ec);
    timer_.cancel();
}

void Connection::arm_timer() {
    timer_.expires_after(server_.settings()->idle_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->state_ == State::closed || self->state_ == State::deciding) return;
        log_info("closing idle connection from " + self->who());
        self->close();
    });
}

void Connection::read_more() {
    state_ = State::reading;
    arm_timer();
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                               std::size_t n) {
        self->on_read(ec, n);
    });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (state_ == State::closed) return;
    if (ec) {
        if (ec != asio::error::eof && ec != asio::error::operation_aborted && !buffer_.empty())
            log_debug("read from " + who() + " failed: " + ec.message());
        if (ec == asio::error::eof && !buffer_.empty())
            log_info("connection from " + who() + " closed in the middle of a request");
        close();
        return;
    }
    buffer_.append(chunk_.data(), n);
    process_buffer();
}

// Parse what we have: answer one complete request, or read more, or give up on a client in trouble.
void Connection::process_buffer() {
    const auto settings = server_.settings();
    ParseResult parsed = parse_policy_request(buffer_, settings->parse);
    switch (parsed.status) {
        case ParseStatus::need_more:
            if (stopping_) {
                close();
                return;
            }
            read_more();
            return;
        case ParseStatus::malformed:
            log_warning("closing connection from " + who() + ": malformed request (" + parsed.error +
                        "), starting with \"" + sanitize(std::string_view(buffer_).substr(0, kLoggedBytes), kLoggedBytes) +
                        "\"");
            close();
            return;
        case ParseStatus::complete:
            buffer_.erase(0, parsed.consumed);
            dispatch(parsed.attributes);
            return;
    }
}

void Connection::dispatch(const PolicyAttributes& attributes) {
    state_ = State::deciding;
    timer_.cancel();
    const SteadyTime started = std::chrono::steady_clock::now();
    MapResult mapped = map_policy_request(attributes);
    switch (mapped.status) {
        case MapStatus::ignore:
            log_debug("answering DUNNO to " + who() + ": " + sanitize(mapped.error));
            answer(RequestHandler::ignored_answer());
            return;
        case MapStatus::invalid:
            log_warning("closing connection from " + who() + ": unusable request (" + sanitize(mapped.error) + ")");
            close();
            return;
        case MapStatus::ok: break;
    }
    RequestHandler& handler = server_.handler_;
    if (!handler.may_block(mapped.request)) {
        const Decision decision = handler.decide(mapped.request);
        answer(handler.finish(mapped.request, decision, started));
        return;
    }
    asio::post(server_.workers_, [self = shared_from_this(), request = std::move(mapped.request), started]() {
        RequestHandler& h = self->server_.handler_;
        Decision decision = h.decide(request);
        asio::post(self->socket_.get_executor(), [self, request, decision = std::move(decision), started]() {
            if (self->state_ == State::closed) return;
            self->answer(self->server_.handler_.finish(request, decision, started));
        });
    });
}

void Connection::answer(std::string bytes) {
    if (state_ == State::closed) return;
    state_ = State::writing;
    out_ = std::move(bytes);
    arm_timer();
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          self->on_written(ec);
                      });
}

void Connection::on_written(const boost::system::error_code& ec) {
    if (state_ == State::closed) return;
    if (ec) {
        log_debug("write to " + who() + " failed: " + ec.message());
        close();
        return;
    }
    if (stopping_) {
        close();
        return;
    }
    process_buffer();  // a pipelined request may already be here
}

void Connection::close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace relay
