// MemoryStore: a Store held in memory, for unit tests only (never a database in unit tests), and
// SnapshotBuilder: the quick way to write the rules a test needs.
//
//   SnapshotBuilder b;                                   // "Default customer" is created on demand
//   Id acme = b.add_customer("Acme");
//   b.add_domain(acme, "acme.example");                 // active, local
//   Authority& alice = b.add_account("alice@acme.example");   // user + authority, customer = domain's
//   alice.sender_policy = SenderPolicy::own_domain;     // tweak any field directly
//   b.add_sender(alice.id, "@acme-mail.example");
//   b.add_network(alice.id, "192.0.2.0/24");
//   Authority& printer = b.add_account("printer1@relay.example.net");  // domain created on demand
//   printer.auth_mode = AuthMode::ip;
//   Snapshot rules = b.build();                         // throws std::invalid_argument on a dangling id
//
//   MemoryStore store(b.build());                       // generation 1
//   store.set_snapshot(other);                          // new rules, generation + 1
//   store.set_failing(true);                            // every call throws StoreTransientError
//   store.events(); store.uses();                       // what was recorded
//
// All MemoryStore methods are thread-safe (SnapshotCache polls from its own thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/rules/event.hpp"
#include "core/rules/model.hpp"
#include "core/rules/store.hpp"

namespace relay {

class SnapshotBuilder {
public:
    Id add_customer(const std::string& name, bool active = true);
    // name may be a U-label or upper case: build() normalises it like the real store does.
    Id add_domain(Id customer_id, const std::string& name, bool active = true, bool is_local = true);
    Id add_user(Id domain_id, const std::string& local_part, bool active = true);
    // Creates the user (and the domain, under "Default customer", if no domain of that name exists yet)
    // and an authority with the model's defaults; customer_id 0 means the domain's customer.
    // The reference stays valid for the builder's lifetime.
    Authority& add_account(const std::string& login, Id customer_id = 0);
    void add_sender(Id authority_id, const std::string& pattern);  // throws std::invalid_argument if bad
    void add_network(Id authority_id, const std::string& cidr);    // throws std::invalid_argument if bad
    void add_rate_limit(RateLimit limit);

    // Any row, to change a field or to break a foreign key deliberately.
    Customer& customer(Id id) { return customers_.at(id); }
    Domain& domain(Id id) { return domains_.at(id); }
    Domain& domain(const std::string& name);  // throws std::out_of_range
    User& user(Id id) { return users_.at(id); }
    Authority& authority(Id id) { return authorities_.at(id); }
    Authority& authority(const std::string& login);  // throws std::out_of_range

    // A copy with indexes built. Any build_indexes() warning throws std::invalid_argument unless
    // warnings is given, in which case they are returned there.
    Snapshot build(std::vector<std::string>* warnings = nullptr) const;
    std::shared_ptr<Snapshot> build_shared(std::vector<std::string>* warnings = nullptr) const;

private:
    Id default_customer();
    Id next_id_ = 1;  // ids are unique across all tables, which makes mix-ups visible in tests
    // std::map, not the Snapshot's tables: references handed out must survive later additions.
    std::map<Id, Customer> customers_;
    std::map<Id, Domain> domains_;
    std::map<Id, User> users_;
    std::map<Id, Authority> authorities_;
    std::vector<RateLimit> rate_limits_;
};

class MemoryStore : public Store {
public:
    MemoryStore() = default;
    explicit MemoryStore(Snapshot rules);

    // Replaces the rules and bumps the generation (what an admin's SQL edit does).
    void set_snapshot(Snapshot rules);
    void bump_generation();
    void set_failing(bool failing);  // true: every Store method throws StoreTransientError
    void set_permanent_failure(bool failing);  // true: every Store method throws StorePermanentError

    std::uint64_t generation() override;
    std::shared_ptr<Snapshot> load_snapshot() override;  // a copy of the rules, generation set
    void record_events(const std::vector<Event>& events) override;
    void record_use(Id authority_id, TimePoint when, const std::string& client_address) override;
    void check_schema() override;

    struct Use {
        Id authority_id;
        TimePoint when;
        std::string client_address;
    };
    std::vector<Event> events() const;
    std::vector<Use> uses() const;
    std::size_t generation_calls() const;
    std::size_t load_calls() const;

private:
    void maybe_throw(const char* what) const;  // caller holds mutex_

    mutable std::mutex mutex_;
    Snapshot rules_;
    std::uint64_t generation_ = 1;
    bool failing_ = false;
    bool permanent_failure_ = false;
    std::vector<Event> events_;
    std::unordered_set<std::string> event_keys_;  // like relay_events' UNIQUE event_key: a key is stored once
    std::vector<Use> uses_;
    std::size_t generation_calls_ = 0;
    std::size_t load_calls_ = 0;
};

}  // namespace relay
