#include "core/runtime/observability.hpp"

#include "core/rules/event_writer.hpp"
#include "core/store/heartbeat.hpp"
#include "core/metrics/metrics.hpp"
#include "core/metrics/server.hpp"
#include "core/store/mysql_connection.hpp"

namespace relay {

Observability::Observability(const Config& config, const std::string& daemon, const std::string& listen,
                             const std::string& key)
    : where_(listen), database_(config.database), node_(config.general.node), daemon_(daemon) {
    metrics::set_max_stale(std::chrono::seconds(config.cache.max_stale_seconds));
    // With several servers, DatabaseServers names the one in use, and each change.
    const auto servers = database_servers(config.database);
    if (servers.size() == 1) metrics::set_database_server(servers.front().name());
    if (listen.empty()) return;
    const auto endpoint = metrics::parse_endpoint(key, listen);
    metrics::enable(daemon, std::chrono::seconds(config.cache.max_stale_seconds));
    server_ = std::make_unique<metrics::Server>(endpoint, key);
}

Observability::~Observability() {
    heartbeat_.reset();  // records 'stopped'
    server_.reset();
}

void Observability::start_heartbeat(std::function<void(std::optional<unsigned>)> daemons) {
    heartbeat_ = std::make_unique<Heartbeat>(database_, NodeIdentity{node_, daemon_, RELAY_VERSION}, [] {
        const auto served = metrics::served_rules();
        return NodeStatus{served.generation, served.state};
    });
    heartbeat_->count_daemons(std::move(daemons));
    heartbeat_->start();
}

std::unique_ptr<metrics::AuditTrailWatch> watch_audit_trail(const EventWriter& writer) {
    return metrics::watch_audit_trail([&writer] {
        const EventWriter::Figures f = writer.figures();
        return metrics::AuditTrailFigures{f.queued, f.written, f.dropped.queue_full, f.dropped.not_writable,
                                          f.dropped.spool_full, f.spool_bytes};
    });
}

std::string Observability::describe() const { return server_ ? "; metrics on " + where_ : ""; }

}  // namespace relay
