// The rules snapshot: enum names (the SQL ENUM values) and the look-up indexes the engine uses.
#include "core/model.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace relay {
namespace {

template <typename Map>
std::vector<Id> sorted_ids(const Map& map) {
    std::vector<Id> ids;
    ids.reserve(map.size());
    for (const auto& entry : map) ids.push_back(entry.first);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::string row(const char* table, Id id) {
    return std::string(table) + " id " + std::to_string(id);
}

}  // namespace

const char* to_string(SenderPolicy p) {
    switch (p) {
        case SenderPolicy::own_address: return "own_address";
        case SenderPolicy::own_domain: return "own_domain";
        case SenderPolicy::customer_domains: return "customer_domains";
        case SenderPolicy::listed_only: return "listed_only";
    }
    return "?";
}

const char* to_string(AuthMode m) {
    switch (m) {
        case AuthMode::sasl: return "sasl";
        case AuthMode::ip: return "ip";
        case AuthMode::sasl_and_ip: return "sasl_and_ip";
    }
    return "?";
}

std::optional<SenderPolicy> sender_policy_from_string(std::string_view s) {
    for (SenderPolicy p : {SenderPolicy::own_address, SenderPolicy::own_domain, SenderPolicy::customer_domains,
                           SenderPolicy::listed_only}) {
        if (s == to_string(p)) return p;
    }
    return std::nullopt;
}

std::optional<AuthMode> auth_mode_from_string(std::string_view s) {
    for (AuthMode m : {AuthMode::sasl, AuthMode::ip, AuthMode::sasl_and_ip}) {
        if (s == to_string(m)) return m;
    }
    return std::nullopt;
}

Snapshot::Snapshot(const Snapshot& other)
    : generation(other.generation),
      loaded_at(other.loaded_at),
      customers(other.customers),
      domains(other.domains),
      users(other.users),
      authorities(other.authorities),
      rate_limits(other.rate_limits) {
    build_indexes();
}

Snapshot& Snapshot::operator=(const Snapshot& other) {
    if (this != &other) {
        Snapshot copy(other);
        *this = std::move(copy);
    }
    return *this;
}

// Rows are visited in id order so that, when two rows collide (which the database's UNIQUE keys should
// prevent), the lower id wins every time and the warning names the loser.
std::vector<std::string> Snapshot::build_indexes() {
    domain_by_name_.clear();
    authority_by_login_.clear();
    authority_by_user_.clear();
    login_by_authority_.clear();
    ip_networks_.clear();
    std::vector<std::string> warnings;

    for (Id id : sorted_ids(domains)) {
        Domain& d = domains.at(id);
        if (!customers.count(d.customer_id)) {
            warnings.push_back(row("domains", id) + " (" + printable(d.name, 100) + "): customer_id " +
                               std::to_string(d.customer_id) + " does not exist; domain ignored");
            continue;
        }
        std::string error;
        auto name = normalize_domain(d.name, &error);
        if (!name) {
            warnings.push_back(row("domains", id) + ": '" + printable(d.name, 100) +
                               "' is not a valid domain name (" + error + "); domain ignored");
            continue;
        }
        d.name = std::move(*name);
        if (!domain_by_name_.emplace(d.name, &d).second)
            warnings.push_back(row("domains", id) + ": duplicate name " + d.name + "; domain ignored");
    }
    for (auto& entry : users) entry.second.local_part = ascii_lower(entry.second.local_part);

    for (Id id : sorted_ids(authorities)) index_authority(authorities.at(id), warnings);

    std::stable_sort(ip_networks_.begin(), ip_networks_.end(), [](const auto& a, const auto& b) {
        if (a.first.prefix != b.first.prefix) return a.first.prefix > b.first.prefix;
        return a.second->id < b.second->id;
    });
    return warnings;
}

void Snapshot::index_authority(const Authority& a, std::vector<std::string>& warnings) {
    const std::string name = row("smtp_authorities", a.id);
    auto user = users.find(a.user_id);
    if (user == users.end()) {
        warnings.push_back(name + ": user_id " + std::to_string(a.user_id) + " does not exist; ignored");
        return;
    }
    auto domain = domains.find(user->second.domain_id);
    if (domain == domains.end() || find_domain(domain->second.name) != &domain->second) {
        warnings.push_back(name + ": the domain of user id " + std::to_string(a.user_id) +
                           " does not exist or is ignored; ignored");
        return;
    }
    if (!customers.count(a.customer_id)) {
        warnings.push_back(name + ": customer_id " + std::to_string(a.customer_id) + " does not exist; ignored");
        return;
    }
    // The login key is the parsed form of local_part@domain, exactly what find_account() computes from a
    // login as typed, so quoting and case can never make the two disagree.
    const AddressResult login = parse_address(user->second.local_part + "@" + domain->second.name);
    if (!login.ok) {
        warnings.push_back(name + ": login of user id " + std::to_string(a.user_id) + " is not a valid address (" +
                           login.error + "); ignored");
        return;
    }
    const std::string key = login.address.str();
    if (authority_by_user_.count(a.user_id) || authority_by_login_.count(key)) {
        warnings.push_back(name + ": a second authority for " + key + "; ignored");
        return;
    }
    authority_by_user_.emplace(a.user_id, &a);
    authority_by_login_.emplace(key, &a);
    login_by_authority_.emplace(a.id, key);
    if (a.active && a.auth_mode == AuthMode::ip) {
        for (const Cidr& net : a.networks) ip_networks_.emplace_back(net, &a);
    }
}

const Domain* Snapshot::find_domain(const std::string& normalised_name) const {
    auto it = domain_by_name_.find(normalised_name);
    return it == domain_by_name_.end() ? nullptr : it->second;
}

std::optional<Account> Snapshot::find_account(std::string_view login) const {
    const AddressResult parsed = parse_address(login);
    if (!parsed.ok) return std::nullopt;
    auto it = authority_by_login_.find(parsed.address.str());
    if (it == authority_by_login_.end()) return std::nullopt;
    return account_by_authority(it->second->id);
}

std::optional<Account> Snapshot::account_by_authority(Id authority_id) const {
    auto login = login_by_authority_.find(authority_id);
    if (login == login_by_authority_.end()) return std::nullopt;
    // Everything below was checked by build_indexes(), so at() cannot throw for an indexed authority.
    Account account;
    account.authority = &authorities.at(authority_id);
    account.user = &users.at(account.authority->user_id);
    account.domain = &domains.at(account.user->domain_id);
    account.customer = &customers.at(account.authority->customer_id);
    account.login = login->second;
    return account;
}

std::vector<std::pair<const Authority*, unsigned>> Snapshot::ip_accounts_for(const IpAddress& client) const {
    std::vector<std::pair<const Authority*, unsigned>> out;
    for (const auto& [net, authority] : ip_networks_) {
        if (!net.contains(client)) continue;
        // ip_networks_ is sorted by prefix, so the first hit per authority is its most specific one.
        const bool seen = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == authority; });
        if (!seen) out.emplace_back(authority, net.prefix);
    }
    return out;
}

bool Snapshot::is_local_domain(const std::string& normalised_name) const {
    const Domain* d = find_domain(normalised_name);
    return d != nullptr && d->is_local;
}

}  // namespace relay
