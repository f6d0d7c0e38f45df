// The narrow interface the daemons need from the database. MysqlStore (mysql_store.hpp) is the real one;
// MemoryStore (memory_store.hpp) exists for unit tests only.
//
// Every method may throw StoreTransientError (try again later) or StorePermanentError (fix the set-up);
// nothing else escapes, in particular no sql::SQLException.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/model.hpp"

namespace relay {

class Store {
public:
    virtual ~Store() = default;

    // The change generation: moves whenever an admin edits any rule table. Cheap; polled once a second.
    virtual std::uint64_t generation() = 0;

    // All rules in one consistent read, indexes built. generation is the one read in the same transaction.
    virtual std::shared_ptr<Snapshot> load_snapshot() = 0;

    // Appends to relay_events.
    virtual void record_events(const std::vector<Event>& events) = 0;

    // Sets smtp_authorities.last_used_at / last_client_address (does not move the change generation).
    virtual void record_use(Id authority_id, TimePoint when, const std::string& client_address) = 0;

    // Refuses to go on (StorePermanentError naming the cause) when the schema is missing or older than
    // this build needs.
    virtual void check_schema() = 0;
};

}  // namespace relay
