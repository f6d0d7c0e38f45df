#include "core/mysql_rate_gate.hpp"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"

namespace relay {

namespace {

constexpr int kLockDeadlock = 1213;  // ER_LOCK_DEADLOCK
constexpr int kMaxAttempts = 6;      // deadlock retries and "create the missing rows" rounds, together
// FROM_UNIXTIME() answers NULL after 2038-01-19 on MariaDB 10.11: a suspension never reaches past that.
constexpr std::int64_t kLastDatetimeUnix = 2147483647;

std::string repeat(const std::string& item, std::size_t n, const char* separator) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += (i ? separator : "") + item;
    return out;
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
// update. A charged row gets its new state and last_charge_at; a refusing row keeps its state and counts
// the refusal.
std::string write_counters_sql(std::size_t n) {
    return "INSERT INTO rate_counters (rate_limit_id, subject_id, tat_us, period_end, used, last_charge_at, "
           "last_refusal_at, refusals) VALUES " +
           repeat("(?, ?, ?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?), ?)", n, ", ") +
           " ON DUPLICATE KEY UPDATE tat_us = VALUES(tat_us), period_end = VALUES(period_end), used = VALUES(used), "
           "last_charge_at = COALESCE(VALUES(last_charge_at), last_charge_at), "
           "last_refusal_at = COALESCE(VALUES(last_refusal_at), last_refusal_at), "
           "refusals = refusals + VALUES(refusals)";
}

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

void bind_keys(sql::PreparedStatement& st, const std::vector<CounterKey>& keys) {
    unsigned p = 1;
    for (const CounterKey& k : keys) {
        st.setUInt64(p++, static_cast<std::uint64_t>(k.limit_id));
        st.setUInt64(p++, static_cast<std::uint64_t>(k.subject_id));
    }
}

// The locked states in the order of keys; false when some row does not exist yet.
bool lock_counters(MysqlConnection& c, const std::vector<CounterKey>& keys, std::vector<CounterState>& states) {
    auto st = c.prepare(select_counters_sql(keys.size()));
    bind_keys(*st, keys);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    std::vector<bool> found(keys.size(), false);
    states.assign(keys.size(), CounterState{});
    while (rs->next()) {
        const Id limit = static_cast<Id>(rs->getUInt64(1));
        const Id subject = static_cast<Id>(rs->getUInt64(2));
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (keys[i].limit_id != limit || keys[i].subject_id != subject) continue;
            states[i] = CounterState{rs->getInt64(3), rs->getInt64(4), rs->getUInt64(5)};
            found[i] = true;
        }
    }
    return std::all_of(found.begin(), found.end(), [](bool f) { return f; });
}

void write_counters(MysqlConnection& c, const std::vector<CounterKey>& keys, const std::vector<CounterState>& states,
                    const CounterWrite& write, TimePoint now) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const bool charged = i < write.charged.size() && write.charged[i];
        const bool refused = i < write.refused.size() && write.refused[i];
        if (charged || refused) rows.push_back(i);
    }
    if (rows.empty()) return;
    auto st = c.prepare(write_counters_sql(rows.size()));
    unsigned p = 1;
    for (std::size_t i : rows) {
        const bool charged = i < write.charged.size() && write.charged[i];
        const bool refused = i < write.refused.size() && write.refused[i];
        const CounterState& s = charged ? *write.charged[i] : states[i];
        st->setUInt64(p++, static_cast<std::uint64_t>(keys[i].limit_id));
        st->setUInt64(p++, static_cast<std::uint64_t>(keys[i].subject_id));
        st->setInt64(p++, s.tat_us);
        st->setInt64(p++, s.period_end);
        st->setUInt64(p++, s.used);
        if (charged) st->setInt64(p++, to_unix(now));
        else st->setNull(p++, sql::DataType::BIGINT);
        if (refused) st->setInt64(p++, to_unix(now));
        else st->setNull(p++, sql::DataType::BIGINT);
        st->setUInt(p++, refused ? 1 : 0);
    }
    st->executeUpdate();
}

