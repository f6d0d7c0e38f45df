// What a daemon sets up so it can be watched (docs/monitoring.md): the Prometheus endpoint (metrics and
// /healthz, when [metrics] KEY is set) and the heartbeat in the nodes table. One object per daemon:
//   construct it after detaching (civetweb's threads do not survive a fork) and before dropping
//   privileges (the endpoint may use a port below 1024); start_heartbeat() once the store is open;
//   destroy it at shutdown (the heartbeat records 'stopped', then the endpoint closes).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/config/config.hpp"

namespace relay {

class EventWriter;
class Heartbeat;
namespace metrics {
class AuditTrailWatch;
class Server;
}  // namespace metrics

// The audit trail's queue depth, decisions written and dropped by cause, read from writer whenever
// Prometheus scrapes. Keep the result no longer than writer (destroy it first).
[[nodiscard]] std::unique_ptr<metrics::AuditTrailWatch> watch_audit_trail(const EventWriter& writer);

class Observability {
public:
    // daemon: "relay-policyd" / "relay-milter"; listen: the value of [metrics] key (empty: no endpoint,
    // the hooks stay no-ops). Throws std::runtime_error when the endpoint cannot be bound.
    Observability(const Config& config, const std::string& daemon, const std::string& listen,
                  const std::string& key);
    ~Observability();
    Observability(const Observability&) = delete;
    Observability& operator=(const Observability&) = delete;

    // daemons: told the live daemons after each beat (Runtime::lease_daemon_count(); empty: not counted).
    void start_heartbeat(std::function<void(std::optional<unsigned>)> daemons = {});
    // For the ready line: "; metrics on 127.0.0.1:9464" or "".
    std::string describe() const;

private:
    std::string where_;
    std::unique_ptr<metrics::Server> server_;
    std::unique_ptr<Heartbeat> heartbeat_;
    DatabaseConfig database_;
    std::string node_, daemon_;
};

}  // namespace relay
