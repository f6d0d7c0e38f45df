// Retrying a database write that lost to a conflict or to its server, within a bounded time.
//
// On a Galera cluster with writers on several nodes, a transaction that touched a row another node
// changed at the same time fails at COMMIT with a certification conflict (error 1213); a node that is
// joining, isolated or out of the primary component answers 1047 or 1180; a node that dies cuts the
// connection in the middle of a transaction. None of these says anything about the write itself: the same
// transaction, run again a few milliseconds later (on a fresh connection, which the pool may open to
// another server), succeeds. run_with_retry() does that with exponential backoff and random jitter (so two
// writers that collided do not collide again in step), until a retry time runs out.
//
// The caller's function must be safe to run again: a transaction that either committed entirely or not at
// all, and that recognises its own earlier COMMIT when the answer to it was lost (the rate-limit charge
// records a charge key for that, sql/migrations/007_charge_keys.sql).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/store/mysql_connection.hpp"

namespace relay {

// Why a failed statement may succeed when run again.
enum class RetryCause {
    none,             // not retryable: the error is passed on (translated) at once
    conflict,         // 1213 deadlock / certification conflict, 1205 lock wait timeout
    node_not_ready,   // 1047 WSREP not ready, 1180 error during COMMIT (not in the primary component)
    lost_connection,  // the server went away, maybe in the middle of the transaction or its COMMIT
};

RetryCause retry_cause(int error_code);

struct RetryPolicy {
    std::chrono::milliseconds time{400};  // [rate_limits] retry_time: no new attempt starts after it
    std::chrono::microseconds first_delay{2000};
    std::chrono::microseconds max_delay{64000};
};

// The pause before attempt number `attempt` + 1 (attempt >= 1): uniformly random between half and all of
// min(max_delay, first_delay * 2^(attempt - 1)).
std::chrono::microseconds retry_delay(const RetryPolicy& policy, int attempt);

struct RetryCounters {
    std::atomic<std::uint64_t> conflicts{0};        // attempts lost to a conflict and run again
    std::atomic<std::uint64_t> node_not_ready{0};
    std::atomic<std::uint64_t> lost_connections{0};
};

// Leases a connection and runs fn on it; a retryable error (above) runs fn again on a fresh connection
// after retry_delay(), as long as the next attempt starts before `until` (clamped to `deadline`, which
// bounds the lease too). A connection that could not be opened counts as a lost one. When the time is up:
// StoreContentionError if the last error was a conflict, else the error translated as usual
// (StoreTransientError / StorePermanentError). Non-retryable errors are translated at once.
void run_with_retry(MysqlPool& pool, std::string_view context, std::chrono::steady_clock::time_point until,
                    MysqlPool::Deadline deadline, const RetryPolicy& policy,
                    const std::function<void(MysqlConnection&)>& fn, RetryCounters* counters = nullptr);

}  // namespace relay
