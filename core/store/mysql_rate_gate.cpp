#include "core/store/mysql_rate_gate.hpp"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <utility>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/random_key.hpp"
#include "core/base/text.hpp"
#include "core/metrics/metrics.hpp"

namespace relay {

namespace {

// "Create the missing rows" rounds in one attempt (conflicts are retried by run_with_retry).
constexpr int kMaxAttempts = 6;
// FROM_UNIXTIME() answers NULL after 2038-01-19 on MariaDB 10.11: a suspension never reaches past that.
constexpr std::int64_t kLastDatetimeUnix = 2147483647;

std::string repeat(const std::string& item, std::size_t n, const char* separator) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += (i ? separator : "") + item;
    return out;
}

// Statements whose length depends on a count are prepared for the next power of two and the rest of the
// placeholders repeat the last item (harmless in every statement below: a repeated key selects or
// inserts nothing more, a repeated counter row writes the same state again and adds nothing), so that a
// connection keeps a handful of shapes prepared instead of one per count.
std::size_t shape(std::size_t n) {
    std::size_t s = 1;
    while (s < n) s *= 2;
    return s;
}

std::string select_counters_sql(std::size_t n) {
    return "SELECT rate_limit_id, subject_id, tat_us, period_end, used FROM rate_counters WHERE " +
           repeat("(rate_limit_id = ? AND subject_id = ?)", n, " OR ") +
           " ORDER BY rate_limit_id, subject_id FOR UPDATE";
}

std::string insert_missing_sql(std::size_t n) {
    return "INSERT IGNORE INTO rate_counters (rate_limit_id, subject_id) VALUES " + repeat("(?, ?)", n, ", ");
}

// One statement writes every changed row: the rows exist and are locked by us, so each VALUES row is an
// update. A charged row gets its new state and last_charge_at; refusals are added to the row's count
// (a row may have refused several charges of a batch); NULL times leave the column as it is.
std::string write_counters_sql(std::size_t n) {
    return "INSERT INTO rate_counters (rate_limit_id, subject_id, tat_us, period_end, used, last_charge_at, "
           "last_refusal_at, refusals) VALUES " +
           repeat("(?, ?, ?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?), ?)", n, ", ") +
           " ON DUPLICATE KEY UPDATE tat_us = VALUES(tat_us), period_end = VALUES(period_end), used = VALUES(used), "
           "last_charge_at = COALESCE(VALUES(last_charge_at), last_charge_at), "
           "last_refusal_at = COALESCE(VALUES(last_refusal_at), last_refusal_at), "
           "refusals = refusals + VALUES(refusals)";
}

std::string find_charge_keys_sql(std::size_t n) {
    return "SELECT HEX(charge_key) FROM rate_charge_keys WHERE charge_key IN (" + repeat("UNHEX(?)", n, ", ") + ")";
}

// A repeated key (padding) is the same row again: IGNORE makes it nothing. A real duplicate cannot come:
// the keys are random, and a charge whose key is already stored is not written again.
std::string insert_charge_keys_sql(std::size_t n) {
    return "INSERT IGNORE INTO rate_charge_keys (charge_key, charged_at) VALUES " +
           repeat("(UNHEX(?), FROM_UNIXTIME(?))", n, ", ");
}

const char* const kPurgeChargeKeys = "DELETE FROM rate_charge_keys WHERE charged_at < FROM_UNIXTIME(?) LIMIT 10000";

const char* const kUpsertNetworkPrefix =
    "INSERT IGNORE INTO abuse_client_networks (authority_id, network, first_seen_at, last_seen_at) VALUES ";
const char* const kUpsertNetworkRow = "(?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?))";
const char* const kUpsertNetworkSuffix = " ON DUPLICATE KEY UPDATE last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))";
const char* const kCountNetworks =
    "SELECT COUNT(*) FROM abuse_client_networks WHERE authority_id = ? AND last_seen_at >= FROM_UNIXTIME(?)";
const char* const kUpsertRefusals =
    "INSERT IGNORE INTO abuse_rate_refusals (authority_id, refused_at, refusals) VALUES (?, FROM_UNIXTIME(?), ?) "
    "ON DUPLICATE KEY UPDATE refusals = refusals + VALUES(refusals)";
const char* const kCountRefusals =
    "SELECT COALESCE(SUM(refusals), 0) FROM abuse_rate_refusals WHERE authority_id = ? AND refused_at >= FROM_UNIXTIME(?)";
const char* const kSuspend =
    "UPDATE smtp_authorities SET suspended_until = FROM_UNIXTIME(?), suspend_reason = ? "
    "WHERE id = ? AND (suspended_until IS NULL OR suspended_until <= FROM_UNIXTIME(?))";
const char* const kForgetNetworks = "DELETE FROM abuse_client_networks WHERE authority_id = ?";
const char* const kForgetRefusals = "DELETE FROM abuse_rate_refusals WHERE authority_id = ?";
const char* const kPurgeNetworks = "DELETE FROM abuse_client_networks WHERE last_seen_at < FROM_UNIXTIME(?) LIMIT 10000";
const char* const kPurgeRefusals = "DELETE FROM abuse_rate_refusals WHERE refused_at < FROM_UNIXTIME(?) LIMIT 10000";

bool key_less(const CounterKey& a, const CounterKey& b) {
    return a.limit_id != b.limit_id ? a.limit_id < b.limit_id : a.subject_id < b.subject_id;
}

bool key_equal(const CounterKey& a, const CounterKey& b) {
    return a.limit_id == b.limit_id && a.subject_id == b.subject_id;
}

// Position of key in the sorted, duplicate-free keys (it is there).
std::size_t position(const std::vector<CounterKey>& keys, const CounterKey& key) {
    return static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), key, key_less) - keys.begin());
}

