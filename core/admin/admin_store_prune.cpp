// AdminStore: relayctl prune. Old audit events and rate-limit bookkeeping (abuse observations, idle
// counters, charge keys) go in small batches: every
// DELETE is one autocommitted statement under READ COMMITTED (no gap locks), bounded to `batch` rows, in
// primary-key order. relay_events is walked by id ranges below the newest old id, so the daemons' inserts
// (new, higher ids) never meet a lock of ours; the other tables hold rows the daemons no longer touch.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <thread>

#include "core/admin/admin_store.hpp"
#include "core/admin/admin_store_sql.hpp"
#include "core/store/mysql_connection.hpp"

namespace relay {

using namespace admin_sql;

namespace {

// A counter is idle when its allowance is complete again (rolling: tat_us passed; calendar: its period
// ended) and nothing was charged or refused since the cutoff.
constexpr const char* kIdleCounter =
    "tat_us < FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000000) AND period_end < UNIX_TIMESTAMP() "
    "AND (last_charge_at IS NULL OR last_charge_at < FROM_UNIXTIME(?)) "
    "AND (last_refusal_at IS NULL OR last_refusal_at < FROM_UNIXTIME(?))";

std::int64_t count(MysqlConnection& c, const std::string& statement, std::int64_t cutoff, int binds) {
    auto st = c.prepare(statement);
    for (int i = 1; i <= binds; ++i) st->setInt64(i, cutoff);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    rs->next();
    return rs->isNull(1) ? 0 : rs->getInt64(1);
}

}  // namespace

AdminStore::PruneCounts AdminStore::prune(std::int64_t cutoff, std::int64_t charge_keys_cutoff, unsigned batch,
                                          std::chrono::milliseconds pause, bool dry_run) {
    PruneCounts counts;
    // One statement per lease: a batch is never part of a longer transaction. The pause comes before
    // every batch but the first, with no connection leased.
    auto run_batch = [&](const std::string& statement, const std::function<void(sql::PreparedStatement&)>& bind) {
        if (counts.batches > 0 && pause.count() > 0) std::this_thread::sleep_for(pause);
        std::int64_t deleted = 0;
        pool_->run("pruning old rows", [&](MysqlConnection& c) {
            c.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
            auto& st = c.cached(statement);
            bind(st);
            deleted = st.executeUpdate();
        });
        ++counts.batches;
        return deleted;
    };

    std::int64_t first_id = 0, last_id = 0;
    pool_->run("finding old audit events", [&](MysqlConnection& c) {
        first_id = count(c, "SELECT MIN(id) FROM relay_events", cutoff, 0);
        last_id = count(c, "SELECT MAX(id) FROM relay_events WHERE event_time < FROM_UNIXTIME(?)", cutoff, 1);
        if (!dry_run) return;
        counts.events = count(c, "SELECT COUNT(*) FROM relay_events WHERE event_time < FROM_UNIXTIME(?)", cutoff, 1);
        counts.client_networks =
            count(c, "SELECT COUNT(*) FROM abuse_client_networks WHERE last_seen_at < FROM_UNIXTIME(?)", cutoff, 1);
        counts.rate_refusals =
            count(c, "SELECT COUNT(*) FROM abuse_rate_refusals WHERE refused_at < FROM_UNIXTIME(?)", cutoff, 1);
        counts.rate_counters = count(c, std::string("SELECT COUNT(*) FROM rate_counters WHERE ") + kIdleCounter, cutoff, 2);
        counts.charge_keys = count(c, "SELECT COUNT(*) FROM rate_charge_keys WHERE charged_at < FROM_UNIXTIME(?)",
                                   charge_keys_cutoff, 1);
    });
    if (dry_run) return counts;

    for (std::int64_t from = first_id; last_id > 0 && from <= last_id; from += batch) {
        const std::int64_t to = std::min<std::int64_t>(from + batch - 1, last_id);
        counts.events += run_batch(
            "DELETE FROM relay_events WHERE id BETWEEN ? AND ? AND event_time < FROM_UNIXTIME(?)",
            [&](sql::PreparedStatement& st) {
                st.setInt64(1, from);
                st.setInt64(2, to);
                st.setInt64(3, cutoff);
            });
    }
    struct Table {
        const char* statement;
        int binds;
        std::int64_t cutoff;
        std::int64_t* counter;
    };
    const std::string counters = std::string("DELETE FROM rate_counters WHERE ") + kIdleCounter +
                                 " ORDER BY rate_limit_id, subject_id LIMIT ?";
    const Table tables[] = {
        {"DELETE FROM abuse_client_networks WHERE last_seen_at < FROM_UNIXTIME(?) ORDER BY authority_id, network "
         "LIMIT ?", 1, cutoff, &counts.client_networks},
        {"DELETE FROM abuse_rate_refusals WHERE refused_at < FROM_UNIXTIME(?) ORDER BY authority_id, refused_at "
         "LIMIT ?", 1, cutoff, &counts.rate_refusals},
        {counters.c_str(), 2, cutoff, &counts.rate_counters},
        // Oldest first along rate_charge_keys_charged: new charges insert keys of now, far from these.
        {"DELETE FROM rate_charge_keys WHERE charged_at < FROM_UNIXTIME(?) ORDER BY charged_at LIMIT ?", 1,
         charge_keys_cutoff, &counts.charge_keys},
    };
    for (const Table& t : tables) {
        std::int64_t deleted = 0;
        do {
            deleted = run_batch(t.statement, [&](sql::PreparedStatement& st) {
                for (int i = 1; i <= t.binds; ++i) st.setInt64(i, t.cutoff);
                st.setUInt(t.binds + 1, batch);
            });
            *t.counter += deleted;
        } while (deleted == static_cast<std::int64_t>(batch));
    }
    return counts;
}

}  // namespace relay
