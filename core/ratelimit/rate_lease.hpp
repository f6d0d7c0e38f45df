// Leases: a process reserves a block of a `messages` counter's allowance in the database in one
// transaction and spends it from memory, one message at a time, without a transaction per message
// ([rate_limits] lease_size, lease_time; docs/rate-limits.md "Leases").
//
// The design, in an admin's words:
// - A lease is reserved together with a message's own charge, in the same transaction (same row locks,
//   same charge key, same retries): the counter then holds the message plus the reserved block, so
//   `used` in v_rate_usage is charged + reserved. A process only ever spends what it reserved in the
//   database: with any number of processes on any number of hosts, no more than the limit is admitted.
// - Only `messages` limits that are enforced (not shadow) are leased: a message costs exactly one unit
//   there. `recipients` and `bytes` cost what the message brings (unknown in advance), and a shadow limit
//   must record what it would have refused; those are always charged in the database, and a message with
//   such a limit is charged there too (a counter of it that has a lease still spends from the lease).
// - A message is answered from memory only when every limit it is charged to has a live lease with a unit
//   left; otherwise it is charged in the database (all or nothing, as always). Refusals therefore always
//   come from the database: over the limit, the answer and the refusal count are exactly as without
//   leases.
// - The block grows while this process spends its leases before they run out (1, 2, 4, ... up to
//   lease_size - 1 on top of the message) and shrinks when a lease goes back unspent; it is never more
//   than the remaining allowance / (2 x the number of daemons charging the counters: ProcessCount), so
//   near the limit a lease is the message alone and the last units go to whichever process asks first,
//   one message at a time.
// - A lease can be spent for lease_time after it was reserved (and never after the end of the calendar
//   period it was counted in). Then what is left goes back in one transaction: on a calendar window all
//   of it, if the period has not ended; on a rolling window (GCRA) only if nobody has charged the counter
//   since (its state is exactly what the lease left), and then at most what has not flowed back by itself
//   (min(unused x W/A, tat_reserved - now)). Otherwise nothing is returned: the units flow back by
//   themselves within the window. Returning less errs on the side of the limit; returning more could
//   admit more than it, so it is never done.
// - Stopping the daemon returns every lease. A process killed while holding a lease loses at most its
//   unspent block until the window refills (the next calendar period, or W/A per unit): a crash
//   under-admits, it never over-admits.
// - Rolling windows: a unit counts from the moment it was reserved, at most lease_time before it is
//   spent. The burst (at most A at once) and the steady rate (A per W) are unchanged; over an arbitrary
//   interval of length t at most A + A*(t + lease_time)/W are admitted instead of A + A*t/W.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/ratelimit/rate_limit_math.hpp"
#include "core/rules/model.hpp"

namespace relay {

struct LeaseOptions {
    unsigned lease_size = 0;                   // [rate_limits] lease_size: 0 or 1 = no leases
    std::chrono::milliseconds lease_time{2000};  // [rate_limits] lease_time
};

// How many daemons (relay-policyd and relay-milter, on all hosts) charge the counters: the heartbeat
// counts the live rows of the nodes table (core/store/heartbeat.hpp) and hands the number here. It only
// sizes the blocks: each daemon reserves at most remaining / (2 x count), so that near the limit the
// daemons together hold no more than about half of what is left. Exactness never depends on it (a daemon
// only spends what it reserved in the database). A count above the truth only makes blocks smaller near the
// limit; one below it lets a daemon hold a little more of the rest, so another may be refused by the
// database while units sit unspent in a lease for up to lease_time: neither admits more than the limit.
// Until the first count, and whenever it cannot be read, kDefaultProcesses; never less than 1.
// Shared (std::shared_ptr) between the LeaseBook and the heartbeat's callback, which may outlive it.
class ProcessCount {
public:
    static constexpr unsigned kDefaultProcesses = 4;
    unsigned get() const { return count_.load(std::memory_order_relaxed); }
    // A count read from the database, or nullopt when it could not be read (back to the default).
    // Returns true when the number in use changed (or the first count arrived).
    bool set(std::optional<unsigned> counted);
    bool known() const { return known_.load(std::memory_order_relaxed); }

private:
    std::atomic<unsigned> count_{kDefaultProcesses};
    std::atomic<bool> known_{false};  // the number in use was counted (not the default)
};

// A lease whose time is up (or that goes back at shutdown), with what is left of it.
struct ExpiredLease {
    Id limit_id = 0, subject_id = 0;
    RateLimit limit;          // as it was when the lease was reserved
    std::uint64_t unused = 0;
    CounterState reserved;    // the counter's state right after the reservation
};

// The state a counter gets back when `lease` returns its unused units; `current` is what the counter
// holds now. Never gives back more than is still outstanding (see the design above); equal to current
// when nothing can be returned safely.
CounterState returned_state(const ExpiredLease& lease, const CounterState& current, TimePoint now);

// This process's leases, one per counter (limit, subject). Thread-safe.
class LeaseBook {
public:
    explicit LeaseBook(LeaseOptions options)
        : options_(options), processes_(std::make_shared<ProcessCount>()) {}
    bool enabled() const { return options_.lease_size > 1; }
    const LeaseOptions& options() const { return options_; }
    // Whether counters of this limit are leased at all.
    static bool leasable(const RateLimit& limit);

