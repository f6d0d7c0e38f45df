// CounterRateGate: the RateGate (core/rules/rate_gate.hpp) over any counter storage. It finds the applicable limits
// (rate_limit_scope), charges them all or none through RateCounters (rate_limit_math), turns a refusal into
// a Decision (rate_limit_reply), remembers the counters it saw so that RCPT can refuse early without the
// database, and handles an unreachable database as [rate_limits] on_rate_limits_unavailable says.
// MysqlRateGate (core/store/mysql_rate_gate.hpp) wires it to MariaDB; unit tests use MemoryRateCounters
// (tests/support/memory_rate_counters.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/rules/rate_gate.hpp"
#include "core/ratelimit/rate_lease.hpp"
#include "core/ratelimit/rate_limit_math.hpp"
#include "core/ratelimit/rate_limit_zone.hpp"

namespace relay {

class AbuseMonitor;  // abuse.hpp
class EventWriter;   // event_writer.hpp

struct CounterKey {
    Id limit_id = 0;
    Id subject_id = 0;  // smtp_authorities.id, or 0 for a shared pool
};

// When a charge must have its answer: past it, nothing more is asked of the database for it.
using ChargeDeadline = std::chrono::steady_clock::time_point;

struct CounterWrite {
    std::vector<std::optional<CounterState>> charged;  // per key: the new state, or nullopt: unchanged
    std::vector<bool> refused;                         // per key: count a refusal on this counter
};

// Where the counters live: shared by every process and host that enforces the limits.
class RateCounters {
public:
    virtual ~RateCounters() = default;
    // Atomically, also against other processes and hosts: locks the counters of keys (in the order given;
    // a counter never used starts as CounterState{}), calls decide with their current states (same order)
    // and stores what it returns, `now` being the time of the charge. decide may run more than once (a
    // deadlock is retried); only the result of its last run is stored. Throws StoreTransientError or
    // StorePermanentError when the counters cannot be reached; then nothing was stored. deadline bounds
    // the whole update, waiting included: no wait, retry or reconnect starts after it (StoreTransientError).
    virtual void update(const std::vector<CounterKey>& keys, TimePoint now,
                        const std::function<CounterWrite(const std::vector<CounterState>&)>& decide,
                        ChargeDeadline deadline) = 0;
};

struct RateGateOptions {
    TimeZone zone;                        // [rate_limits] time_zone, for calendar windows
    bool allow_when_unavailable = false;  // [rate_limits] on_rate_limits_unavailable = allow
    unsigned unavailable_allowance = 20;  // messages per account per hour this process lets through then
    std::string node;                     // relay_events.node of the events written here
    // How long a counter seen at a charge may refuse at RCPT without asking the database again. The
    // database stays the judge: this only saves sending a body that the charge would refuse.
    std::chrono::seconds peek_memory{120};
    // [rate_limits] charge_timeout: how long one charge may take, waiting for the database included.
    std::chrono::milliseconds charge_timeout{5000};
    LeaseOptions lease;  // [rate_limits] lease_size, lease_time (rate_lease.hpp)
};

class CounterRateGate final : public RateGate {
public:
    // events and abuse may be null.
    CounterRateGate(RateCounters& counters, RateGateOptions options, EventWriter* events = nullptr,
                AbuseMonitor* abuse = nullptr);

    std::optional<Decision> peek(const Request& request, const Account& account, const Snapshot& snapshot,
                                 TimePoint now) override;
    std::optional<Decision> charge(const Request& request, const Account& account, const Snapshot& snapshot,
                                   TimePoint now) override;
    bool charge_may_wait(const Request& request, const Account& account, const Snapshot& snapshot) const override;

    const RateGateOptions& options() const { return options_; }

    // Leases (rate_lease.hpp). A message whose every limit has a lease with a unit left: charged from
    // memory, nothing asked of the database; true and *decision the answer (always nullopt: accepted).
    // false: it needs a database charge (call charge()).
    bool charge_from_leases(const Request& request, const Account& account, const Snapshot& snapshot,
                            TimePoint now) override;
    // Gives back the unspent units of leases whose time is up (all of them: every lease, at shutdown), in
    // database transactions. Returns how many leases went back. Never throws: a lease that cannot be
    // returned stays unspent in the counter until it flows back.
    std::size_t return_leases(TimePoint now, bool all = false);
    LeaseBook& leases() { return leases_; }

private:
    struct Remembered {
        CounterState state;
        TimePoint seen{};
    };
    struct Outage {
        bool down = false;
        TimePoint since{}, last_report{};
        std::uint64_t allowed = 0, tempfailed = 0;
    };

    std::optional<Decision> unavailable(const Request& request, const Account& account, TimePoint now,
                                        const std::string& error);
    std::optional<Decision> contended(const Request& request, const Account& account, const std::string& error);
    void back_to_normal(TimePoint now);
    void remember(const std::vector<CounterKey>& keys, const ChargePlan& plan, TimePoint now);
    void report_shadow(const Request& request, const Account& account, const Snapshot& snapshot,
                       const std::vector<Charge>& charges, const ChargePlan& plan, TimePoint now);
    void record(const Request& request, const Account& account, Verdict verdict, Reason reason,
                const std::string& detail, TimePoint now);
    // Tells abuse detection about a refusal, once per message: a message refused at each of its 50 RCPTs
    // is one refused message, not 50.
    void observe_refusal(const Request& request, const Account& account, TimePoint now);

    RateCounters& counters_;
    RateGateOptions options_;
    EventWriter* events_;
    AbuseMonitor* abuse_;

    std::mutex mutex_;  // everything below
    std::unordered_map<std::uint64_t, Remembered> remembered_;  // key: limit id << 32 | subject id
    std::unordered_map<Id, CounterState> local_allowance_;       // per account, while the database is down
    std::unordered_map<Id, std::string> last_refused_instance_;  // per account: the message last refused
    Outage outage_;
    LeaseBook leases_;
};

}  // namespace relay
