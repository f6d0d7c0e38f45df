// Rate limits and abuse detection on MariaDB/MySQL: the counters (rate_counters) and the abuse
// observations (abuse_client_networks, abuse_rate_refusals) of sql/migrations/003_rate_counters.sql.
//
// Exactness across hosts: a charge is ONE transaction that locks every counter row of the message with
// SELECT ... FOR UPDATE, always in primary-key order (rate_limit_id, subject_id) so that two charges
// cannot deadlock each other, computes the new states in C++ (rate_limit_math) with `now` from the
// injected clock, and writes them back before COMMIT. Another process charging the same counter waits for
// the lock and then sees the committed state: there is no read-then-update race. A deadlock or a lock
// wait timeout (possible with other writers, e.g. an admin's transaction) is retried a few times.
//
// Group commit: while one charge transaction of this process runs, further charges queue; the next
// transaction takes every queued charge (at most max_batch) together. It locks the union of their counter
// rows (sorted, as above), then decides the charges one after the other in memory, each seeing the
// states the previous ones left (a charge that does not fit is refused on its own, the others go on),
// writes every changed row in one statement and commits once. Each waiting caller then gets its own
// result. This is exactly what the same charges would do one transaction each in that order, so the
// guarantee above holds unchanged; it only saves the per-transaction cost (statements, commit, fsync,
// waking threads). An idle process charges at once: nobody waits for a batch to fill.
//
// Conflicts and lost servers (core/mysql_retry.hpp): a transaction that fails with a deadlock, a lock
// wait timeout, a Galera certification conflict (1213), a node not ready (1047, 1180) or a lost connection
// runs again on a fresh connection, with exponential backoff and jitter, for [rate_limits] retry_time. A
// batch gets the first half of it; if it is still in conflict then, its charges go on one transaction
// each for the rest, so that one charge on a hot counter never fails the others of its batch. Only a
// charge whose own retries run out gets an error (StoreContentionError for a conflict).
//
// Idempotency: every charge carries a random charge key, inserted into rate_charge_keys in the same
// transaction as its counters (sql/migrations/007_charge_keys.sql). A charge that runs again after a
// failure first looks for its key (after locking its counters, so an earlier COMMIT still in progress is
// waited for or caught by certification); found, the earlier run committed and the counters are not
// touched again: its decide() result from that run stands. So a COMMIT whose answer was lost is never
// counted twice.

#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "core/config/config.hpp"
#include "core/ratelimit/abuse.hpp"
#include "core/ratelimit/counter_rate_gate.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/store/mysql_retry.hpp"
#include "core/base/log_throttle.hpp"

namespace relay {

class MysqlRateCounters final : public RateCounters {
public:
    static constexpr std::size_t kDefaultMaxBatch = 64;

    // max_batch: charges per transaction at most; max_in_flight: charge transactions of this process
    // running at the same time (1: all others queue and go together in the next one).
    explicit MysqlRateCounters(MysqlPool& pool, std::size_t max_batch = kDefaultMaxBatch,
                               unsigned max_in_flight = 1, RetryPolicy retry = {});
    ~MysqlRateCounters() override;
    // A charge still queued at its deadline leaves the queue without touching the database
    // (StoreTransientError); one already in a running transaction waits for it, whose retries and
    // reconnects stop at the latest deadline of its charges.
    void update(const std::vector<CounterKey>& keys, TimePoint now,
                const std::function<CounterWrite(const std::vector<CounterState>&)>& decide,
                ChargeDeadline deadline) override;
    // Deadlocks, lock wait timeouts and certification conflicts retried since start (tests, diagnostics).
    std::uint64_t deadlocks_retried() const { return retried_.conflicts.load(); }
    const RetryCounters& retried() const { return retried_; }
    // Charges found already stored when run again (their earlier COMMIT had reached the database).
    std::uint64_t charges_found_stored() const { return found_stored_.load(); }
    // Batches split into one transaction per charge after their shared retry time ran out.
    std::uint64_t batches_split() const { return batches_split_.load(); }
    // Tests: runs inside every charge transaction after its rows are written, before COMMIT
    // (before_commit), or after COMMIT returned (after_commit), with the counters of the transaction: a
    // throw there looks like a failure at that point (sql::SQLException 1213 before COMMIT: a
    // certification conflict; 2013 after COMMIT: the answer to a COMMIT lost).
    using TestHook = std::function<void(MysqlConnection&, const std::vector<CounterKey>&)>;
    void set_test_hooks(TestHook before_commit, TestHook after_commit) {
        before_commit_ = std::move(before_commit);
        after_commit_ = std::move(after_commit);
    }
    // Transactions run and charges decided in them since start: their ratio is the mean batch size.
    std::uint64_t batches() const { return batches_.load(); }
    std::uint64_t batched_charges() const { return batched_charges_.load(); }
    // Charges waiting for a transaction now (tests).
    std::size_t queued() {
        std::lock_guard<std::mutex> lock(mutex_);
        return queue_.size();
    }

private:
    struct Waiter;
    struct Row;

