// Process-wide metrics of one daemon (relay-policyd or relay-milter), for Prometheus (docs/monitoring.md).
//
// The daemons call the hooks below at the points where things happen: one line each. Before
// metrics::enable() (or when [metrics] is off) every hook is a load of one pointer and a return, so the
// request path pays nothing. Once enabled, a hook is a few relaxed atomic operations: counters and gauges
// are prometheus-cpp's (atomic), histograms are our AtomicHistogram, and the decision counters are
// created on first use and then found in a fixed table without a lock.
//
// Every label is bounded: daemon, stage, verdict, reason, server, kind, cause, outcome. Never a login, an
// address or a queue id.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/rules/decision.hpp"
#include "core/rules/request.hpp"

namespace prometheus {
class Registry;
class Collectable;
}  // namespace prometheus

namespace relay::metrics {

class Metrics;

// What /healthz answers.
struct Health {
    bool ok = false;
    std::string reason;  // one line: "ok", "rules not yet loaded", "database unreachable", "rules stale"
};

// Database error kinds (the `kind` label), from SqlErrorClass.
enum class DbErrorKind { transient, permanent, conflict };
// Rate-limit charge outcomes (the `outcome` label).
enum class ChargeOutcome { charged, refused, unavailable };

namespace detail {
extern std::atomic<Metrics*> instance;
inline Metrics* get() { return instance.load(std::memory_order_acquire); }
}  // namespace detail

// Creates the metrics of this process (daemon: "relay-policyd" or "relay-milter"); the hooks count from
// then on. Call once, before the worker threads start. max_stale: [cache] max_stale, for health.
void enable(const std::string& daemon, std::chrono::seconds max_stale);
bool enabled();
// The collectables to expose (registry plus the lock-free histograms and the computed gauges).
std::vector<std::shared_ptr<prometheus::Collectable>> collectables();
// The health of this process from what the rules refresh recorded (no database round trip, no lock).
// Recorded whether or not metrics are enabled.
Health health();
// What the heartbeat reports: the generation served and the nodes.state word.
struct ServedRules {
    std::optional<std::uint64_t> generation;  // nullopt: no rules loaded yet
    std::string state = "starting";           // starting, serving, stale
};
ServedRules served_rules();
// [cache] max_stale, for "rules stale" (enable() sets it too).
void set_max_stale(std::chrono::seconds max_stale);

// ---- hooks (no-ops until enable())
class Metrics {
public:
    explicit Metrics(const std::string& daemon, std::chrono::seconds max_stale);
    ~Metrics();
    struct Impl;
    Impl& impl() { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

void on_decision(Stage stage, const Decision& decision, double seconds);
void on_malformed_request();
void on_connection_accepted();
void on_connection_closed();
void on_connection_refused();  // at the connection cap
void on_rules_loaded(std::uint64_t generation, std::size_t accounts, double load_seconds);
void on_rules_checked();       // the change generation was read: the rules are current
void on_database_up(bool up, const std::string& server);
void on_database_up(bool up);  // the server given to set_database_server()
// The database server the daemon uses, as describe_endpoint() names it (the `server` label).
void set_database_server(const std::string& server);
void on_database_error(DbErrorKind kind);
void on_database_reconnect();
void on_database_failover();
void on_charge(ChargeOutcome outcome, double seconds);
void on_charge_retry();
void on_charge_conflict();
void on_charge_batch(std::size_t charges);
void on_suspension();
void on_heartbeat_written();  // the nodes row was written (UNIX time of it, for "heartbeat missing")
// The number of daemons rate-limit leases size their blocks for (core/ratelimit/rate_lease.hpp ProcessCount).
void set_rate_lease_processes(unsigned processes);

// ---- the audit trail: read when Prometheus scrapes
// The event writer sits in a layer below this one (core/rules), so it does not call hooks: it keeps its
// own counts, and the daemon hands a reader of them here (Observability's watch_audit_trail()).
struct AuditTrailFigures {
    std::size_t queue_depth = 0;           // events waiting to be written
    std::size_t written = 0;               // decisions written to relay_events (a row may stand for several)
    std::size_t dropped_queue_full = 0;    // decisions and last-use stamps dropped: queue full
    std::size_t dropped_not_writable = 0;  // ... the database did not take them
    std::size_t dropped_spool_full = 0;    // ... the audit spool reached its bound
    std::uint64_t spool_bytes = 0;         // events kept in the audit spool file, waiting for a server
};
// While the returned guard lives, scrapes read the figures through read(); its destructor waits for a
// scrape in progress, so destroy it before what read() reads. One audit trail per process.
class AuditTrailWatch {
public:
    AuditTrailWatch() = default;
    ~AuditTrailWatch();
    AuditTrailWatch(const AuditTrailWatch&) = delete;
    AuditTrailWatch& operator=(const AuditTrailWatch&) = delete;
};
[[nodiscard]] std::unique_ptr<AuditTrailWatch> watch_audit_trail(std::function<AuditTrailFigures()> read);

// For the tests (unit): forget the metrics of this process.
void reset_for_tests();

}  // namespace relay::metrics