    struct Counter {
        Id limit_id = 0, subject_id = 0;
        const RateLimit* limit = nullptr;
    };
    // All or nothing: one unit from the live lease of every counter; false (nothing taken) when one has none.
    bool take_all(const std::vector<Counter>& counters, TimePoint now);
    // One unit from each leasable counter that has a live lease with a unit left. Per counter: the
    // generation of the lease it was taken from, 0 when none was taken.
    std::vector<std::uint64_t> take_each(const std::vector<Counter>& counters, TimePoint now);
    // The message was not charged after all: its taken units go back into their leases, if these are still
    // the same leases and live (otherwise the unit stays unspent in the database until it flows back).
    void give_back(const std::vector<Counter>& counters, const std::vector<std::uint64_t>& taken, TimePoint now);
    // Whether a live lease of this counter holds a unit (RCPT peek).
    bool holds_unit(const Counter& counter, TimePoint now);
    // Before a database charge of a counter this process has no unit of: how many units it may reserve on
    // top of the message (0: none; another charge of this process is reserving for it already). A
    // positive answer must be followed by grant() or cancel() for this counter.
    std::uint64_t plan_block(const Counter& counter);
    // The units to reserve, given the planned block, what the counter has left after the message and how
    // many daemons charge it (processes: at least 1; see ProcessCount).
    static std::uint64_t block_for(std::uint64_t planned, std::uint64_t remaining, unsigned processes);
    // The number of daemons block_for() is given; the heartbeat sets it.
    const std::shared_ptr<ProcessCount>& process_count() const { return processes_; }
    // The reservation of `units` (0: none after all) was committed; `reserved` is the counter's state
    // after it.
    void grant(const Counter& counter, std::uint64_t units, const CounterState& reserved, TimePoint now);
    void cancel(const Counter& counter);  // the planned reservation was not committed
    // Leases whose time is up and that still hold units: emptied, to be returned to the counters.
    std::vector<ExpiredLease> take_expired(TimePoint now);
    // Every lease with units left (shutdown).
    std::vector<ExpiredLease> take_all_leases();
    std::uint64_t units_held();  // tests, diagnostics

private:
    struct Lease {
        RateLimit limit;
        std::uint64_t units = 0;      // not yet spent
        CounterState reserved;
        TimePoint expires{};          // spent only before this
        TimePoint idle_since{};       // for forgetting the entry
        std::uint64_t next_block = 1;  // units to reserve next time
        std::uint64_t generation = 0;  // which reservation the units come from
        bool reserving = false;        // a charge of this process is reserving for this counter
        bool live(const RateLimit& current, TimePoint now) const;
    };
    using Key = std::pair<Id, Id>;  // limit, subject
    static ExpiredLease expire(const Key& key, Lease& lease);
    Lease* find_live(const Counter& counter, TimePoint now);

    const LeaseOptions options_;
    const std::shared_ptr<ProcessCount> processes_;
    std::mutex mutex_;
    std::map<Key, Lease> leases_;
};

}  // namespace relay
