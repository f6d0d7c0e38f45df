#include "core/metrics/server.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <stdexcept>

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/exposer.h>

#include "core/base/errors.hpp"
#include "core/metrics/metrics.hpp"

namespace relay::metrics {

namespace {

bool is_ip(const std::string& host, int family) {
    unsigned char buffer[sizeof(in6_addr)];
    return inet_pton(family, host.c_str(), buffer) == 1;
}

// Answers /healthz and refuses every path but /metrics; returns the status sent, or 0 to let the
// Exposer's /metrics handler run.
int begin_request(mg_connection* connection) {
    const mg_request_info* request = mg_get_request_info(connection);
    const char* uri = request && request->local_uri ? request->local_uri : "";
    if (std::strcmp(uri, "/metrics") == 0) return 0;
    if (std::strcmp(uri, "/healthz") != 0) {
        mg_send_http_error(connection, 404, "%s", "not found\n");
        return 404;
    }
    const Health health = metrics::health();
    const std::string body = health.reason + "\n";
    const int status = health.ok ? 200 : 503;
    mg_response_header_start(connection, status);
    mg_response_header_add(connection, "Content-Type", "text/plain; charset=utf-8", -1);
    mg_response_header_add(connection, "Cache-Control", "no-store", -1);
    mg_response_header_add(connection, "Content-Length", std::to_string(body.size()).c_str(), -1);
    mg_response_header_send(connection);
    if (std::strcmp(request->request_method, "HEAD") != 0) mg_write(connection, body.data(), body.size());
    return status;
}

}  // namespace

std::string check_endpoint(const std::string& value) {
    if (value.empty()) return "";
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0) return "want HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464";
    std::string host = value.substr(0, colon);
    const std::string port = value.substr(colon + 1);
    if (host.front() == '[') {
        if (host.back() != ']' || !is_ip(host.substr(1, host.size() - 2), AF_INET6))
            return "want [IPV6]:PORT with an IPv6 address in brackets, e.g. [::1]:9464";
    } else if (!is_ip(host, AF_INET)) {
        return "want an IP address before the port (IPv6 in brackets), e.g. 127.0.0.1:9464";
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) < 1 || std::stoul(port) > 65535)
        return "want a port from 1 to 65535 after the last ':'";
    return "";
}

Endpoint parse_endpoint(const std::string& key, const std::string& value) {
    const std::string problem = check_endpoint(value);
    if (!problem.empty()) throw ConfigError(key + " = '" + value + "': " + problem);
    if (value.empty()) return {};
    const auto colon = value.rfind(':');
    std::string host = value.substr(0, colon);
    if (host.front() == '[') host = host.substr(1, host.size() - 2);
    return {host, static_cast<unsigned>(std::stoul(value.substr(colon + 1)))};
}

Server::Server(const Endpoint& endpoint, const std::string& key) {
    const bool v6 = endpoint.host.find(':') != std::string::npos;
    const std::string where = (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
    static CivetCallbacks callbacks;  // zeroed by its constructor; civetweb copies it
    callbacks.begin_request = begin_request;
    callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // no stderr chatter
    // Two threads: a scrape and a health probe at the same time; civetweb's defaults would start 50.
    std::vector<std::string> options{"listening_ports", where, "num_threads", "2"};
    // civetweb's threads inherit our signal mask: block every signal while they start, so SIGTERM and
    // SIGHUP reach the thread that waits for them (libmilter's, relay-policyd's), never a scrape thread.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    try {
        exposer_ = std::make_unique<prometheus::Exposer>(options, &callbacks);
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    } catch (const std::exception&) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        throw std::runtime_error("cannot listen on " + where + " (" + key +
                                 "): address in use or not available on this host");
    }
    for (const auto& collectable : collectables()) exposer_->RegisterCollectable(collectable);
}

Server::~Server() = default;

int Server::port() const {
    const auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
}

}  // namespace relay::metrics
