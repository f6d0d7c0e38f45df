// Writes the audit trail and last-use stamps off the request path: submit() never blocks on the database.
// A background thread batches them into the store.
//
// Keeping up with a saturated daemon: a refusal (reject/defer) that repeats one still queued, for the same
// account (authority_id and login), client address, stage, verdict and reason within kRepeatWindow of it,
// is not queued again but counted in that row's repeat_count. A flood of refusals for a few accounts
// thus costs a few rows a second, however fast it comes; allowed messages are never folded.
//
// The queue is bounded (max_queue). What cannot be kept is dropped and counted by cause, never silently:
// queue_full (submitted while the queue was full), not_writable (the database refused the rows, or
// an outage left no room to keep them for a retry) and spool_full (the audit spool reached its bound).
// The log line says how many of each, at most once a minute.
//
// With an audit spool (use_spool(), core/rules/event_spool.hpp): when a write fails because no database
// server answers (after the store's own retries), everything queued goes to the spool file instead of
// waiting in memory, and while the outage lasts the queue is moved there whenever it is half full and at
// shutdown. So a long outage, or a restart during one, loses nothing up to the spool's bound. Short
// outages (a failover within the store's retries) never touch the disk. Once a server answers, the spool
// is replayed into relay_events first, in order, then the queue; then the file is emptied. Last-use stamps
// are not spooled: one per account is kept in memory, and a lost one is only a timestamp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/rules/event.hpp"
#include "core/rules/store.hpp"

namespace relay {

class EventSpool;

class EventWriter {
public:
    explicit EventWriter(Store& store, std::size_t max_queue = 10000);
    ~EventWriter();

    struct Drops {
        std::size_t queue_full = 0;
        std::size_t not_writable = 0;
        std::size_t spool_full = 0;
    };
    static constexpr std::chrono::milliseconds kRepeatWindow{1000};

    void submit(Event event);
    void submit_use(Id authority_id, TimePoint when, std::string client_address);

    // Before start(): keep events in this spool file while no database server answers (null: none).
    void use_spool(std::unique_ptr<EventSpool> spool);

    void start();   // background thread
    void stop();    // flushes what it can, then stops
    // Writes everything spooled, then everything queued now, in the caller's thread (tests, shutdown).
    void flush();
    // Moves everything queued now to the spool (when there is one): what the writer does when a write
    // failed because no server answers. Public for tests. false: no spool, or it could not be written
    // (logged; the events stay queued).
    bool spill();
    Drops drops() const;  // since construction
    // For the metrics: events queued now, decisions written and dropped since construction.
    struct Figures {
        std::size_t queued = 0;
        std::size_t written = 0;
        Drops dropped;
        std::uint64_t spool_bytes = 0;  // in the audit spool, waiting for a database server
    };
    Figures figures() const;

private:
    struct Use { Id authority_id; TimePoint when; std::string client_address; };
    void run();
    std::size_t wake_at() const;
    void put_back(std::vector<Event>& taken, std::size_t from);
    bool fold_repeat(const std::string& key, const Event& event);  // with mutex_ held
    bool report_drops();  // with mutex_ held; false: nothing to report
    void replay();        // the spool into the store, oldest first; throws like Store::record_events
    bool spool_pending() const;
    Store& store_;
    std::size_t max_queue_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    std::deque<Use> uses_;
    // Refusals still in events_ by their repeat key -> position; cleared whenever flush() takes events
    // from the front (positions move), so a repeat arriving later simply starts a new row.
    std::unordered_map<std::string, std::size_t> open_refusals_;
    Drops drops_;
    std::atomic<std::size_t> written_{0};  // decisions (repeat counts included); flush() adds without the lock
    Drops reported_;
    bool stopping_ = false;
    std::thread thread_;
    // Used by the writer thread only (and by flush()/spill() callers when it is not running).
    std::unique_ptr<EventSpool> spool_;
    std::atomic<std::uint64_t> spool_bytes_{0};
};

}  // namespace relay
