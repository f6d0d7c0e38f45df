#include "core/rules/event_writer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/rules/event_spool.hpp"

namespace relay {

namespace {

constexpr std::size_t kBatch = 512;                       // rows per store call (one transaction)
constexpr auto kFlushInterval = std::chrono::seconds(1);  // how long an event may wait for a full batch
constexpr auto kMaxBackoff = std::chrono::seconds(30);    // between retries while the database is down
constexpr auto kReportInterval = std::chrono::seconds(60);

bool is_refusal(const Event& e) { return e.verdict == Verdict::reject || e.verdict == Verdict::defer; }

// Length-prefixed, so no login can be crafted to look like another account's key.
void add_field(std::string& key, const std::string& value) {
    key += std::to_string(value.size());
    key += ':';
    key += value;
}

std::string repeat_key(const Event& e) {
    std::string key = std::to_string(e.authority_id) + "|" + to_string(e.stage) + "|" + to_string(e.verdict) + "|" +
                      to_string(e.reason) + "|";
    add_field(key, e.login);
    add_field(key, e.client_address);
    add_field(key, e.node);
    return key;
}

std::size_t decisions(const std::vector<Event>& events, std::size_t from, std::size_t to) {
    std::size_t n = 0;
    for (std::size_t i = from; i < to; ++i) n += events[i].repeat_count;
    return n;
}

}  // namespace

// The writer wakes early only when the queue is half full, not at every batch: rows stay open for folding
// until the flush interval (taking a row from the queue ends its folding), and half the bound stays free
// for what arrives while the rows are written.
std::size_t EventWriter::wake_at() const { return std::max<std::size_t>(1, max_queue_ / 2); }

EventWriter::EventWriter(Store& store, std::size_t max_queue) : store_(store), max_queue_(std::max<std::size_t>(max_queue, 1)) {}

EventWriter::~EventWriter() { stop(); }

void EventWriter::submit(Event event) {
    const bool refusal = is_refusal(event);
    const std::string key = refusal ? repeat_key(event) : std::string();
    std::lock_guard<std::mutex> lock(mutex_);
    if (refusal && fold_repeat(key, event)) return;
    if (events_.size() >= max_queue_) {
        drops_.queue_full += event.repeat_count;
        return;
    }
    if (refusal) open_refusals_[key] = events_.size();
    if (event.key.empty()) event.key = new_event_key();
    events_.push_back(std::move(event));
    if (events_.size() == wake_at()) cv_.notify_one();
}

bool EventWriter::fold_repeat(const std::string& key, const Event& event) {
    const auto found = open_refusals_.find(key);
    if (found == open_refusals_.end() || found->second >= events_.size()) return false;
    Event& first = events_[found->second];
    if (event.at - first.at >= kRepeatWindow || event.at < first.at) return false;
    if (first.repeat_count > UINT32_MAX - event.repeat_count) return false;
    first.repeat_count += event.repeat_count;
    return true;
}

EventWriter::Drops EventWriter::drops() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return drops_;
}

EventWriter::Figures EventWriter::figures() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return Figures{events_.size(), written_.load(), drops_, spool_bytes_.load()};
}

void EventWriter::use_spool(std::unique_ptr<EventSpool> spool) {
    spool_ = std::move(spool);
    spool_bytes_ = spool_ ? spool_->bytes() : 0;
    if (spool_ && !spool_->empty()) {
        log_info("audit trail: " + spool_->path() + " holds " + std::to_string(spool_->bytes()) +
                   " bytes of events not yet in relay_events; they are written once a database server answers");
    }
}

bool EventWriter::spool_pending() const { return spool_ && !spool_->empty(); }

// Everything queued goes to the spool, oldest first; what does not fit within its bound is dropped and
// counted (spool_full). An unwritable spool (disk full, I/O error) puts the events back: they wait in
// memory within the queue's bound, as without a spool.
bool EventWriter::spill() {
    if (!spool_) return false;
    std::vector<Event> taken;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        taken.assign(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
        events_.clear();
        open_refusals_.clear();
    }
    if (taken.empty()) return true;
    std::size_t kept = 0;
    try {
        kept = spool_->append(taken);
    } catch (const SpoolError& e) {
        log_error(std::string(e.what()) + "; the events stay in memory");
        put_back(taken, 0);
        return false;
    }
    spool_bytes_ = spool_->bytes();
    std::lock_guard<std::mutex> lock(mutex_);
    drops_.spool_full += decisions(taken, kept, taken.size());
    return true;
}

