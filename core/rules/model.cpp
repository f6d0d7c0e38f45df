// The rules snapshot: enum names (the SQL ENUM values) and the look-up indexes the engine uses.
#include "core/rules/model.hpp"

#include <algorithm>

#include "core/base/text.hpp"

namespace relay {
namespace {

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

// Rows are visited in id order so that, when two rows collide (which the database's UNIQUE keys should
// prevent), the lower id wins every time and the warning names the loser.
std::vector<std::string> Snapshot::build_indexes() {
    links_.assign(authorities.size(), AccountLinks{});
    logins_.clear();
    account_count_ = 0;
    ip_networks_.clear();
    disabled_ip_networks_.clear();
    std::vector<std::string> warnings;

    index_domains(warnings);
    for (auto& entry : users) entry.second.local_part = ascii_lower(entry.second.local_part);

    authority_by_login_.reset(authorities.size());
    logins_.reserve(authorities.size() * 24);
    std::vector<bool> user_taken(users.size(), false);
    for (std::size_t i = 0; i < authorities.size(); ++i) index_authority(i, warnings, user_taken);
    logins_.shrink_to_fit();

    for (auto* networks : {&ip_networks_, &disabled_ip_networks_}) {
        std::stable_sort(networks->begin(), networks->end(), [this](const auto& a, const auto& b) {
            if (a.first.prefix != b.first.prefix) return a.first.prefix > b.first.prefix;
            return authorities.row_at(a.second).first < authorities.row_at(b.second).first;
        });
        networks->shrink_to_fit();
    }
    return warnings;
}

void Snapshot::index_domains(std::vector<std::string>& warnings) {
    domain_by_name_.reset(domains.size());
    domain_customer_.assign(domains.size(), kNone);
    const auto name_at = [this](std::uint32_t position) { return domain_name_at(position); };
    for (std::size_t position = 0; position < domains.size(); ++position) {
        auto& [id, d] = domains.row_at(position);
        auto customer = customers.find(d.customer_id);
        if (customer == customers.end()) {
            warnings.push_back(row("domains", id) + " (" + printable(d.name, 100) + "): customer_id " +
                               std::to_string(d.customer_id) + " does not exist; domain ignored");
            continue;
        }
        domain_customer_[position] = static_cast<std::uint32_t>(customers.position(customer));
        std::string error;
        auto name = normalize_domain(d.name, &error);
        if (!name) {
            warnings.push_back(row("domains", id) + ": '" + printable(d.name, 100) +
                               "' is not a valid domain name (" + error + "); domain ignored");
            continue;
        }
        d.name = std::move(*name);
        if (!domain_by_name_.insert(d.name, static_cast<std::uint32_t>(position), name_at))
            warnings.push_back(row("domains", id) + ": duplicate name " + d.name + "; domain ignored");
    }
}

void Snapshot::index_authority(std::size_t position, std::vector<std::string>& warnings,
                               std::vector<bool>& user_taken) {
    const Authority& a = authorities.row_at(position).second;
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
    auto customer = customers.find(a.customer_id);
    if (customer == customers.end()) {
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
    const std::size_t user_position = users.position(user);
    const auto login_at = [this](std::uint32_t p) { return login_of(p); };
    if (user_taken[user_position] || authority_by_login_.find(key, login_at) != kNone) {
        warnings.push_back(name + ": a second authority for " + key + "; ignored");
        return;
    }
    AccountLinks& links = links_[position];
    links.user = static_cast<std::uint32_t>(user_position);
    links.domain = static_cast<std::uint32_t>(domains.position(domain));
    links.customer = static_cast<std::uint32_t>(customers.position(customer));
    links.login_offset = static_cast<std::uint32_t>(logins_.size());
    links.login_size = static_cast<std::uint32_t>(key.size());
    logins_ += key;
    authority_by_login_.insert(key, static_cast<std::uint32_t>(position), login_at);
    user_taken[user_position] = true;
    ++account_count_;
    if (a.auth_mode == AuthMode::ip) {
        // Disabled ones apart: rule 1 names one only when no active account covers the client address.
        auto& networks = a.active ? ip_networks_ : disabled_ip_networks_;
        for (const Cidr& net : a.networks) networks.emplace_back(net, static_cast<std::uint32_t>(position));
    }
}

std::string_view Snapshot::login_of(std::uint32_t authority_position) const {
    const AccountLinks& links = links_[authority_position];
    return std::string_view(logins_).substr(links.login_offset, links.login_size);
}

Account Snapshot::account_at(std::uint32_t authority_position) const {
    const AccountLinks& links = links_[authority_position];
    Account account;
    account.authority = &authorities.row_at(authority_position).second;
    account.user = &users.row_at(links.user).second;
    account.domain = &domains.row_at(links.domain).second;
    account.customer = &customers.row_at(links.customer).second;
    account.login = std::string(login_of(authority_position));
    // Indexed accounts only have domains whose customer exists (index_domains checked it).
    account.domain_customer = &customers.row_at(domain_customer_[links.domain]).second;
    return account;
}

const Domain* Snapshot::find_domain(std::string_view normalised_name) const {
    const std::uint32_t position =
        domain_by_name_.find(normalised_name, [this](std::uint32_t p) { return domain_name_at(p); });
    return position == kNone ? nullptr : &domains.row_at(position).second;
}

std::optional<Account> Snapshot::find_account(std::string_view login) const {
    const AddressResult parsed = parse_address(login);
    if (!parsed.ok) return std::nullopt;
    return find_account_by_key(parsed.address.str());
}

std::optional<Account> Snapshot::find_account_by_key(std::string_view login_key) const {
    const std::uint32_t position =
        authority_by_login_.find(login_key, [this](std::uint32_t p) { return login_of(p); });
    if (position == kNone) return std::nullopt;
    return account_at(position);
}

std::optional<Account> Snapshot::account_by_authority(Id authority_id) const {
    auto it = authorities.find(authority_id);
    if (it == authorities.end()) return std::nullopt;
    const std::size_t position = authorities.position(it);
    if (position >= links_.size() || links_[position].user == kNone) return std::nullopt;
    return account_at(static_cast<std::uint32_t>(position));
}

std::vector<std::pair<const Authority*, unsigned>> Snapshot::ip_accounts_for(const IpAddress& client) const {
    return ip_accounts_in(ip_networks_, client);
}

std::vector<std::pair<const Authority*, unsigned>> Snapshot::disabled_ip_accounts_for(const IpAddress& client) const {
    return ip_accounts_in(disabled_ip_networks_, client);
}

std::vector<std::pair<const Authority*, unsigned>> Snapshot::ip_accounts_in(
    const std::vector<std::pair<Cidr, std::uint32_t>>& networks, const IpAddress& client) const {
    std::vector<std::pair<const Authority*, unsigned>> out;
    for (const auto& [net, position] : networks) {
        if (!net.contains(client)) continue;
        const Authority* authority = &authorities.row_at(position).second;
        // ip_networks_ is sorted by prefix, so the first hit per authority is its most specific one.
        const bool seen = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == authority; });
        if (!seen) out.emplace_back(authority, net.prefix);
    }
    return out;
}

bool Snapshot::is_local_domain(std::string_view normalised_name) const {
    const Domain* d = find_domain(normalised_name);
    return d != nullptr && d->is_local;
}

}  // namespace relay