// Binds keys, padded to `slots` by repeating the last one.
void bind_keys(sql::PreparedStatement& st, const std::vector<CounterKey>& keys, std::size_t slots) {
    unsigned p = 1;
    for (std::size_t i = 0; i < slots; ++i) {
        const CounterKey& k = keys[std::min(i, keys.size() - 1)];
        st.setUInt64(p++, static_cast<std::uint64_t>(k.limit_id));
        st.setUInt64(p++, static_cast<std::uint64_t>(k.subject_id));
    }
}

// Locks the rows of the sorted keys; their states in the same order. Returns the keys with no row yet.
std::vector<CounterKey> lock_counters(MysqlConnection& c, const std::vector<CounterKey>& keys,
                                      std::vector<CounterState>& states) {
    const std::size_t slots = shape(keys.size());
    sql::PreparedStatement& st = c.cached(select_counters_sql(slots));
    bind_keys(st, keys, slots);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    std::vector<bool> found(keys.size(), false);
    states.assign(keys.size(), CounterState{});
    while (rs->next()) {
        const CounterKey key{static_cast<Id>(rs->getUInt64(1)), static_cast<Id>(rs->getUInt64(2))};
        const std::size_t i = position(keys, key);
        if (i == keys.size() || !key_equal(keys[i], key)) continue;
        states[i] = CounterState{rs->getInt64(3), rs->getInt64(4), rs->getUInt64(5)};
        found[i] = true;
    }
    std::vector<CounterKey> missing;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!found[i]) missing.push_back(keys[i]);
    }
    return missing;
}

void insert_missing(MysqlConnection& c, const std::vector<CounterKey>& keys) {
    const std::size_t slots = shape(keys.size());
    sql::PreparedStatement& st = c.cached(insert_missing_sql(slots));
    bind_keys(st, keys, slots);
    st.executeUpdate();
}

std::uint64_t count(MysqlConnection& c, const char* statement, Id authority_id, TimePoint since) {
    sql::PreparedStatement& st = c.cached(statement);
    st.setUInt64(1, static_cast<std::uint64_t>(authority_id));
    st.setInt64(2, to_unix(since));
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    return rs->next() ? rs->getUInt64(1) : 0;
}

}  // namespace

// ---- MysqlRateCounters

// One caller of update(), waiting on its own stack until a transaction has decided its charge.
struct MysqlRateCounters::Waiter {
    const std::vector<CounterKey>* keys;
    TimePoint now;
    ChargeDeadline deadline;
    const std::function<CounterWrite(const std::vector<CounterState>&)>* decide;
    std::string charge_key;    // rate_charge_keys.charge_key, hex
    bool tried = false;        // was in a transaction that may have committed
    bool stored = false;       // its key was found: an earlier run committed it
    std::exception_ptr error;  // what update() throws; null: stored
    bool taken = false;        // in a batch (no longer queued)
    bool done = false;
    std::condition_variable wake;
};

