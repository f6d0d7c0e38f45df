// One Postfix connection: wait until the socket is readable, read what is there into the I/O thread's
// buffer, answer every complete request in it, keep the unparsed rest, wait again. Everything of one
// connection runs on its strand, one handler at a time; only the decision may leave it (to the worker
// pool) and comes back to it with the answer.
//
// An idle connection holds no read buffer (Postfix keeps thousands of them open): only the bytes of a
// request that has not fully arrived yet. It waits for readability (Asio's async_wait, which costs an
// epoll_ctl each time it is armed) and then reads into its I/O thread's buffer. A busy connection (two
// requests less than kBusyMs apart, as an smtpd in a session sends them) instead keeps a small read buffer
// of its own and lets Asio read into it when data arrives: no epoll_ctl and no failed read per request.
// The server's sweep takes that buffer back once the connection has been quiet for kBusyMs. Its idle time is checked by the server's periodic sweep, not
// by a timer of its own; so is the deadline of a request that has begun to arrive ([policyd]
// request_timeout, counted from its first byte: a client dribbling bytes keeps the connection active but
// cannot stretch one request without limit).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "policyd/server.hpp"

namespace relay::policyd {

class Connection : public std::enable_shared_from_this<Connection> {
public:
    using Socket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol, Server::Executor>;

    // listener: the description of the listening socket, for log lines
    Connection(Server& server, Server::Executor executor, std::shared_ptr<const std::string> listener);
    ~Connection();

    Socket& socket() { return socket_; }
    void start(std::string peer);  // on the strand
    void shutdown();               // on the strand: server stopping
    // On the strand, from the server's sweep: close if nothing happened for idle_timeout, or if the
    // request being received began request_timeout ago.
    void close_if_expired(std::int64_t now_ms, std::int64_t idle_timeout_ms, std::int64_t request_timeout_ms);
    // On the strand, from the server's sweep: a connection quiet for kBusyMs gives its read buffer back.
    void release_buffer_if_quiet(std::int64_t now_ms);
    // Whether the connection holds a read buffer of its own (read by the sweep from another thread).
    bool holds_read_buffer() const { return holds_read_buffer_.load(std::memory_order_relaxed); }
    // Two requests closer than this make a connection busy; this long without one makes it idle again.
    static constexpr std::int64_t kBusyMs = 1000;
    std::int64_t last_active_ms() const { return last_active_ms_.load(std::memory_order_relaxed); }
    // When the first byte of the request still incomplete was seen; 0: none is.
    std::int64_t request_started_ms() const { return request_started_ms_.load(std::memory_order_relaxed); }

    static std::int64_t now_ms();

private:
    enum class State { waiting, deciding, writing, closed };
    enum class Next { read_more, busy, closed };  // after process(): wait for bytes, an answer/decision is pending, gone

    void wait_readable();
    void read_next();  // after an answer: wait for the next request, or (stopping) answer what came and close
    void on_readable(const boost::system::error_code& ec);
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void read_and_process();
    bool received(std::string_view data);  // false: no further read now (busy, closed or stopping)
    bool failed_read(const boost::system::error_code& ec);  // true: closed
    Next process(std::string_view data, bool data_is_buffer);
    Next pending(std::string_view rest, bool data_is_buffer);
    void keep(std::string_view rest, bool data_is_buffer);
    struct WorkerDecision;
    void decide_on_worker(Request request, SteadyTime started);
    void deliver(const Request& request, const Decision& decision, SteadyTime started);
    bool answer(const std::string& bytes);
    void on_written(const boost::system::error_code& ec);
    void after_answer();
    void refresh_settings();
    void close();
    void touch() { last_active_ms_.store(now_ms(), std::memory_order_relaxed); }
    std::string who() const;

    Server& server_;
    Socket socket_;
    std::shared_ptr<const std::string> listener_;
    std::string peer_;
    State state_ = State::waiting;
    bool stopping_ = false;
    std::atomic<std::int64_t> last_active_ms_{0};
    std::atomic<std::int64_t> request_started_ms_{0};
    std::int64_t last_read_ms_ = 0;  // when data last arrived; 0: never
    bool busy_ = false;              // two requests arrived less than kBusyMs apart: read into own_buffer_
    bool reading_ = false;           // an async read into own_buffer_ is pending (not an async_wait)
    std::unique_ptr<char[]> own_buffer_;
    std::atomic<bool> holds_read_buffer_{false};
    std::uint64_t settings_generation_ = 0;
    std::shared_ptr<const ServerSettings> settings_;
    std::string buffer_;  // bytes received but not yet answered; usually empty between requests
    std::string out_;     // the rest of an answer the socket did not take at once
};

}  // namespace relay::policyd