// The spool into the store, in batches, oldest first. A batch the database refuses for good (not a
// transient error) is counted as not_writable and skipped, so one bad record cannot block the rest.
void EventWriter::replay() {
    while (spool_pending()) {
        EventSpool::Batch batch = spool_->read(kBatch);
        try {
            if (!batch.events.empty()) store_.record_events(batch.events);
            written_ += decisions(batch.events, 0, batch.events.size());
        } catch (const StoreTransientError&) {
            throw;
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                drops_.not_writable += decisions(batch.events, 0, batch.events.size());
            }
            spool_->consumed(batch);
            spool_bytes_ = spool_->bytes();
            throw;
        }
        spool_->consumed(batch);
        spool_bytes_ = spool_->bytes();
        // A long replay must not overflow the queue: what arrives meanwhile goes behind it in the spool.
        bool half_full = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            half_full = events_.size() >= wake_at();
        }
        if (half_full && spool_pending()) spill();
        if (!spool_pending()) log_info("audit trail: every spooled event is in relay_events; " + spool_->path() + " emptied");
    }
}

void EventWriter::submit_use(Id authority_id, TimePoint when, std::string client_address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (uses_.size() >= max_queue_) {
        ++drops_.queue_full;
        return;
    }
    uses_.push_back(Use{authority_id, when, std::move(client_address)});
}

// The unwritten events taken[from..] go back to the front of the queue, oldest first. Newer events beyond
// the bound give way to the older ones being put back.
void EventWriter::put_back(std::vector<Event>& taken, std::size_t from) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t room = max_queue_ > events_.size() ? max_queue_ - events_.size() : 0;
    const std::size_t keep = std::min(room, taken.size() - from);
    drops_.not_writable += decisions(taken, from + keep, taken.size());
    events_.insert(events_.begin(), std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(from)),
                   std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(from + keep)));
    open_refusals_.clear();  // the positions of what arrived meanwhile moved
}

// Writes what is queued at the time of the call (not what arrives meanwhile, so it always ends), in store
// calls of kBatch rows. Everything is taken from the queue at once, so folding restarts once per flush,
// not once per batch. On a transient error the unwritten rest goes back to the front of the queue (within
// the bound) and the error is rethrown; on any other error the failing batch is counted as dropped, the
// rest goes back, and the error is rethrown.
void EventWriter::flush() {
    replay();  // older than anything queued
    std::vector<Event> taken;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        taken.assign(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
        events_.clear();
        open_refusals_.clear();  // the rows left the queue: repeats start new ones
    }
    for (std::size_t first = 0; first < taken.size();) {
        const std::size_t n = std::min(kBatch, taken.size() - first);
        std::vector<Event> batch(std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(first)),
                                 std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(first + n)));
        try {
            store_.record_events(batch);
            written_ += decisions(batch, 0, batch.size());
        } catch (const StoreTransientError&) {
            std::move(batch.begin(), batch.end(), taken.begin() + static_cast<std::ptrdiff_t>(first));
            put_back(taken, first);
            throw;
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                drops_.not_writable += decisions(batch, 0, batch.size());
            }
            put_back(taken, first + n);
            throw;
        }
        first += n;
    }

    // Last-use stamps: only the latest per account matters, all of them in one store call.
    std::vector<Store::UseStamp> uses;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::unordered_map<Id, std::size_t> latest;
        for (Use& use : uses_) {
            auto [it, inserted] = latest.emplace(use.authority_id, uses.size());
            if (inserted) uses.push_back(Store::UseStamp{use.authority_id, use.when, std::move(use.client_address)});
            else if (use.when >= uses[it->second].when) {
                uses[it->second] = Store::UseStamp{use.authority_id, use.when, std::move(use.client_address)};
            }
        }
        uses_.clear();
    }
    if (uses.empty()) return;
    try {
        store_.record_uses(uses);
    } catch (const StoreTransientError&) {
        // Back to the front (within the bound); newer stamps of the same account queued meanwhile win
        // when the next flush coalesces them.
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t k = uses.size(); k > 0 && uses_.size() < max_queue_; --k) {
            Store::UseStamp& u = uses[k - 1];
            uses_.push_front(Use{u.authority_id, u.when, std::move(u.client_address)});
        }
        throw;
    } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        drops_.not_writable += uses.size();
        throw;
    }
}