// A locked counter row while a batch is decided: its state after the charges decided so far.
struct MysqlRateCounters::Row {
    CounterState state;
    bool charged = false;
    TimePoint charged_at{};
    std::uint32_t refusals = 0;
    TimePoint refused_at{};
    bool changed() const { return charged || refusals > 0; }
};

namespace {

using Decide = std::function<CounterWrite(const std::vector<CounterState>&)>;

StoreTransientError not_started() {
    return StoreTransientError("rate-limit charge not started within [rate_limits] charge_timeout: the database "
                               "did not finish the charges before it");
}

}  // namespace

MysqlRateCounters::MysqlRateCounters(MysqlPool& pool, std::size_t max_batch, unsigned max_in_flight,
                                     RetryPolicy retry)
    : pool_(pool),
      max_batch_(std::max<std::size_t>(max_batch, 1)),
      max_in_flight_(std::max(max_in_flight, 1u)),
      retry_(retry) {}

void MysqlRateCounters::update(const std::vector<CounterKey>& keys, TimePoint now, const Decide& decide,
                               ChargeDeadline deadline) {
    if (keys.empty()) return;
    Waiter me{&keys, now, deadline, &decide, random_key(), false, false, nullptr, false, false, {}};
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&me);
    while (!me.done) {
        // Still queued and no transaction of ours running (or room for one more): lead one now with
        // whatever is queued, ourselves included. Otherwise the leader of the batch we are in, or of the
        // one before us, wakes us when it is done.
        if (!me.taken && in_flight_ < max_in_flight_) {
            lead(lock);
        } else if (me.taken) {
            me.wake.wait(lock);  // our transaction runs: its retries stop at our deadline
        } else if (me.wake.wait_until(lock, deadline) == std::cv_status::timeout && !me.taken && !me.done) {
            // The transactions before us hang on the database: give up without touching it, and hand the
            // lead on in case it was ours to take.
            queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
            if (!queue_.empty() && in_flight_ < max_in_flight_) queue_.front()->wake.notify_one();
            throw not_started();
        }
    }
    lock.unlock();
    if (me.error) std::rethrow_exception(me.error);
}

// Called and returns with the lock held; runs the transaction without it.
void MysqlRateCounters::lead(std::unique_lock<std::mutex>& lock) {
    std::vector<Waiter*> batch;
    const ChargeDeadline now = std::chrono::steady_clock::now();
    while (!queue_.empty() && batch.size() < max_batch_) {
        Waiter* w = queue_.front();
        queue_.pop_front();
        if (w->deadline <= now) {  // nobody waits for its answer any more: not worth a database round trip
            w->error = std::make_exception_ptr(not_started());
            w->done = true;
            w->wake.notify_one();
            continue;
        }
        w->taken = true;
        batch.push_back(w);
    }
    if (batch.empty()) return;
    ++in_flight_;
    lock.unlock();
    run_batch(batch);
    metrics::on_charge_batch(batch.size());
    batches_ += 1;
    batched_charges_ += batch.size();
    lock.lock();
    --in_flight_;
    // Notified under the lock: a waiter cannot return (and destroy its Waiter) before we let go of it.
    for (Waiter* w : batch) {
        w->done = true;
        w->wake.notify_one();
    }
    if (!queue_.empty()) queue_.front()->wake.notify_one();  // the next leader
}

void MysqlRateCounters::run_batch(const std::vector<Waiter*>& batch) {
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + retry_.time;
    try {
        // A batch of several charges keeps half the retry time for its charges alone (below).
        run_with_retries(batch, batch.size() > 1 ? start + retry_.time / 2 : until);
        return;
    } catch (const StoreContentionError& e) {
        if (batch.size() == 1) {
            batch.front()->error = std::current_exception();
            return;
        }
        ++batches_split_;
        log_debug("rate limits: a batch of " + std::to_string(batch.size()) +
                  " charges is still in conflict, charging them one by one (" + printable(e.what(), 200) + ")");
    } catch (...) {
        // Nothing of the batch was stored, and not because of a conflict (the database is unreachable):
        // every charge in it fails alike (the caller then applies [rate_limits] on_rate_limits_unavailable).
        const std::exception_ptr error = std::current_exception();
        for (Waiter* w : batch) w->error = error;
        return;
    }
    // One conflicting charge fails alone: each gets its own transactions for the rest of the retry time
    // (at least one attempt each).
    for (Waiter* w : batch) {
        try {
            run_with_retries({w}, until);
        } catch (...) {
            w->error = std::current_exception();
        }
    }
}

