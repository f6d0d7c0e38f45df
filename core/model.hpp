// The rules as loaded from SQL, one immutable Snapshot at a time. Field names are the SQL column names
// (docs/sql.md), so one concept has one name everywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/address.hpp"
#include "core/cidr.hpp"
#include "core/clock.hpp"

namespace relay {

using Id = std::int64_t;

enum class SenderPolicy { own_address, own_domain, customer_domains, listed_only };
enum class AuthMode { sasl, ip, sasl_and_ip };

const char* to_string(SenderPolicy p);
const char* to_string(AuthMode m);
std::optional<SenderPolicy> sender_policy_from_string(std::string_view s);
std::optional<AuthMode> auth_mode_from_string(std::string_view s);

struct Customer {
    Id id = 0;
    std::string name;
    bool active = true;
};

struct Domain {
    Id id = 0;
    Id customer_id = 0;
    std::string name;  // normalised: lower-case A-label
    bool active = true;
    bool is_local = true;
};

struct User {
    Id id = 0;
    Id domain_id = 0;
    std::string local_part;  // lower-case
    bool active = true;
};

struct Authority {
    Id id = 0;
    Id user_id = 0;
    Id customer_id = 0;
    bool active = true;
    SenderPolicy sender_policy = SenderPolicy::own_address;
    bool may_relay_external = true;
    bool require_tls = false;
    AuthMode auth_mode = AuthMode::sasl;
    bool allow_null_sender = false;
    std::optional<std::uint32_t> max_recipients_per_message;  // nullopt: no per-account cap
    std::optional<std::uint64_t> max_message_bytes;
    std::optional<TimePoint> valid_until;
    std::optional<TimePoint> suspended_until;
    std::string suspend_reason;
    std::vector<SenderPattern> senders;  // authority_senders
    std::vector<Cidr> networks;          // authority_networks
};

enum class RateScope { global, customer, domain, authority, client_network };
enum class RateMeter { messages, recipients, bytes };
enum class RateCalendar { rolling, hour, day };
enum class RateKind { each_account, shared_pool };
enum class RateAction { defer, reject, hold };

struct RateLimit {
    Id id = 0;
    RateScope scope = RateScope::global;
    std::optional<Id> scope_id;
    std::optional<Cidr> cidr;
    RateMeter meter = RateMeter::messages;
    std::uint64_t amount = 0;
    std::uint32_t window_seconds = 3600;
    RateCalendar calendar = RateCalendar::rolling;
    RateKind kind = RateKind::each_account;
    RateAction action = RateAction::defer;
    bool shadow = false;
    bool active = true;
};

// Everything an account needs, resolved through the foreign keys. Pointers stay valid as long as the
// Snapshot they came from.
struct Account {
    const Authority* authority = nullptr;
    const User* user = nullptr;
    const Domain* domain = nullptr;     // the login's domain
    const Customer* customer = nullptr; // authority.customer_id (on whose behalf it sends)
    std::string login;                  // local_part@domain
};

class Snapshot {
public:
    Snapshot() = default;
    // A copy gets its own indexes (rebuilt from the copied maps): the private indexes hold pointers into
    // the maps and must never point into another Snapshot. Moving keeps the map nodes, so it is safe.
    Snapshot(const Snapshot& other);
    Snapshot& operator=(const Snapshot& other);
    Snapshot(Snapshot&&) = default;
    Snapshot& operator=(Snapshot&&) = default;

    std::uint64_t generation = 0;
    TimePoint loaded_at{};

    std::unordered_map<Id, Customer> customers;
    std::unordered_map<Id, Domain> domains;
    std::unordered_map<Id, User> users;
    std::unordered_map<Id, Authority> authorities;
    std::vector<RateLimit> rate_limits;

    // Builds the look-up indexes below from the maps above. Call once after filling them; rows whose
    // foreign keys point nowhere are left out of the indexes (and reported in the returned warnings).
    std::vector<std::string> build_indexes();

    const Domain* find_domain(const std::string& normalised_name) const;
    // login as typed (any case, U-label or A-label domain); nullopt when there is no authority for it
    std::optional<Account> find_account(std::string_view login) const;
    std::optional<Account> account_by_authority(Id authority_id) const;
    // active auth_mode=ip authorities whose networks contain the address, most specific prefix first
    std::vector<std::pair<const Authority*, unsigned>> ip_accounts_for(const IpAddress& client) const;
    bool is_local_domain(const std::string& normalised_name) const;
    std::size_t account_count() const { return authority_by_login_.size(); }

private:
    void index_authority(const Authority& authority, std::vector<std::string>& warnings);

    std::unordered_map<std::string, const Domain*> domain_by_name_;
    std::unordered_map<std::string, const Authority*> authority_by_login_;
    std::unordered_map<Id, const Authority*> authority_by_user_;
    std::unordered_map<Id, std::string> login_by_authority_;  // only authorities that made it into the index
    std::vector<std::pair<Cidr, const Authority*>> ip_networks_;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace relay
