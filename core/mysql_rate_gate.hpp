// Rate limits and abuse detection on MariaDB/MySQL: the counters (rate_counters) and the abuse
// observations (abuse_client_networks, abuse_rate_refusals) of sql/migrations/003_rate_counters.sql.
//
// Exactness across hosts: a charge is ONE transaction that locks every counter row of the message with
// SELECT ... FOR UPDATE, always in primary-key order (rate_limit_id, subject_id) so that two charges
// cannot deadlock each other, computes the new states in C++ (rate_limit_math) with `now` from the
// injected clock, and writes them back before COMMIT. Another process charging the same counter waits for
// the lock and then sees the committed state: there is no read-then-update race. A deadlock (possible
// with other writers, e.g. an admin's transaction) is retried a few times.
#pragma once

#include <atomic>
#include <memory>

#include "core/abuse.hpp"
#include "core/config.hpp"
#include "core/mysql_connection.hpp"
#include "core/rate_limit_gate.hpp"

namespace relay {

class MysqlRateCounters final : public RateCounters {
public:
    explicit MysqlRateCounters(MysqlPool& pool);
    void update(const std::vector<CounterKey>& keys, TimePoint now,
                const std::function<CounterWrite(const std::vector<CounterState>&)>& decide) override;
    // Deadlocks retried since start (for tests and diagnostics).
    std::uint64_t deadlocks_retried() const { return deadlocks_.load(); }

private:
    MysqlPool& pool_;
    std::atomic<std::uint64_t> deadlocks_{0};
};

class MysqlAbuseStore final : public AbuseStore {
public:
    explicit MysqlAbuseStore(MysqlPool& pool);
    std::uint64_t record_networks(Id authority_id, const std::vector<std::string>& networks, TimePoint now,
                                  TimePoint since) override;
    std::uint64_t record_refusals(Id authority_id, std::uint64_t count, TimePoint now, TimePoint since) override;
    bool suspend(Id authority_id, TimePoint until, const std::string& reason, TimePoint now) override;
    void purge(TimePoint networks_before, TimePoint refusals_before) override;

private:
    MysqlPool& pool_;
};

// What the daemons construct: `MysqlRateGate gate(config, clock, &events)`, pass &gate to Policy, call
// check_schema() at start (like the store's), start() once the process is in its final form (after
// detaching and dropping privileges), stop() at shutdown.
class MysqlRateGate final : public RateGate {
public:
    // Loads [rate_limits] time_zone (ConfigError if it cannot); opens no connection yet.
    MysqlRateGate(const Config& config, const Clock& clock, EventWriter* events);
    ~MysqlRateGate() override;

    std::optional<Decision> peek(const Request& request, const Account& account, const Snapshot& snapshot,
                                 TimePoint now) override;
    std::optional<Decision> charge(const Request& request, const Account& account, const Snapshot& snapshot,
                                   TimePoint now) override;

    // Prepares every statement once: StorePermanentError naming the missing table or privilege when the
    // schema is older than migration 003; StoreTransientError when the database does not answer.
    void check_schema();
    void start();  // the abuse detection thread
    void stop();

    MysqlPool& pool() { return pool_; }
    AbuseMonitor& abuse() { return *abuse_; }
    const MysqlRateCounters& counters() const { return *counters_; }

private:
    MysqlPool pool_;
    std::unique_ptr<MysqlRateCounters> counters_;
    std::unique_ptr<MysqlAbuseStore> abuse_store_;
    std::unique_ptr<AbuseMonitor> abuse_;
    std::unique_ptr<RateLimiter> limiter_;
};

}  // namespace relay
