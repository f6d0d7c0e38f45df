#include "core/policy/snapshot_cache.hpp"

#include <exception>
#include <utility>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/rules/sent_reply.hpp"
#include "core/metrics/metrics.hpp"

namespace relay {

namespace {

std::string describe(const SnapshotPtr& snapshot) {
    if (!snapshot) return "no relay rules are loaded yet";
    return "the relay rules of generation " + std::to_string(snapshot->generation) + " (" +
           std::to_string(snapshot->account_count()) + " accounts)";
}

std::int64_t seconds_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

}  // namespace

SnapshotCache::SnapshotCache(Store& store, CacheOptions options, const Clock& clock)
    : store_(store), options_(options), clock_(clock) {}

SnapshotCache::~SnapshotCache() { stop_polling(); }

bool SnapshotCache::refresh() {
    // Serialised: two overlapping refreshes could otherwise publish an older load after a newer one.
    std::lock_guard<std::mutex> serial(refresh_mutex_);

    // The first failure of an outage, each change of its cause (at most once per cause per minute: a
    // socket missing, then a wrong password, is two lines), and the moment the rules stop serving (past
    // max_stale). causes_ needs no lock: refresh() is serialised.
    auto note_failure = [this](const char* what, bool permanent) {
        const TimePoint now = clock_.now();
        const bool log_cause = causes_.should_log(what, now);
        std::unique_lock<std::mutex> lock(mutex_);
        const bool first = !outage_logged_;
        outage_logged_ = true;
        const bool stale = !snapshot_ || now - last_contact_ > options_.max_stale;
        // A first failure that is already past max_stale says so itself.
        const bool log_stale = stale && !stale_logged_ && snapshot_ && !first;
        if (stale) stale_logged_ = true;
        const std::string serving = describe(snapshot_);
        lock.unlock();
        const std::string refused = "authenticated mail gets " + sent_reply(fail_closed(Failure::rules_unavailable)) +
                                    " until the database answers";
        if (log_cause) {
            const std::string consequence =
                stale ? refused
                      : "keep serving " + serving + " for up to " + std::to_string(options_.max_stale.count()) +
                            " s ([cache] max_stale)";
            log(permanent ? LogLevel::error : LogLevel::warning,
                std::string(first ? "cannot refresh the relay rules: " : "cannot refresh the relay rules, now: ") +
                    what + "; " + consequence);
        }
        if (log_stale) {
            log_error("the database has not answered for more than " + std::to_string(options_.max_stale.count()) +
                      " s ([cache] max_stale): " + serving + " are no longer used, " + refused);
        }
    };

    try {
        const std::uint64_t generation = store_.generation();
        SnapshotPtr current;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            current = snapshot_;
        }
        std::shared_ptr<Snapshot> loaded;
        std::chrono::milliseconds load_time{0};
        if (!current || current->generation != generation) {
            const auto started = std::chrono::steady_clock::now();
            loaded = store_.load_snapshot();
            load_time = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
            loaded->loaded_at = clock_.now();
        }
        const TimePoint now = clock_.now();
        bool recovered = false;
        TimePoint lost_since{};
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (loaded) snapshot_ = loaded;
            recovered = outage_logged_;
            lost_since = last_contact_;
            last_contact_ = now;
            outage_logged_ = false;
            stale_logged_ = false;
            causes_.end_outage();
        }
        metrics::on_database_up(true);
        metrics::on_rules_checked();
        if (loaded) metrics::on_rules_loaded(loaded->generation, loaded->account_count(), load_time.count() / 1000.0);
        if (loaded) {
            log_info("relay rules loaded: generation " + std::to_string(loaded->generation) + ", " +
                     std::to_string(loaded->account_count()) + " accounts, " +
                     std::to_string(loaded->rate_limits.size()) + " rate limits, in " +
                     std::to_string(load_time.count()) + " ms");
        }
        if (recovered) {
            log(LogLevel::notice, "the database answers again" +
                                      (lost_since == TimePoint{} ? std::string()
                                                                 : " after " +
                                                                       std::to_string(seconds_between(lost_since, now)) +
                                                                       " s without contact"));
        }
        return true;
    } catch (const StoreTransientError& e) {
        metrics::on_database_up(false);
        note_failure(e.what(), false);
        return false;
    } catch (const StorePermanentError& e) {
        metrics::on_database_up(false);
        note_failure(e.what(), true);
        throw;
    }
}

SnapshotPtr SnapshotCache::current() const {
    const TimePoint now = clock_.now();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!snapshot_) return nullptr;
    // Fail closed: rules that could not be confirmed for longer than max_stale may have revoked accounts.
    if (now - last_contact_ > options_.max_stale) return nullptr;
    return snapshot_;
}

SnapshotPtr SnapshotCache::last_loaded() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshot_;
}

void SnapshotCache::start_polling() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (poller_.joinable()) return;
    stopping_ = false;
    poller_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            try {
                refresh();
            } catch (const StorePermanentError&) {
                // logged by refresh(); at run time a permanent error is an outage like any other
            } catch (const std::exception& e) {
                log_error(std::string("unexpected error while refreshing the relay rules: ") + e.what());
            }
            lock.lock();
            stop_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
        }
    });
}

void SnapshotCache::stop_polling() {
    std::thread poller;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        poller = std::move(poller_);
    }
    stop_cv_.notify_all();
    if (poller.joinable()) poller.join();
}

}  // namespace relay