void MysqlRateCounters::run_with_retries(const std::vector<Waiter*>& batch, std::chrono::steady_clock::time_point until) {
    std::vector<CounterKey> keys;  // every counter of the batch, sorted: the lock order
    for (const Waiter* w : batch) keys.insert(keys.end(), w->keys->begin(), w->keys->end());
    std::sort(keys.begin(), keys.end(), key_less);
    keys.erase(std::unique(keys.begin(), keys.end(), key_equal), keys.end());
    if (keys.empty()) return;  // update() queues no charge without keys
    // Retries stop when the last charge of the batch stops waiting for its answer.
    ChargeDeadline deadline = ChargeDeadline::min();
    for (const Waiter* w : batch) deadline = std::max(deadline, w->deadline);
    // At least one attempt, even with retry_time = 0.
    until = std::max(until, std::chrono::steady_clock::now() + std::chrono::microseconds(1));
    // Conflicts and retries of this batch go to the metrics and the once-a-minute log summary, also when
    // the retries run out (the exception passes through).
    struct Tally {
        MysqlRateCounters& self;
        const std::uint64_t conflicts_before;
        ~Tally() {
            for (auto n = self.retried_.conflicts.load() - conflicts_before; n > 0; --n) {
                self.note_conflict("conflict");
                self.note_retry();
            }
        }
    } tally{*this, retried_.conflicts.load()};
    run_with_retry(pool_, "charging rate limits (rate_counters)", until, deadline, retry_,
                   [&](MysqlConnection& c) { charge_batch(c, keys, batch); }, &retried_);
}

namespace {

// Decides one charge against the rows as the charges before it in the batch left them.
template <typename Waiter, typename Row>
void decide_one(Waiter& w, const std::vector<CounterKey>& keys, std::vector<Row>& rows) {
    w.error = nullptr;
    std::vector<std::size_t> at;
    std::vector<CounterState> states;
    for (const CounterKey& k : *w.keys) {
        at.push_back(position(keys, k));
        states.push_back(rows[at.back()].state);
    }
    CounterWrite write;
    try {
        write = (*w.decide)(states);
    } catch (...) {
        w.error = std::current_exception();  // this charge only; the others go on
        return;
    }
    for (std::size_t j = 0; j < at.size(); ++j) {
        Row& row = rows[at[j]];
        if (j < write.charged.size() && write.charged[j]) {
            row.state = *write.charged[j];
            row.charged = true;
            row.charged_at = std::max(row.charged_at, w.now);
        }
        if (j < write.refused.size() && write.refused[j]) {
            ++row.refusals;
            row.refused_at = std::max(row.refused_at, w.now);
        }
    }
}

template <typename Row>
void write_rows(MysqlConnection& c, const std::vector<CounterKey>& keys, const std::vector<Row>& rows) {
    std::vector<std::size_t> changed;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].changed()) changed.push_back(i);
    }
    if (changed.empty()) return;
    const std::size_t slots = shape(changed.size());
    sql::PreparedStatement& st = c.cached(write_counters_sql(slots));
    unsigned p = 1;
    for (std::size_t n = 0; n < slots; ++n) {
        // Padding repeats the last row with no times and no refusals: the same state written again.
        const bool pad = n >= changed.size();
        const std::size_t i = changed[std::min(n, changed.size() - 1)];
        const Row& row = rows[i];
        st.setUInt64(p++, static_cast<std::uint64_t>(keys[i].limit_id));
        st.setUInt64(p++, static_cast<std::uint64_t>(keys[i].subject_id));
        st.setInt64(p++, row.state.tat_us);
        st.setInt64(p++, row.state.period_end);
        st.setUInt64(p++, row.state.used);
        if (row.charged && !pad) st.setInt64(p++, to_unix(row.charged_at));
        else st.setNull(p++, sql::DataType::BIGINT);
        if (row.refusals > 0 && !pad) st.setInt64(p++, to_unix(row.refused_at));
        else st.setNull(p++, sql::DataType::BIGINT);
        st.setUInt(p++, pad ? 0 : row.refusals);
    }
    st.executeUpdate();
}

}  // namespace

