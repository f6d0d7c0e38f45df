// The metrics endpoint: prometheus-cpp's Exposer (civetweb) on [metrics] listen, serving
//   GET /metrics  the text exposition format (written by prometheus-cpp)
//   GET /healthz  200 "ok" or 503 with a one-line reason (metrics::health())
//   anything else 404
// /healthz and the 404 are answered from civetweb's begin_request callback, which the Exposer's
// constructor accepts: prometheus-cpp 1.0.1 has no API for a handler that is not a metrics endpoint, and
// this is civetweb answering, not an HTTP server of ours. Nothing served names a login, an address or a
// configuration value.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Exposer;
}

namespace relay::metrics {

struct Endpoint {
    std::string host;  // IPv4 address or IPv6 address without brackets
    unsigned port = 0;
};

// [metrics] KEY = HOST:PORT or [IPV6]:PORT (HOST: an IP address; PORT 1..65535). Throws ConfigError
// naming the key: "[metrics] listen = 'x': want HOST:PORT, e.g. 127.0.0.1:9464".
Endpoint parse_endpoint(const std::string& key, const std::string& value);
// "" when the value is fine (for the config key table), else the problem.
std::string check_endpoint(const std::string& value);

class Server {
public:
    // Binds at once (call it before dropping privileges) and serves from civetweb's threads. Throws
    // std::runtime_error "cannot listen on 127.0.0.1:9464 ([metrics] listen): address in use or not
    // available" when the port cannot be bound. metrics::enable() must have been called.
    Server(const Endpoint& endpoint, const std::string& key);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    int port() const;  // the bound port (the configured one, or the one chosen for port 0 in tests)

private:
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace relay::metrics