void EventWriter::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void EventWriter::stop() {
    std::thread thread;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;  // already stopped
        stopping_ = true;
        thread = std::move(thread_);
    }
    cv_.notify_all();
    if (thread.joinable()) thread.join();
    std::size_t pending = 0;
    try {
        // Events are spooled already: the queue goes behind them, and the next start replays it all.
        if (spool_pending()) spill();
        else flush();
    } catch (const std::exception& e) {
        spill();
        std::lock_guard<std::mutex> lock(mutex_);
        pending = uses_.size();
        for (const Event& e : events_) pending += e.repeat_count;
        log_error(std::string("audit trail: could not write the last events at shutdown: ") + e.what() +
                  (spool_ ? "; the events are kept in " + spool_->path() + " for the next start" : std::string()));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    drops_.not_writable += pending;
    report_drops();
}

// One line for the drops since the last report, by cause, so an admin knows whether to look at the
// database or at the load.
bool EventWriter::report_drops() {
    const std::size_t full = drops_.queue_full - reported_.queue_full;
    const std::size_t unwritable = drops_.not_writable - reported_.not_writable;
    const std::size_t spool_full = drops_.spool_full - reported_.spool_full;
    if (full + unwritable + spool_full == 0) return false;
    log_warning("audit trail: " + std::to_string(full + unwritable + spool_full) +
                " decisions or last-use stamps not written to relay_events: " + std::to_string(full) +
                " dropped because the queue was full (at most " + std::to_string(max_queue_) + " rows), " +
                std::to_string(unwritable) + " because the database did not take them" +
                (spool_ ? ", " + std::to_string(spool_full) + " because the audit spool was full (at most " +
                              std::to_string(spool_->max_bytes()) + " bytes)"
                        : std::string()));
    reported_ = drops_;
    return true;
}

void EventWriter::run() {
    using steady = std::chrono::steady_clock;
    std::chrono::seconds backoff{0};
    steady::time_point retry_at{};  // while failing: when to try the database again
    bool failing = false;
    bool spool_failed = false;      // the spool could not be written: wait for the retry, not spin
    steady::time_point last_report{};
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        if (failing) {
            // Waits for the retry; with a spool, a half-full queue moves there meanwhile.
            cv_.wait_until(lock, retry_at, [this, &spool_failed] {
                return stopping_ || (spool_ && !spool_failed && events_.size() >= wake_at());
            });
        } else {
            cv_.wait_for(lock, kFlushInterval, [this] { return stopping_ || events_.size() >= wake_at(); });
        }
        if (stopping_) break;  // stop() flushes in its own thread
        if (failing && steady::now() < retry_at) {
            lock.unlock();
            spool_failed = !spill();
            lock.lock();
            continue;
        }
        spool_failed = false;
        if (events_.empty() && uses_.empty() && !spool_pending()) continue;
        lock.unlock();
        std::string error;
        bool transient = false;
        try {
            flush();
        } catch (const StoreTransientError& e) {
            error = e.what();
            transient = true;
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (error.empty()) {
            if (failing) log_info("audit trail: writing to relay_events again");
            failing = false;
            backoff = std::chrono::seconds(0);
        } else {
            if (transient) spool_failed = spool_ && !spill();  // no server answers: on disk, not in memory
            if (!failing) {
                log_warning("audit trail: cannot write to relay_events (" + error + "); " +
                            (!transient ? std::string("those events are lost")
                             : spool_   ? "events go to " + spool_->path() + " (at most " +
                                            std::to_string(spool_->max_bytes()) + " bytes) and are written later"
                                        : "events stay queued (at most " + std::to_string(max_queue_) +
                                            ") and are retried"));
            }
            failing = true;
            backoff = transient ? std::min(kMaxBackoff, std::max(std::chrono::seconds(1), backoff * 2))
                                : std::chrono::seconds(1);
            retry_at = steady::now() + backoff;
        }
        lock.lock();
        const auto now = steady::now();
        if (now - last_report >= kReportInterval && report_drops()) last_report = now;
    }
}

}  // namespace relay