// Looks for the keys of charges that ran before (only those can be stored already); marks the found ones.
void MysqlRateCounters::mark_stored(MysqlConnection& c, const std::vector<Waiter*>& batch) {
    std::vector<Waiter*> tried;
    for (Waiter* w : batch) {
        w->stored = false;
        if (w->tried) tried.push_back(w);
    }
    if (tried.empty()) return;
    const std::size_t slots = shape(tried.size());
    sql::PreparedStatement& st = c.cached(find_charge_keys_sql(slots));
    for (std::size_t i = 0; i < slots; ++i) st.setString(static_cast<unsigned>(i + 1), tried[std::min(i, tried.size() - 1)]->charge_key);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    while (rs->next()) {
        const std::string found = rs->getString(1);
        for (Waiter* w : tried) {
            if (w->charge_key == found) w->stored = true;
        }
    }
}

// The keys of the charges decided in this transaction (not those found stored, nor those whose decide
// threw: they changed nothing).
void MysqlRateCounters::record_keys(MysqlConnection& c, const std::vector<Waiter*>& batch) {
    std::vector<const Waiter*> decided;
    for (const Waiter* w : batch) {
        if (!w->stored && !w->error) decided.push_back(w);
    }
    if (decided.empty()) return;
    const std::size_t slots = shape(decided.size());
    sql::PreparedStatement& st = c.cached(insert_charge_keys_sql(slots));
    unsigned p = 1;
    for (std::size_t i = 0; i < slots; ++i) {
        const Waiter* w = decided[std::min(i, decided.size() - 1)];
        st.setString(p++, w->charge_key);
        st.setInt64(p++, to_unix(w->now));
    }
    st.executeUpdate();
}

void MysqlRateCounters::charge_batch(MysqlConnection& c, const std::vector<CounterKey>& keys,
                                     const std::vector<Waiter*>& batch) {
    for (int attempt = 1;; ++attempt) {
        std::vector<CounterKey> missing;
        c.transaction([&] {
            std::vector<CounterState> states;
            missing = lock_counters(c, keys, states);
            if (!missing.empty()) return;  // nothing locked worth keeping: create the rows first
            // After the locks: an earlier run of ours still committing holds them until it is done.
            mark_stored(c, batch);
            for (Waiter* w : batch) w->tried = true;  // from here on, this transaction may commit
            std::vector<Row> rows(keys.size());
            for (std::size_t i = 0; i < keys.size(); ++i) rows[i].state = states[i];
            for (Waiter* w : batch) {
                if (w->stored) {
                    w->error = nullptr;  // stored by its earlier run, whose decide() result stands
                } else {
                    decide_one(*w, keys, rows);
                }
            }
            write_rows(c, keys, rows);
            record_keys(c, batch);
            if (before_commit_) before_commit_(c, keys);
        });
        if (missing.empty()) {
            for (const Waiter* w : batch) found_stored_ += w->stored ? 1 : 0;
            if (after_commit_) after_commit_(c, keys);
            return;
        }
        if (attempt >= kMaxAttempts) {
            throw StoreTransientError("rate_counters rows could not be created (was a limit or account just "
                                      "deleted?)");
        }
        // In its own autocommit statement, so no transaction ever holds the shared lock INSERT IGNORE
        // takes on a duplicate while it waits for an exclusive one.
        insert_missing(c, missing);
    }
}

MysqlRateCounters::~MysqlRateCounters() {
    if (const auto rest = conflicts_.rest()) log_info("rate limits: charge conflicts since the last summary: " + *rest);
}

void MysqlRateCounters::note_conflict(const char* kind) {
    metrics::on_charge_conflict();
    conflicts_.add(kind);
}

void MysqlRateCounters::note_retry() {
    metrics::on_charge_retry();
    conflicts_.add("retried");
    if (const auto line = conflicts_.summary(SystemClock::now()))
        log_info("rate limits: charge conflicts (summarised at most once a minute): " + *line);
}

// ---- MysqlAbuseStore

MysqlAbuseStore::MysqlAbuseStore(MysqlPool& pool, RetryPolicy retry) : pool_(pool), retry_(retry) {}

// Observations are written by the background thread: a conflict is retried like a charge, and what still
// fails stays queued in AbuseMonitor for its next round.
void MysqlAbuseStore::run(std::string_view context, const std::function<void(MysqlConnection&)>& fn) {
    const auto now = std::chrono::steady_clock::now();
    run_with_retry(pool_, context, now + std::max(retry_.time, std::chrono::milliseconds(1)), MysqlPool::kNoDeadline,
                   retry_, fn, &retried_);
}