void insert_missing(MysqlConnection& c, const std::vector<CounterKey>& keys) {
    auto st = c.prepare(insert_missing_sql(keys.size()));
    bind_keys(*st, keys);
    st->executeUpdate();
}

std::uint64_t count(MysqlConnection& c, const char* statement, Id authority_id, TimePoint since) {
    auto st = c.prepare(statement);
    st->setUInt64(1, static_cast<std::uint64_t>(authority_id));
    st->setInt64(2, to_unix(since));
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    return rs->next() ? rs->getUInt64(1) : 0;
}

}  // namespace

// ---- MysqlRateCounters

MysqlRateCounters::MysqlRateCounters(MysqlPool& pool) : pool_(pool) {}

void MysqlRateCounters::update(const std::vector<CounterKey>& keys, TimePoint now,
                               const std::function<CounterWrite(const std::vector<CounterState>&)>& decide) {
    if (keys.empty()) return;
    // A retry after a lost connection may charge twice if the first COMMIT reached the server: rare, and
    // counting a message twice errs on the side of the limit.
    pool_.run("charging rate limits (rate_counters)", [&](MysqlConnection& c) {
        for (int attempt = 1;; ++attempt) {
            try {
                bool complete = false;
                c.transaction([&] {
                    std::vector<CounterState> states;
                    complete = lock_counters(c, keys, states);
                    if (!complete) return;  // nothing locked worth keeping: create the rows first
                    write_counters(c, keys, states, decide(states), now);
                });
                if (complete) return;
                if (attempt >= kMaxAttempts) {
                    throw StoreTransientError("rate_counters rows could not be created (was a limit or account just "
                                              "deleted?)");
                }
                // In its own autocommit statement, so no transaction ever holds the shared lock INSERT IGNORE
                // takes on a duplicate while it waits for an exclusive one.
                insert_missing(c, keys);
            } catch (const sql::SQLException& e) {
                if (e.getErrorCode() != kLockDeadlock || attempt >= kMaxAttempts) throw;
                ++deadlocks_;
                log_debug("rate limits: deadlock while charging, retrying (attempt " + std::to_string(attempt) + ")");
            }
        }
    });
}

// ---- MysqlAbuseStore

MysqlAbuseStore::MysqlAbuseStore(MysqlPool& pool) : pool_(pool) {}

std::uint64_t MysqlAbuseStore::record_networks(Id authority_id, const std::vector<std::string>& networks,
                                               TimePoint now, TimePoint since) {
    std::uint64_t result = 0;
    pool_.run("recording client networks (abuse_client_networks)", [&](MysqlConnection& c) {
        if (!networks.empty()) {
            auto st = c.prepare(std::string(kUpsertNetworkPrefix) + repeat(kUpsertNetworkRow, networks.size(), ", ") +
                                kUpsertNetworkSuffix);
            unsigned p = 1;
            for (const std::string& n : networks) {
                st->setUInt64(p++, static_cast<std::uint64_t>(authority_id));
                st->setString(p++, n);
                st->setInt64(p++, to_unix(now));
                st->setInt64(p++, to_unix(now));
            }
            st->executeUpdate();
        }
        result = count(c, kCountNetworks, authority_id, since);
    });
    return result;
}

std::uint64_t MysqlAbuseStore::record_refusals(Id authority_id, std::uint64_t n, TimePoint now, TimePoint since) {
    std::uint64_t result = 0;
    pool_.run("recording rate-limit refusals (abuse_rate_refusals)", [&](MysqlConnection& c) {
        auto st = c.prepare(kUpsertRefusals);
        st->setUInt64(1, static_cast<std::uint64_t>(authority_id));
        st->setInt64(2, to_unix(now));
        st->setUInt64(3, std::min<std::uint64_t>(n, 4000000000u));
        st->executeUpdate();
        result = count(c, kCountRefusals, authority_id, since);
    });
    return result;
}

