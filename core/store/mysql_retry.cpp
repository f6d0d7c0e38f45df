#include "core/store/mysql_retry.hpp"

#include <cppconn/exception.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/text.hpp"

namespace relay {

namespace {

// MariaDB's include/mysqld_error.h and errmsg.h.
enum : int {
    kUnknownComError = 1047,  // Galera: "WSREP has not yet prepared node for application use"
    kServerShutdown = 1053,
    kNetReadError = 1158,
    kNetReadInterrupted = 1159,
    kNetWriteError = 1160,
    kNetWriteInterrupted = 1161,
    kErrorDuringCommit = 1180,  // Galera: COMMIT outside the primary component
    kLockWaitTimeout = 1205,
    kLockDeadlock = 1213,       // also Galera's certification conflict and brute-force abort
    kConnectionKilled = 1927,
    kClientInteractionTimeout = 4031,
    kServerGone = 2006,
    kServerLost = 2013,
    kServerLostExtended = 2055,
};

std::uint64_t random_below(std::uint64_t bound) {
    static std::mutex mutex;
    static std::mt19937_64 generator{std::random_device{}()};
    std::lock_guard<std::mutex> lock(mutex);
    return std::uniform_int_distribution<std::uint64_t>(0, bound)(generator);
}

const char* describe(RetryCause cause) {
    switch (cause) {
        case RetryCause::conflict: return "a conflict";
        case RetryCause::node_not_ready: return "a node not ready";
        case RetryCause::lost_connection: return "a lost connection";
        case RetryCause::none: break;
    }
    return "an error";
}

void count(RetryCounters* counters, RetryCause cause) {
    if (!counters) return;
    switch (cause) {
        case RetryCause::conflict: ++counters->conflicts; break;
        case RetryCause::node_not_ready: ++counters->node_not_ready; break;
        case RetryCause::lost_connection: ++counters->lost_connections; break;
        case RetryCause::none: break;
    }
}

}  // namespace

RetryCause retry_cause(int code) {
    switch (code) {
        case kLockDeadlock:
        case kLockWaitTimeout:
            return RetryCause::conflict;
        case kUnknownComError:
        case kErrorDuringCommit:
            return RetryCause::node_not_ready;
        case kServerShutdown:
        case kNetReadError:
        case kNetReadInterrupted:
        case kNetWriteError:
        case kNetWriteInterrupted:
        case kConnectionKilled:
        case kClientInteractionTimeout:
        case kServerGone:
        case kServerLost:
        case kServerLostExtended:
            return RetryCause::lost_connection;
        default:
            return RetryCause::none;
    }
}

std::chrono::microseconds retry_delay(const RetryPolicy& policy, int attempt) {
    std::chrono::microseconds cap = policy.first_delay;
    for (int i = 1; i < attempt && cap < policy.max_delay; ++i) cap *= 2;
    cap = std::min(cap, policy.max_delay);
    const auto half = cap.count() / 2;
    return std::chrono::microseconds(half + static_cast<std::int64_t>(random_below(static_cast<std::uint64_t>(cap.count() - half))));
}

void run_with_retry(MysqlPool& pool, std::string_view context, std::chrono::steady_clock::time_point until,
                    MysqlPool::Deadline deadline, const RetryPolicy& policy,
                    const std::function<void(MysqlConnection&)>& fn, RetryCounters* counters) {
    until = std::min(until, deadline);
    for (int attempt = 1;; ++attempt) {
        const auto delay = retry_delay(policy, attempt);
        std::optional<MysqlPool::Lease> lease;
        try {
            lease.emplace(pool.lease(deadline));
        } catch (const StoreTransientError&) {
            // No connection could be opened (the server went away between attempts): the next lease may
            // reach it again, or another server.
            if (std::chrono::steady_clock::now() + delay >= until) throw;
            count(counters, RetryCause::lost_connection);
            std::this_thread::sleep_for(delay);
            continue;
        }
        try {
            fn(**lease);
            return;
        } catch (const sql::SQLException& e) {
            const int code = e.getErrorCode();
            const RetryCause cause = retry_cause(code);
            // Whatever state the session is in now, the next attempt starts on a fresh one.
            if (cause != RetryCause::conflict || sql_error_breaks_connection(code)) (*lease)->mark_broken();
            lease.reset();
            if (cause == RetryCause::lost_connection || cause == RetryCause::node_not_ready) pool.clear_idle();
            if (cause == RetryCause::none || std::chrono::steady_clock::now() + delay >= until) {
                if (cause == RetryCause::conflict) {
                    throw StoreContentionError(std::string(context) + ": still conflicting with other writers after " +
                                               std::to_string(attempt) + " attempts (" + printable(e.what(), 200) +
                                               "; MariaDB error " + std::to_string(code) + ")");
                }
                if (cause == RetryCause::node_not_ready) {
                    // A cluster node that is joining, isolated or outside the primary component: temporary,
                    // whatever the error number says elsewhere (what stays queued is written later).
                    throw StoreTransientError(std::string(context) + ": the database node at " +
                                              describe_endpoint(pool.config()) + " is not ready (" +
                                              printable(e.what(), 200) + "; MariaDB error " + std::to_string(code) +
                                              ")");
                }
                throw_translated(e, pool.config(), context);
            }
            log_debug(std::string(context) + ": " + describe(cause) + " (MariaDB error " + std::to_string(code) +
                      "), attempt " + std::to_string(attempt) + " runs again");
            count(counters, cause);
            std::this_thread::sleep_for(delay);
        }
    }
}

}  // namespace relay