std::uint64_t MysqlAbuseStore::record_networks(Id authority_id, const std::vector<std::string>& networks,
                                               TimePoint now, TimePoint since) {
    std::uint64_t result = 0;
    run("recording client networks (abuse_client_networks)", [&](MysqlConnection& c) {
        if (!networks.empty()) {
            // A repeated network (padding) only sets last_seen_at to the same time again.
            const std::size_t slots = shape(networks.size());
            sql::PreparedStatement& st = c.cached(std::string(kUpsertNetworkPrefix) +
                                                  repeat(kUpsertNetworkRow, slots, ", ") + kUpsertNetworkSuffix);
            unsigned p = 1;
            for (std::size_t i = 0; i < slots; ++i) {
                st.setUInt64(p++, static_cast<std::uint64_t>(authority_id));
                st.setString(p++, networks[std::min(i, networks.size() - 1)]);
                st.setInt64(p++, to_unix(now));
                st.setInt64(p++, to_unix(now));
            }
            st.executeUpdate();
        }
        result = count(c, kCountNetworks, authority_id, since);
    });
    return result;
}

std::uint64_t MysqlAbuseStore::record_refusals(Id authority_id, std::uint64_t n, TimePoint now, TimePoint since) {
    std::uint64_t result = 0;
    run("recording rate-limit refusals (abuse_rate_refusals)", [&](MysqlConnection& c) {
        sql::PreparedStatement& st = c.cached(kUpsertRefusals);
        st.setUInt64(1, static_cast<std::uint64_t>(authority_id));
        st.setInt64(2, to_unix(now));
        st.setUInt64(3, std::min<std::uint64_t>(n, 4000000000u));
        st.executeUpdate();
        result = count(c, kCountRefusals, authority_id, since);
    });
    return result;
}

bool MysqlAbuseStore::suspend(Id authority_id, TimePoint until, const std::string& reason, TimePoint now) {
    bool done = false;
    run("suspending an account (smtp_authorities)", [&](MysqlConnection& c) {
        c.transaction([&] {
            sql::PreparedStatement& st = c.cached(kSuspend);
            st.setInt64(1, std::min(to_unix(until), kLastDatetimeUnix));
            st.setString(2, reason.substr(0, 255));
            st.setUInt64(3, static_cast<std::uint64_t>(authority_id));
            st.setInt64(4, to_unix(now));
            done = st.executeUpdate() == 1;
            if (!done) return;
            for (const char* forget : {kForgetNetworks, kForgetRefusals}) {
                sql::PreparedStatement& del = c.cached(forget);
                del.setUInt64(1, static_cast<std::uint64_t>(authority_id));
                del.executeUpdate();
            }
        });
    });
    return done;
}

void MysqlAbuseStore::purge(TimePoint networks_before, TimePoint refusals_before, TimePoint charge_keys_before) {
    run("purging old abuse observations and charge keys", [&](MysqlConnection& c) {
        const std::pair<const char*, TimePoint> purges[] = {
            {kPurgeNetworks, networks_before}, {kPurgeRefusals, refusals_before}, {kPurgeChargeKeys, charge_keys_before}};
        for (const auto& [statement, before] : purges) {
            auto st = c.prepare(statement);
            st->setInt64(1, to_unix(before));
            st->executeUpdate();
        }
    });
}

// ---- MysqlRateGate

MysqlRateGate::MysqlRateGate(const Config& config, const Clock& clock, EventWriter* events)
    : pool_(config.database), clock_(clock) {
    RateGateOptions options;
    options.zone = TimeZone::load(config.rate_limits.time_zone);
    options.allow_when_unavailable = config.rate_limits.on_rate_limits_unavailable == RateLimitsUnavailable::allow;
    options.unavailable_allowance = config.rate_limits.unavailable_allowance;
    options.node = config.general.node;
    options.charge_timeout = std::chrono::seconds(config.rate_limits.charge_timeout);
    options.lease.lease_size = config.rate_limits.lease_size;
    options.lease.lease_time = std::chrono::milliseconds(config.rate_limits.lease_time);
    // Two charge transactions at a time: while one waits for its COMMIT (the log flush), the next batch
    // already locks and decides (measured: about twice the charges per second of one at a time with
    // 16 workers, docs/performance.md). Not more: each is a connection of the pool, which the abuse
    // thread needs too.
    RetryPolicy retry;
    retry.time = std::chrono::milliseconds(config.rate_limits.retry_time);
    counters_ = std::make_unique<MysqlRateCounters>(pool_, MysqlRateCounters::kDefaultMaxBatch,
                                                    config.database.pool_size >= 3 ? 2u : 1u, retry);
    abuse_store_ = std::make_unique<MysqlAbuseStore>(pool_, retry);
    abuse_ = std::make_unique<AbuseMonitor>(*abuse_store_, config.abuse, clock, events, config.general.node);
    rate_gate_ = std::make_unique<CounterRateGate>(*counters_, std::move(options), events, abuse_.get());
}

