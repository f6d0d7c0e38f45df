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

#include "core/rules/event.hpp"
#include "core/rules/model.hpp"

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

    // The same for several accounts at once (at most one stamp per account). The default calls record_use
    // for each; MysqlStore writes them with one statement. Repeating a call after an error is harmless.
    struct UseStamp {
        Id authority_id = 0;
        TimePoint when{};
        std::string client_address;
    };
    virtual void record_uses(const std::vector<UseStamp>& uses) {
        for (const UseStamp& u : uses) record_use(u.authority_id, u.when, u.client_address);
    }

    // Refuses to go on (StorePermanentError naming the cause) when the schema is missing or older than
    // this build needs.
    virtual void check_schema() = 0;
};

}  // namespace relay
