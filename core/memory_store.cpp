#include "core/memory_store.hpp"

#include <stdexcept>
#include <utility>

#include "core/errors.hpp"

namespace relay {

// ---- SnapshotBuilder

Id SnapshotBuilder::add_customer(const std::string& name, bool active) {
    const Id id = next_id_++;
    snapshot_.customers[id] = Customer{id, name, active};
    return id;
}

Id SnapshotBuilder::add_domain(Id customer_id, const std::string& name, bool active, bool is_local) {
    const Id id = next_id_++;
    snapshot_.domains[id] = Domain{id, customer_id, name, active, is_local};
    return id;
}

Id SnapshotBuilder::add_user(Id domain_id, const std::string& local_part, bool active) {
    const Id id = next_id_++;
    snapshot_.users[id] = User{id, domain_id, local_part, active};
    return id;
}

Id SnapshotBuilder::default_customer() {
    for (const auto& [id, c] : snapshot_.customers) {
        if (c.name == "Default customer") return id;
    }
    return add_customer("Default customer");
}

Domain& SnapshotBuilder::domain(const std::string& name) {
    const auto wanted = normalize_domain(name);
    for (auto& [id, d] : snapshot_.domains) {
        if (d.name == name || (wanted && normalize_domain(d.name) == wanted)) return d;
    }
    throw std::out_of_range("SnapshotBuilder: no domain " + name);
}

Authority& SnapshotBuilder::add_account(const std::string& login, Id customer_id) {
    const std::size_t at = login.rfind('@');
    if (at == std::string::npos || at == 0) throw std::invalid_argument("SnapshotBuilder: bad login " + login);
    const std::string domain_name = login.substr(at + 1);
    Id domain_id = 0;
    try {
        domain_id = domain(domain_name).id;
    } catch (const std::out_of_range&) {
        domain_id = add_domain(default_customer(), domain_name);
    }
    const Id user_id = add_user(domain_id, login.substr(0, at));
    const Id id = next_id_++;
    Authority& a = snapshot_.authorities[id];
    a.id = id;
    a.user_id = user_id;
    a.customer_id = customer_id != 0 ? customer_id : snapshot_.domains.at(domain_id).customer_id;
    return a;
}

Authority& SnapshotBuilder::authority(const std::string& login) {
    const AddressResult wanted = parse_address(login);
    for (auto& [id, a] : snapshot_.authorities) {
        auto u = snapshot_.users.find(a.user_id);
        if (u == snapshot_.users.end()) continue;
        auto d = snapshot_.domains.find(u->second.domain_id);
        if (d == snapshot_.domains.end()) continue;
        const AddressResult have = parse_address(u->second.local_part + "@" + d->second.name);
        if (wanted.ok && have.ok && have.address.str() == wanted.address.str()) return a;
    }
    throw std::out_of_range("SnapshotBuilder: no authority for " + login);
}

void SnapshotBuilder::add_sender(Id authority_id, const std::string& pattern) {
    std::string error;
    auto p = parse_sender_pattern(pattern, &error);
    if (!p) throw std::invalid_argument("SnapshotBuilder: sender pattern " + pattern + ": " + error);
    snapshot_.authorities.at(authority_id).senders.push_back(*p);
}

void SnapshotBuilder::add_network(Id authority_id, const std::string& cidr) {
    std::string error;
    auto c = Cidr::parse(cidr, &error);
    if (!c) throw std::invalid_argument("SnapshotBuilder: network " + cidr + ": " + error);
    snapshot_.authorities.at(authority_id).networks.push_back(*c);
}

void SnapshotBuilder::add_rate_limit(RateLimit limit) {
    if (limit.id == 0) limit.id = next_id_++;
    snapshot_.rate_limits.push_back(std::move(limit));
}

Snapshot SnapshotBuilder::build(std::vector<std::string>* warnings) const {
    Snapshot s;
    s.generation = snapshot_.generation;
    s.customers = snapshot_.customers;
    s.domains = snapshot_.domains;
    s.users = snapshot_.users;
    s.authorities = snapshot_.authorities;
    s.rate_limits = snapshot_.rate_limits;
    std::vector<std::string> found = s.build_indexes();
    if (warnings) {
        *warnings = std::move(found);
    } else if (!found.empty()) {
        throw std::invalid_argument("SnapshotBuilder: " + found.front());
    }
    return s;
}

std::shared_ptr<Snapshot> SnapshotBuilder::build_shared(std::vector<std::string>* warnings) const {
    return std::make_shared<Snapshot>(build(warnings));
}

// ---- MemoryStore

MemoryStore::MemoryStore(Snapshot rules) : rules_(std::move(rules)) {}

void MemoryStore::set_snapshot(Snapshot rules) {
    std::lock_guard<std::mutex> lock(mutex_);
    rules_ = std::move(rules);
    ++generation_;
}

void MemoryStore::bump_generation() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
}

void MemoryStore::set_failing(bool failing) {
    std::lock_guard<std::mutex> lock(mutex_);
    failing_ = failing;
}

void MemoryStore::set_permanent_failure(bool failing) {
    std::lock_guard<std::mutex> lock(mutex_);
    permanent_failure_ = failing;
}

void MemoryStore::maybe_throw(const char* what) const {
    if (permanent_failure_) throw StorePermanentError(std::string("MemoryStore: ") + what + ": permanent failure");
    if (failing_) throw StoreTransientError(std::string("MemoryStore: ") + what + ": database unavailable");
}

std::uint64_t MemoryStore::generation() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_calls_;
    maybe_throw("generation");
    return generation_;
}

std::shared_ptr<Snapshot> MemoryStore::load_snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++load_calls_;
    maybe_throw("load_snapshot");
    auto copy = std::make_shared<Snapshot>(rules_);  // the copy constructor rebuilds the indexes
    copy->generation = generation_;
    return copy;
}

void MemoryStore::record_events(const std::vector<Event>& events) {
    std::lock_guard<std::mutex> lock(mutex_);
    maybe_throw("record_events");
    events_.insert(events_.end(), events.begin(), events.end());
}

void MemoryStore::record_use(Id authority_id, TimePoint when, const std::string& client_address) {
    std::lock_guard<std::mutex> lock(mutex_);
    maybe_throw("record_use");
    uses_.push_back(Use{authority_id, when, client_address});
}

void MemoryStore::check_schema() {
    std::lock_guard<std::mutex> lock(mutex_);
    maybe_throw("check_schema");
}

std::vector<Event> MemoryStore::events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
}

std::vector<MemoryStore::Use> MemoryStore::uses() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return uses_;
}

std::size_t MemoryStore::generation_calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return generation_calls_;
}

std::size_t MemoryStore::load_calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return load_calls_;
}

}  // namespace relay
