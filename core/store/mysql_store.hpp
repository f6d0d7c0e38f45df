// The real Store: MariaDB/MySQL through Connector/C++ 1.1 (core/store/mysql_connection.hpp), prepared
// statements only. Every method leases a pooled connection for its duration, so one MysqlStore may be used
// from several threads at once (up to [database] pool_size operations in parallel).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/rules/store.hpp"

namespace relay {

// The schema_version this build needs at least (sql/migrations/NNN_*.sql; MAX(schema_version.version)).
constexpr int kRequiredSchemaVersion = 8;  // 006: users.password_changed_at, 007: rate_charge_keys, 008: event_key

// A value far in the future, for DATETIME values UNIX_TIMESTAMP() cannot express (after 2038-01-19 on
// MariaDB 10.11): 2200-01-01 00:00:00 UTC. Such a valid_until never expires, such a suspension never ends.
// (Not 9999: TimePoint counts nanoseconds in 64 bits and ends in 2262.)
constexpr std::int64_t kFarFutureUnix = 7258118400;

class MysqlStore : public Store {
public:
    explicit MysqlStore(const DatabaseConfig& config);
    ~MysqlStore() override;

    std::uint64_t generation() override;
    std::shared_ptr<Snapshot> load_snapshot() override;
    void record_events(const std::vector<Event>& events) override;
    void record_use(Id authority_id, TimePoint when, const std::string& client_address) override;
    void record_uses(const std::vector<UseStamp>& uses) override;
    void check_schema() override;

    // MAX(schema_version.version); 0 when the table is empty.
    int schema_version();
    // Round trip to the server (SELECT 1); throws like every other method. For --check-config / health.
    void ping();

    // The pool, for other store classes that share this process's connections (rate-limit counters).
    MysqlPool& pool() { return pool_; }

private:
    MysqlPool pool_;
};

}  // namespace relay
