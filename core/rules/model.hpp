// The rules as loaded from SQL, one immutable Snapshot at a time. Field names are the SQL column names
// (docs/sql.md), so one concept has one name everywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mail/address.hpp"
#include "core/mail/cidr.hpp"
#include "core/base/clock.hpp"
#include "core/rules/model_compact.hpp"

namespace relay {

using Id = std::int64_t;

enum class SenderPolicy : std::uint8_t { own_address, own_domain, customer_domains, listed_only };
enum class AuthMode : std::uint8_t { sasl, ip, sasl_and_ip };

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

// One per account, so it is kept small (88 bytes): the fields every account has inline, the ones most
// accounts leave empty (suspend_reason, senders, networks) out of line, allocated only when set.
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
    PackedOptional<std::uint64_t, MaxIsEmpty<std::uint64_t>> max_message_bytes;
    PackedOptional<TimePoint, MinTimeIsEmpty<TimePoint>> valid_until;
    PackedOptional<TimePoint, MinTimeIsEmpty<TimePoint>> suspended_until;
    RareString suspend_reason;
    RareVector<SenderPattern> senders;  // authority_senders
    RareVector<Cidr> networks;          // authority_networks
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
    // The login domain's customer (domain->customer_id), resolved once when the snapshot was built;
    // nullptr in an Account put together by hand (then look it up in Snapshot::customers).
    const Customer* domain_customer = nullptr;
};

// The tables are sorted vectors (IdTable) and the indexes hold positions in them, not pointers, so a
// copy or a move of a Snapshot is complete by itself and never points into another Snapshot.
class Snapshot {
public:
    std::uint64_t generation = 0;
    TimePoint loaded_at{};

    IdTable<Id, Customer> customers;
    IdTable<Id, Domain> domains;
    IdTable<Id, User> users;
    IdTable<Id, Authority> authorities;
    std::vector<RateLimit> rate_limits;

    // Builds the look-up indexes below from the tables above. Call once after filling them; rows whose
    // foreign keys point nowhere are left out of the indexes (and reported in the returned warnings).
    // The tables must not change afterwards (the indexes hold positions in them).
    std::vector<std::string> build_indexes();

    const Domain* find_domain(std::string_view normalised_name) const;
    // login as typed (any case, U-label or A-label domain, quotes that change nothing); nullopt when there
    // is no authority for it. For admin input; a SASL login goes through canonical_login() and
    // find_account_by_key() instead (decide()), so that a looser spelling never names an account.
    std::optional<Account> find_account(std::string_view login) const;
    // login exactly in its indexed form, as canonical_login() returns it
    std::optional<Account> find_account_by_key(std::string_view login_key) const;
    std::optional<Account> account_by_authority(Id authority_id) const;
    // active auth_mode=ip authorities whose networks contain the address, most specific prefix first
    std::vector<std::pair<const Authority*, unsigned>> ip_accounts_for(const IpAddress& client) const;
    // the same for auth_mode=ip authorities with active = 0 (rule 1 names one when no active one covers)
    std::vector<std::pair<const Authority*, unsigned>> disabled_ip_accounts_for(const IpAddress& client) const;
    bool is_local_domain(std::string_view normalised_name) const;
    std::size_t account_count() const { return account_count_; }

private:
    static constexpr std::uint32_t kNone = NameIndex::npos;

    // What build_indexes() resolved for authorities.row_at(i): positions of its user, the login's domain
    // and its customer, and its login (local_part@domain, parsed form) in logins_. user == kNone: the
    // authority is not in the indexes.
    struct AccountLinks {
        std::uint32_t user = kNone;
        std::uint32_t domain = kNone;
        std::uint32_t customer = kNone;
        std::uint32_t login_offset = 0;
        std::uint32_t login_size = 0;
    };

    void index_domains(std::vector<std::string>& warnings);
    void index_authority(std::size_t position, std::vector<std::string>& warnings, std::vector<bool>& user_taken);
    std::string_view login_of(std::uint32_t authority_position) const;
    Account account_at(std::uint32_t authority_position) const;
    std::string_view domain_name_at(std::uint32_t position) const { return domains.row_at(position).second.name; }

    NameIndex domain_by_name_;          // positions in domains
    std::vector<std::uint32_t> domain_customer_;  // parallel to domains: position of its customer or kNone
    NameIndex authority_by_login_;      // positions in authorities
    std::vector<AccountLinks> links_;   // parallel to authorities
    std::string logins_;                // every indexed login once, back to back
    std::size_t account_count_ = 0;
    std::vector<std::pair<Cidr, std::uint32_t>> ip_networks_;  // position in authorities
    std::vector<std::pair<Cidr, std::uint32_t>> disabled_ip_networks_;  // the same for active = 0

    std::vector<std::pair<const Authority*, unsigned>> ip_accounts_in(
        const std::vector<std::pair<Cidr, std::uint32_t>>& networks, const IpAddress& client) const;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace relay