MysqlRateGate::~MysqlRateGate() {
    stop();
    rate_gate_.reset();
    abuse_.reset();
}

std::optional<Decision> MysqlRateGate::peek(const Request& request, const Account& account, const Snapshot& snapshot,
                                            TimePoint now) {
    return rate_gate_->peek(request, account, snapshot, now);
}

bool MysqlRateGate::charge_may_wait(const Request& request, const Account& account, const Snapshot& snapshot) const {
    return rate_gate_->charge_may_wait(request, account, snapshot);
}

std::optional<Decision> MysqlRateGate::charge(const Request& request, const Account& account,
                                              const Snapshot& snapshot, TimePoint now) {
    return rate_gate_->charge(request, account, snapshot, now);
}

void MysqlRateGate::check_schema() {
    pool_.run("checking the rate-limit tables (sql/migrations/003_rate_counters.sql, 007_charge_keys.sql)", [&](MysqlConnection& c) {
        for (const std::string& statement :
             {select_counters_sql(1), insert_missing_sql(1), write_counters_sql(1), find_charge_keys_sql(1),
              insert_charge_keys_sql(1), std::string(kPurgeChargeKeys),
              std::string(kUpsertNetworkPrefix) + kUpsertNetworkRow + kUpsertNetworkSuffix, std::string(kCountNetworks),
              std::string(kUpsertRefusals), std::string(kCountRefusals), std::string(kSuspend),
              std::string(kForgetNetworks), std::string(kForgetRefusals), std::string(kPurgeNetworks),
              std::string(kPurgeRefusals)}) {
            c.prepare(statement);
        }
    });
    const RateGateOptions& o = rate_gate_->options();
    log_info("rate limits: calendar windows in time zone " + o.zone.name() + ", on_rate_limits_unavailable = " +
             (o.allow_when_unavailable ? "allow (" + std::to_string(o.unavailable_allowance) + " per account and hour)"
                                       : std::string("tempfail")) +
             (o.lease.lease_size > 1 ? ", leases of up to " + std::to_string(o.lease.lease_size) + " messages for " +
                                           std::to_string(o.lease.lease_time.count()) + " ms"
                                     : std::string(", no leases")));
}

void MysqlRateGate::start() {
    // Connections opened before a fork (check_schema, then detaching) are shared with the parent: never
    // reuse them.
    pool_.clear_idle();
    abuse_->start();
    if (rate_gate_->leases().enabled() && !lease_thread_.joinable()) {
        stopping_ = false;
        lease_thread_ = std::thread([this] {
            const auto interval = rate_gate_->leases().options().lease_time / 4;
            std::unique_lock<std::mutex> lock(lease_mutex_);
            while (!lease_wake_.wait_for(lock, interval, [this] { return stopping_; })) {
                lock.unlock();
                rate_gate_->return_leases(clock_.now());
                lock.lock();
            }
        });
    }
}

void MysqlRateGate::stop() {
    if (lease_thread_.joinable()) {
        {
            std::lock_guard<std::mutex> lock(lease_mutex_);
            stopping_ = true;
        }
        lease_wake_.notify_all();
        lease_thread_.join();
        // Every lease goes back before the process ends (a crash instead loses them until the window refills).
        const std::size_t n = rate_gate_->return_leases(clock_.now(), true);
        if (n > 0) log_info("rate limits: " + std::to_string(n) + " leases given back at shutdown");
    }
    if (abuse_) abuse_->stop();
}

bool MysqlRateGate::charge_from_leases(const Request& request, const Account& account, const Snapshot& snapshot,
                                       TimePoint now) {
    return rate_gate_->charge_from_leases(request, account, snapshot, now);
}

}  // namespace relay