    void lead(std::unique_lock<std::mutex>& lock);
    void run_batch(const std::vector<Waiter*>& batch);
    void run_with_retries(const std::vector<Waiter*>& batch, std::chrono::steady_clock::time_point until);
    void charge_batch(MysqlConnection& c, const std::vector<CounterKey>& keys, const std::vector<Waiter*>& batch);
    void mark_stored(MysqlConnection& c, const std::vector<Waiter*>& batch);
    void record_keys(MysqlConnection& c, const std::vector<Waiter*>& batch);
    // A charge transaction met a concurrent one (deadlock, lock wait timeout) / is run again: counted for
    // the metrics and summarised in the log at info level, at most once a minute.
    void note_conflict(const char* kind);
    void note_retry();

    MysqlPool& pool_;
    const std::size_t max_batch_;
    const unsigned max_in_flight_;
    std::mutex mutex_;             // queue_, in_flight_, Waiter::done
    std::deque<Waiter*> queue_;    // charges not yet taken by a transaction, oldest first
    unsigned in_flight_ = 0;
    const RetryPolicy retry_;
    RetryCounters retried_;
    std::atomic<std::uint64_t> found_stored_{0};
    std::atomic<std::uint64_t> batches_split_{0};
    TestHook before_commit_, after_commit_;
    std::atomic<std::uint64_t> batches_{0};
    std::atomic<std::uint64_t> batched_charges_{0};
    EventTally conflicts_;
};

class MysqlAbuseStore final : public AbuseStore {
public:
    explicit MysqlAbuseStore(MysqlPool& pool, RetryPolicy retry = {});
    std::uint64_t record_networks(Id authority_id, const std::vector<std::string>& networks, TimePoint now,
                                  TimePoint since) override;
    std::uint64_t record_refusals(Id authority_id, std::uint64_t count, TimePoint now, TimePoint since) override;
    bool suspend(Id authority_id, TimePoint until, const std::string& reason, TimePoint now) override;
    void purge(TimePoint networks_before, TimePoint refusals_before, TimePoint charge_keys_before) override;
    const RetryCounters& retried() const { return retried_; }

private:
    void run(std::string_view context, const std::function<void(MysqlConnection&)>& fn);

    MysqlPool& pool_;
    const RetryPolicy retry_;
    RetryCounters retried_;
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
    bool charge_may_wait(const Request& request, const Account& account, const Snapshot& snapshot) const override;

    // Prepares every statement once: StorePermanentError naming the missing table or privilege when the
    // schema is older than migration 003; StoreTransientError when the database does not answer.
    void check_schema();
    void start();  // the abuse detection thread
    void stop();

    // Leases ([rate_limits] lease_size): a message all of whose limits have a unit of this process's
    // leases is charged from memory, at once (true); false: it needs charge().
    bool charge_from_leases(const Request& request, const Account& account, const Snapshot& snapshot,
                            TimePoint now) override;

    MysqlPool& pool() { return pool_; }
    AbuseMonitor& abuse() { return *abuse_; }
    CounterRateGate& gate() { return *rate_gate_; }
    const MysqlRateCounters& counters() const { return *counters_; }

private:
    MysqlPool pool_;
    std::unique_ptr<MysqlRateCounters> counters_;
    std::unique_ptr<MysqlAbuseStore> abuse_store_;
    std::unique_ptr<AbuseMonitor> abuse_;
    std::unique_ptr<CounterRateGate> rate_gate_;
    const Clock& clock_;
    // Gives back expired leases (rate_lease.hpp) every quarter of lease_time; at stop() every lease.
    std::thread lease_thread_;
    std::mutex lease_mutex_;
    std::condition_variable lease_wake_;
    bool stopping_ = false;
};

}  // namespace relay
