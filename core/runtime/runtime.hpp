// What relay-policyd and relay-milter run between their MTA adapter and the database, assembled in one
// place: the store, the audit trail (EventWriter), the rate-limit gate, the rules cache and the Policy
// over them. Both daemons build it the same way; only how they speak to their MTA differs.
//
// Life cycle (docs/architecture.md §6):
//   Runtime(...)   builds everything, opens no connection;
//   open()         schema checks and the first rules load (a database that does not answer yet is logged,
//                  not fatal: authenticated mail gets a temporary failure until it answers);
//   start(daemon)  opens the audit spool ([general] state_directory/DAEMON.audit-spool, as the user the
//                  daemon runs as) and starts the threads (rules polling, audit trail, abuse detection):
//                  after the privilege drop, and after the signal mask every thread must inherit is set;
//   stop()         stops them in the reverse order (also done by the destructor).
// SIGHUP with changed [cache] settings: reload_cache() builds a new cache, loads it, and swaps it in while
// requests in flight finish with the one they started with.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/base/clock.hpp"
#include "core/config/config.hpp"
#include "core/policy/decider.hpp"
#include "core/policy/policy.hpp"
#include "core/rules/rate_gate.hpp"
#include "core/rules/store.hpp"
#include "core/store/heartbeat.hpp"

namespace relay {

class EventWriter;
namespace metrics {
class AuditTrailWatch;
}  // namespace metrics
class MysqlRateGate;

using StoreFactory = std::function<std::unique_ptr<Store>(const DatabaseConfig&)>;

CacheOptions cache_options(const CacheConfig& config);

class Runtime final : public Decider {
public:
    // The daemons: the store make_store returns, rate limits and abuse detection in MariaDB
    // (MysqlRateGate). ConfigError when [rate_limits] time_zone cannot be loaded.
    Runtime(const Config& config, const StoreFactory& make_store, const Clock& clock);
    // Tests: any store, and any rate gate (nullptr: no rate limits).
    Runtime(const Config& config, std::unique_ptr<Store> store, RateGate* rate_gate, const Clock& clock);
    ~Runtime() override;
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // StorePermanentError (credentials, schema) propagates; a database that does not answer is logged.
    void open();
    // daemon: "relay-policyd" or "relay-milter", the audit spool's file name. A spool that cannot be
    // opened is logged and the daemon runs without one (events then wait in memory only).
    void start(const std::string& daemon);
    void stop();
    // true: the new [cache] settings are in use. false: the database did not answer (or refused), the
    // running cache stays (logged; send SIGHUP again later).
    bool reload_cache(const CacheConfig& config);

    Decision evaluate(const Request& request) override;
    Decision evaluate(const Request& request, const SnapshotPtr& pinned) override;
    std::optional<Decision> evaluate_without_waiting(const Request& request) override;
    bool may_block(const Request& request) const override;
    SnapshotPtr rules() const override;

    bool has_rules() const { return rules() != nullptr; }
    std::size_t account_count() const;
    EventWriter& events() { return *events_; }
    // For Observability::start_heartbeat(): hands the heartbeat's count of live daemons to the rate-limit
    // leases (their block size), the gauge relay_authority_rate_lease_processes and the log (on a change).
    // Empty when leases are off. May be called after this Runtime is gone (it holds what it needs).
    DaemonCountSink lease_daemon_count();

private:
    struct Rules;  // a cache and the Policy over it, swapped as one on reload_cache()
    std::shared_ptr<Rules> current() const;
    std::shared_ptr<Rules> make_rules(const CacheConfig& config) const;

    const Clock& clock_;
    PolicyOptions policy_options_;
    CacheConfig cache_config_;
    std::string state_directory_;     // [general] state_directory
    std::uint64_t spool_max_bytes_;   // [audit] spool_size; 0: no spool
    std::unique_ptr<Store> store_;
    std::unique_ptr<EventWriter> events_;
    std::unique_ptr<metrics::AuditTrailWatch> audit_watch_;  // /metrics reads events_: destroyed before it
    std::unique_ptr<MysqlRateGate> mysql_rate_gate_;  // the daemons' rate gate (null in tests)
    RateGate* rate_gate_ = nullptr;                   // the one Policy uses: mysql_rate_gate_ or the test's
    std::mutex reload_mutex_;
    std::shared_ptr<Rules> rules_;
    bool started_ = false;
};

}  // namespace relay