bool MysqlAbuseStore::suspend(Id authority_id, TimePoint until, const std::string& reason, TimePoint now) {
    bool done = false;
    pool_.run("suspending an account (smtp_authorities)", [&](MysqlConnection& c) {
        c.transaction([&] {
            auto st = c.prepare(kSuspend);
            st->setInt64(1, std::min(to_unix(until), kLastDatetimeUnix));
            st->setString(2, reason.substr(0, 255));
            st->setUInt64(3, static_cast<std::uint64_t>(authority_id));
            st->setInt64(4, to_unix(now));
            done = st->executeUpdate() == 1;
            if (!done) return;
            for (const char* forget : {kForgetNetworks, kForgetRefusals}) {
                auto del = c.prepare(forget);
                del->setUInt64(1, static_cast<std::uint64_t>(authority_id));
                del->executeUpdate();
            }
        });
    }, false);
    return done;
}

void MysqlAbuseStore::purge(TimePoint networks_before, TimePoint refusals_before) {
    pool_.run("purging old abuse observations", [&](MysqlConnection& c) {
        auto a = c.prepare(kPurgeNetworks);
        a->setInt64(1, to_unix(networks_before));
        a->executeUpdate();
        auto b = c.prepare(kPurgeRefusals);
        b->setInt64(1, to_unix(refusals_before));
        b->executeUpdate();
    });
}

// ---- MysqlRateGate

MysqlRateGate::MysqlRateGate(const Config& config, const Clock& clock, EventWriter* events) : pool_(config.database) {
    RateLimiterOptions options;
    options.zone = TimeZone::load(config.rate_limits.time_zone);
    options.allow_when_unavailable = config.rate_limits.on_store_unavailable == "allow";
    options.unavailable_allowance = config.rate_limits.unavailable_allowance;
    options.node = config.general.node;
    counters_ = std::make_unique<MysqlRateCounters>(pool_);
    abuse_store_ = std::make_unique<MysqlAbuseStore>(pool_);
    abuse_ = std::make_unique<AbuseMonitor>(*abuse_store_, config.abuse, clock, events, config.general.node);
    limiter_ = std::make_unique<RateLimiter>(*counters_, std::move(options), events, abuse_.get());
}

MysqlRateGate::~MysqlRateGate() {
    stop();
    limiter_.reset();
    abuse_.reset();
}

std::optional<Decision> MysqlRateGate::peek(const Request& request, const Account& account, const Snapshot& snapshot,
                                            TimePoint now) {
    return limiter_->peek(request, account, snapshot, now);
}

std::optional<Decision> MysqlRateGate::charge(const Request& request, const Account& account,
                                              const Snapshot& snapshot, TimePoint now) {
    return limiter_->charge(request, account, snapshot, now);
}

void MysqlRateGate::check_schema() {
    pool_.run("checking the rate-limit tables (sql/migrations/003_rate_counters.sql)", [&](MysqlConnection& c) {
        for (const std::string& statement :
             {select_counters_sql(1), insert_missing_sql(1), write_counters_sql(1),
              std::string(kUpsertNetworkPrefix) + kUpsertNetworkRow + kUpsertNetworkSuffix, std::string(kCountNetworks),
              std::string(kUpsertRefusals), std::string(kCountRefusals), std::string(kSuspend),
              std::string(kForgetNetworks), std::string(kForgetRefusals), std::string(kPurgeNetworks),
              std::string(kPurgeRefusals)}) {
            c.prepare(statement);
        }
    });
    const RateLimiterOptions& o = limiter_->options();
    log_info("rate limits: calendar windows in time zone " + o.zone.name() + ", on_store_unavailable = " +
             (o.allow_when_unavailable ? "allow (" + std::to_string(o.unavailable_allowance) + " per account and hour)"
                                       : std::string("tempfail")));
}

void MysqlRateGate::start() {
    // Connections opened before a fork (check_schema, then detaching) are shared with the parent: never
    // reuse them.
    pool_.clear_idle();
    abuse_->start();
}

void MysqlRateGate::stop() {
    if (abuse_) abuse_->stop();
}

}  // namespace relay
