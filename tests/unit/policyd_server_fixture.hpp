// relay-policyd's Server on a unix socket in a temporary directory, driven by a fake Decider, and a client
// that speaks the policy protocol to it: shared by test_policyd_server.cpp and
// test_policyd_server_charge_timeout.cpp.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/base/clock.hpp"
#include "policyd/handler.hpp"
#include "policyd/instance_tracker.hpp"
#include "policyd/listener.hpp"
#include "policyd/server.hpp"
#include "temp_dir.hpp"

namespace relay::test {

// FakeDecider needs release(): the destructor calls it so that no worker still waits on it at stop().
template <class FakeDecider>
struct ServerFixture {
    TempDir dir;
    std::string path = dir.path + "/policy.sock";
    ManualClock clock;
    FakeDecider decider;
    policyd::InstanceTracker tracker{1000, std::chrono::seconds(60), clock};
    policyd::RequestHandler handler{decider, tracker};
    std::unique_ptr<policyd::Server> server;
    policyd::BoundSocket socket;

    // Two I/O threads and WORKERS workers.
    ServerFixture(policyd::ServerSettings settings, unsigned workers) {
        policyd::ListenSpec spec;
        spec.kind = policyd::ListenSpec::Kind::unix_path;
        spec.path = path;
        spec.text = "unix:" + path;
        socket = policyd::bind_listener(spec, policyd::UnixSocketAccess{}).at(0);
        server = std::make_unique<policyd::Server>(handler, settings, 2, workers);
        server->add_listener(socket);
        server->start();
    }
    ~ServerFixture() {
        decider.release();
        server->stop(std::chrono::seconds(2));
        policyd::release_listener(socket);
    }
    ServerFixture(const ServerFixture&) = delete;
    ServerFixture& operator=(const ServerFixture&) = delete;
};

// One connection to PATH; a receive waits at most TIMEOUT_SECONDS.
class PolicyClient {
public:
    PolicyClient(const std::string& path, long timeout_seconds) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        timeval tv{timeout_seconds, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~PolicyClient() { ::close(fd_); }
    PolicyClient(const PolicyClient&) = delete;
    PolicyClient& operator=(const PolicyClient&) = delete;

    bool connected() const { return connected_; }
    void send(const std::string& bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return;
            done += static_cast<std::size_t>(n);
        }
    }
    // The next answer without "action=", "CLOSED" or "TIMEOUT".
    std::string answer() {
        while (buffer_.find("\n\n") == std::string::npos) {
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return "CLOSED";
            if (n < 0) return "TIMEOUT";
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
        const auto end = buffer_.find("\n\n");
        std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return block.rfind("action=", 0) == 0 ? block.substr(7) : "BAD " + block;
    }

private:
    int fd_ = -1;
    bool connected_ = false;
    std::string buffer_;
};

// A policy request of LOGIN (also the sender) for one recipient, at protocol_state STATE.
inline std::string policy_request(const std::string& login, const std::string& state = "RCPT") {
    return "request=smtpd_access_policy\nprotocol_state=" + state + "\nsasl_username=" + login +
           "\nsender=" + login + "\nrecipient=x@example.org\ninstance=i1\n\n";
}

}  // namespace relay::test
