#include "core/store/heartbeat.hpp"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/metrics/metrics.hpp"
#include "core/store/mysql_connection.hpp"

namespace relay {

namespace {

// One row per node and daemon. started_at moves only on the first beat of a process (the 7th parameter).
constexpr const char* kBeat =
    "INSERT INTO nodes (node, daemon, version, started_at, last_seen_at, rules_generation, database_server, state) "
    "VALUES (?, ?, ?, NOW(), NOW(3), ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE version = VALUES(version), started_at = IF(?, NOW(), started_at), "
    "last_seen_at = NOW(3), rules_generation = VALUES(rules_generation), "
    "database_server = VALUES(database_server), state = VALUES(state)";

// The daemons that charge rate limits and beat now. nodes_last_seen narrows it to the recent rows.
constexpr const char* kLiveDaemons =
    "SELECT COUNT(*) FROM nodes WHERE last_seen_at >= NOW(3) - INTERVAL ? MICROSECOND "
    "AND daemon IN ('relay-policyd', 'relay-milter') AND state <> 'stopped'";

DatabaseConfig one_connection(DatabaseConfig config) {
    config.pool_size = 1;  // its own connection: never waits for one the requests use
    return config;
}

}  // namespace

Heartbeat::Heartbeat(const DatabaseConfig& database, NodeIdentity identity, NodeStatusSource status,
                     std::chrono::milliseconds interval)
    : pool_(std::make_unique<MysqlPool>(one_connection(database))),
      identity_(std::move(identity)),
      status_(std::move(status)),
      interval_(interval) {}

Heartbeat::~Heartbeat() { stop(); }

void Heartbeat::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
}

void Heartbeat::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) return;
        stopping_ = true;
        stopped_ = true;
    }
    wake_.notify_all();
    const bool was_running = thread_.joinable();
    if (was_running) thread_.join();
    if (was_running) beat("stopped");
}

void Heartbeat::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        const bool written = beat();
        if (count_sink_) count_sink_(written ? live_daemons() : std::nullopt);
        lock.lock();
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
}

bool Heartbeat::beat(const std::string& state_override) {
    const NodeStatus status = status_ ? status_() : NodeStatus{};
    const std::string state = state_override.empty() ? status.state : state_override;
    try {
        pool_->run("writing the heartbeat (nodes)", [&](MysqlConnection& c) {
            auto& st = c.cached(kBeat);
            st.setString(1, identity_.node);
            st.setString(2, identity_.daemon);
            st.setString(3, identity_.version);
            if (status.rules_generation) st.setUInt64(4, *status.rules_generation);
            else st.setNull(4, 0);
            st.setString(5, c.server_name());  // the server in use, as this connection found it
            st.setString(6, state);
            st.setBoolean(7, first_);
            st.executeUpdate();
        });
    } catch (const std::exception& e) {
        if (last_error_ != e.what()) log_warning(std::string("heartbeat: ") + e.what() + " (retrying every " +
                                                 std::to_string(interval_.count() / 1000) + " s)");
        last_error_ = e.what();
        return false;
    }
    metrics::on_heartbeat_written();
    if (!last_error_.empty()) log_info("heartbeat: written again to the nodes table");
    last_error_.clear();
    first_ = false;
    return true;
}

std::chrono::milliseconds Heartbeat::live_within() const {
    return 3 * std::max<std::chrono::milliseconds>(interval_, kDefaultInterval);
}

std::optional<unsigned> Heartbeat::live_daemons() {
    std::optional<unsigned> count;
    try {
        pool_->run("counting the live daemons (nodes)", [&](MysqlConnection& c) {
            auto& st = c.cached(kLiveDaemons);
            st.setUInt64(1, static_cast<std::uint64_t>(
                                std::chrono::duration_cast<std::chrono::microseconds>(live_within()).count()));
            std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
            if (rs->next()) count = static_cast<unsigned>(rs->getUInt64(1));
        });
    } catch (const std::exception& e) {
        if (last_count_error_ != e.what()) log_warning(std::string("heartbeat: ") + e.what());
        last_count_error_ = e.what();
        return std::nullopt;
    }
    last_count_error_.clear();
    return count;
}

}  // namespace relay
