#include "tests/support/memory_store.hpp"

#include <stdexcept>
#include <utility>

#include "core/base/errors.hpp"

namespace relay {

// ---- SnapshotBuilder

Id SnapshotBuilder::add_customer(const std::string& name, bool active) {
    const Id id = next_id_++;
    customers_[id] = Customer{id, name, active};
    return id;
}

Id SnapshotBuilder::add_domain(Id customer_id, const std::string& name, bool active, bool is_local) {
    const Id id = next_id_++;
    domains_[id] = Domain{id, customer_id, name, active, is_local};
    return id;
}

Id SnapshotBuilder::add_user(Id domain_id, const std::string& local_part, bool active) {
    const Id id = next_id_++;
    users_[id] = User{id, domain_id, local_part, active};
    return id;
}

Id SnapshotBuilder::default_customer() {
    for (const auto& [id, c] : customers_) {
        if (c.name == "Default customer") return id;
    }
    return add_customer("Default customer");
}

Domain& SnapshotBuilder::domain(const std::string& name) {
    const auto wanted = normalize_domain(name);
    for (auto& [id, d] : domains_) {
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
    Authority& a = authorities_[id];
    a.id = id;
    a.user_id = user_id;
    a.customer_id = customer_id != 0 ? customer_id : domains_.at(domain_id).customer_id;
    return a;
}

Authority& SnapshotBuilder::authority(const std::string& login) {
    const AddressResult wanted = parse_address(login);
    for (auto& [id, a] : authorities_) {
        auto u = users_.find(a.user_id);
        if (u == users_.end()) continue;
        auto d = domains_.find(u->second.domain_id);
        if (d == domains_.end()) continue;
        const AddressResult have = parse_address(u->second.local_part + "@" + d->second.name);
        if (wanted.ok && have.ok && have.address.str() == wanted.address.str()) return a;
    }
    throw std::out_of_range("SnapshotBuilder: no authority for " + login);
}

void SnapshotBuilder::add_sender(Id authority_id, const std::string& pattern) {
    std::string error;
    auto p = parse_sender_pattern(pattern, &error);
    if (!p) throw std::invalid_argument("SnapshotBuilder: sender pattern " + pattern + ": " + error);
    authorities_.at(authority_id).senders.push_back(*p);
}

void SnapshotBuilder::add_network(Id authority_id, const std::string& cidr) {
    std::string error;
    auto c = Cidr::parse(cidr, &error);
    if (!c) throw std::invalid_argument("SnapshotBuilder: network " + cidr + ": " + error);
    authorities_.at(authority_id).networks.push_back(*c);
}

void SnapshotBuilder::add_rate_limit(RateLimit limit) {
    if (limit.id == 0) limit.id = next_id_++;
    rate_limits_.push_back(std::move(limit));
}

Snapshot SnapshotBuilder::build(std::vector<std::string>* warnings) const {
    Snapshot s;
    for (const auto& [id, row] : customers_) s.customers.emplace(id, row);
    for (const auto& [id, row] : domains_) s.domains.emplace(id, row);
    for (const auto& [id, row] : users_) s.users.emplace(id, row);
    for (const auto& [id, row] : authorities_) s.authorities.emplace(id, row);
    s.rate_limits = rate_limits_;
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
    auto copy = std::make_shared<Snapshot>(rules_);  // indexes included (they hold positions, not pointers)
    copy->generation = generation_;
    return copy;
}

void MemoryStore::record_events(const std::vector<Event>& events) {
    std::lock_guard<std::mutex> lock(mutex_);
    maybe_throw("record_events");
    for (const Event& e : events) {
        if (e.key.empty() || event_keys_.insert(e.key).second) events_.push_back(e);
    }
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
