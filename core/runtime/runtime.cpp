#include "core/runtime/runtime.hpp"

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/text.hpp"
#include "core/config/config_checks.hpp"
#include "core/metrics/metrics.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "core/runtime/observability.hpp"
#include "core/rules/event_spool.hpp"
#include "core/rules/event_writer.hpp"
#include "core/store/mysql_rate_gate.hpp"

namespace relay {

struct Runtime::Rules {
    // cache before policy: the policy holds a reference to the cache and is destroyed first
    std::unique_ptr<SnapshotCache> cache;
    std::unique_ptr<Policy> policy;
    ~Rules() {
        policy.reset();
        if (cache) cache->stop_polling();
    }
};

CacheOptions cache_options(const CacheConfig& config) {
    CacheOptions o;
    o.poll_interval = std::chrono::milliseconds(config.poll_interval_ms);
    o.max_stale = std::chrono::seconds(config.max_stale_seconds);
    return o;
}

Runtime::Runtime(const Config& config, const StoreFactory& make_store, const Clock& clock)
    : Runtime(config, make_store(config.database), nullptr, clock) {
    // Rate limits and abuse detection: peeked at RCPT, charged at END-OF-MESSAGE (core/store/mysql_rate_gate.hpp).
    mysql_rate_gate_ = std::make_unique<MysqlRateGate>(config, clock_, events_.get());
    rate_gate_ = mysql_rate_gate_.get();
    rules_ = make_rules(cache_config_);
}

Runtime::Runtime(const Config& config, std::unique_ptr<Store> store, RateGate* rate_gate, const Clock& clock)
    : clock_(clock),
      policy_options_{config.general.node},
      cache_config_(config.cache),
      state_directory_(config.general.state_directory),
      spool_max_bytes_(parse_size_bytes(config.audit.spool_size).value_or(0)),
      store_(std::move(store)),
      events_(std::make_unique<EventWriter>(*store_)),
      audit_watch_(watch_audit_trail(*events_)),
      rate_gate_(rate_gate) {
    rules_ = make_rules(cache_config_);
}

Runtime::~Runtime() {
    stop();
    std::atomic_store(&rules_, std::shared_ptr<Rules>());
}

std::shared_ptr<Runtime::Rules> Runtime::make_rules(const CacheConfig& config) const {
    auto rules = std::make_shared<Rules>();
    rules->cache = std::make_unique<SnapshotCache>(*store_, cache_options(config), clock_);
    rules->policy = std::make_unique<Policy>(*rules->cache, clock_, policy_options_, rate_gate_, events_.get());
    return rules;
}

std::shared_ptr<Runtime::Rules> Runtime::current() const {
    return std::atomic_load(&rules_);
}

void Runtime::open() {
    try {
        store_->check_schema();
        if (mysql_rate_gate_) mysql_rate_gate_->check_schema();
    } catch (const StoreTransientError& e) {
        log_warning(std::string("database unavailable at start (") + sanitize(e.what()) +
                    "): authenticated mail gets a temporary failure until it answers");
        return;  // the rules polling loads them once it answers
    }
    current()->cache->refresh();  // StorePermanentError propagates
}

void Runtime::start(const std::string& daemon) {
    if (started_) return;
    started_ = true;
    if (spool_max_bytes_ > 0) {
        try {
            events_->use_spool(EventSpool::open(state_directory_, daemon + ".audit-spool", spool_max_bytes_));
        } catch (const SpoolError& e) {
            log_error(std::string(e.what()) + "; running without an audit spool: while no database server "
                      "answers, audit events wait in memory only (at most 10,000)");
        }
    }
    events_->start();
    if (mysql_rate_gate_) mysql_rate_gate_->start();
    current()->cache->start_polling();
}

void Runtime::stop() {
    if (!started_) return;
    started_ = false;
    current()->cache->stop_polling();
    // the rate gate before the audit trail: a last suspension event still gets written
    if (mysql_rate_gate_) mysql_rate_gate_->stop();
    events_->stop();
}

bool Runtime::reload_cache(const CacheConfig& config) {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    auto fresh = make_rules(config);
    try {
        if (!fresh->cache->refresh()) {
            log_warning("cache settings not applied: the database did not answer; send SIGHUP again later");
            return false;
        }
    } catch (const StorePermanentError& e) {
        log_error(std::string("cache settings not applied: ") + sanitize(e.what()));
        return false;
    }
    if (started_) fresh->cache->start_polling();
    std::atomic_store(&rules_, fresh);  // the old cache stops polling when its last request is done
    cache_config_ = config;
    return true;
}

Decision Runtime::evaluate(const Request& request) {
    return current()->policy->evaluate(request);
}

Decision Runtime::evaluate(const Request& request, const SnapshotPtr& pinned) {
    return current()->policy->evaluate(request, pinned);
}

std::optional<Decision> Runtime::evaluate_without_waiting(const Request& request) {
    return current()->policy->evaluate_without_waiting(request);
}

bool Runtime::may_block(const Request& request) const {
    return Policy::may_block(request, rate_gate_);
}

SnapshotPtr Runtime::rules() const {
    return current()->cache->current();
}

DaemonCountSink Runtime::lease_daemon_count() {
    if (!mysql_rate_gate_ || !mysql_rate_gate_->gate().leases().enabled()) return {};
    std::shared_ptr<ProcessCount> count = mysql_rate_gate_->gate().leases().process_count();
    metrics::set_rate_lease_processes(count->get());
    return [count](std::optional<unsigned> counted) {
        if (!count->set(counted)) return;
        const unsigned n = count->get();
        metrics::set_rate_lease_processes(n);
        if (counted)
            log_info("rate-limit leases: " + std::to_string(n) + (n == 1 ? " daemon charges" : " daemons charge") +
                     " the counters (live heartbeats in nodes): a lease is at most what is left / " +
                     std::to_string(2 * n));
        else
            log_info("rate-limit leases: the live daemons could not be counted (nodes); assuming " +
                     std::to_string(n));
    };
}

std::size_t Runtime::account_count() const {
    const SnapshotPtr snapshot = rules();
    return snapshot ? snapshot->account_count() : 0;
}

}  // namespace relay
