// Holds the current rules snapshot and keeps it fresh: polls the change generation (about once a second)
// and reloads when it moves. If the database is lost the last good snapshot keeps serving for
// max_stale; past that current() returns nothing and callers answer a temporary failure. Never fails open.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/base/clock.hpp"
#include "core/rules/model.hpp"
#include "core/rules/store.hpp"
#include "core/base/log_throttle.hpp"

namespace relay {

struct CacheOptions {
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::seconds max_stale{300};   // how long the last good snapshot serves without the database
};

class SnapshotCache {
public:
    SnapshotCache(Store& store, CacheOptions options, const Clock& clock);
    ~SnapshotCache();

    // One poll: read the generation, reload if it moved (or if nothing is loaded). Returns true when the
    // store answered. Transient errors are logged (once per outage) and swallowed; permanent ones rethrown.
    bool refresh();

    // The snapshot to decide with, or nullptr when there is none or it is older than max_stale since the
    // last successful contact with the store.
    SnapshotPtr current() const;
    // The snapshot regardless of staleness (for explain/diagnostics).
    SnapshotPtr last_loaded() const;

    void start_polling();  // background thread calling refresh() every poll_interval
    void stop_polling();

private:
    Store& store_;
    CacheOptions options_;
    const Clock& clock_;
    mutable std::mutex mutex_;
    std::mutex refresh_mutex_;  // one refresh at a time, so an older load never replaces a newer one
    SnapshotPtr snapshot_;
    TimePoint last_contact_{};
    bool outage_logged_ = false;
    bool stale_logged_ = false;  // "serving nothing any more" logged for this outage
    CauseLog causes_;            // which causes of this outage were logged, and when (refresh() only)
    std::thread poller_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
};

}  // namespace relay
