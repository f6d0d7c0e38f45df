// One Postfix connection: read until the parser has a complete request, answer it, repeat. Everything
// of one connection runs on its strand; only the decision may leave it (to the worker pool) and comes
// back to it with the answer.
#pragma once

#include <array>
#include <memory>
#include <string>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policyd/server.hpp"

namespace relay {

class Connection : public std::enable_shared_from_this<Connection> {
public:
    using Socket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol, Server::Strand>;

    Connection(Server& server, Server::Strand strand, std::string listener);
    ~Connection();

    Socket& socket() { return socket_; }
    void start(std::string peer);   // on the strand
    void shutdown();                // on the strand: server stopping

private:
    enum class State { reading, deciding, writing, closed };

    void read_more();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void process_buffer();
    void dispatch(const PolicyAttributes& attributes);
    void answer(std::string bytes);
    void on_written(const boost::system::error_code& ec);
    void arm_timer();
    void close();
    std::string who() const;

    Server& server_;
    Socket socket_;
    boost::asio::steady_timer timer_;
    std::string listener_;
    std::string peer_;
    State state_ = State::reading;
    bool stopping_ = false;
    std::string buffer_;            // unparsed bytes; the parser caps it at max_request_bytes
    std::array<char, 4096> chunk_{};
    std::string out_;
};

}  // namespace relay
