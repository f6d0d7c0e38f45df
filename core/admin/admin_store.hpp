// Everything relayctl reads and writes in the database, and nothing else: relayctl itself holds no SQL.
// Prepared statements only (every value through a '?' placeholder); column names in dynamically built
// UPDATEs come from fixed tables in admin_store.cpp, never from input. Errors leave as our own types
// (core/base/errors.hpp) plus NotFoundError below.
//
// Times are UNIX seconds here; the database holds DATETIME in its server's time zone, read with
// UNIX_TIMESTAMP(col) and written with FROM_UNIXTIME(?), as everywhere in relay-authority.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/rules/model.hpp"

namespace relay {

class MysqlPool;

// A name the admin gave does not exist (unknown login, domain, customer, sender pattern, ...).
class NotFoundError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct AppliedMigration {
    int version = 0;
    std::string name;
    std::optional<std::int64_t> applied_at;
};

struct CustomerRow {
    Id id = 0;
    std::string name;
    bool active = true;
    std::int64_t domains = 0;
    std::int64_t accounts = 0;
};

struct DomainRow {
    Id id = 0;
    std::string name;
    Id customer_id = 0;
    std::string customer;
    bool active = true;
    bool is_local = true;
    std::int64_t accounts = 0;
};

// One SMTP authority with its user, domain and customer.
struct AccountRow {
    Id authority_id = 0;
    Id user_id = 0;
    Id domain_id = 0;
    Id customer_id = 0;       // smtp_authorities.customer_id (on whose behalf it sends)
    std::string login;        // local_part@domain
    std::string customer;
    bool authority_active = true;
    bool user_active = true;
    bool domain_active = true;
    bool customer_active = true;  // its customer and the login domain's customer are both active
    bool has_password = false;
    std::string sender_policy;  // the SQL words (own_address, ...)
    bool may_relay_external = true;
    bool require_tls = false;
    std::string auth_mode;
    bool allow_null_sender = false;
    std::optional<std::uint32_t> max_recipients_per_message;
    std::optional<std::uint64_t> max_message_bytes;
    std::optional<std::int64_t> valid_until;
    std::optional<std::int64_t> suspended_until;
    std::string suspend_reason;
    std::optional<std::int64_t> last_used_at;
    std::string last_client_address;
    std::string note;
    std::int64_t sender_count = 0;
    std::int64_t network_count = 0;
    std::optional<std::int64_t> password_changed_at;  // users.password_changed_at; nullopt: no password
};

struct AccountFilter {
    std::string domain;    // normalised name; empty: any
    std::string customer;  // name; empty: any
    // Only accounts with a password set before this time (UNIX seconds; a password of unknown age counts
    // as older); nullopt: any.
    std::optional<std::int64_t> password_changed_before;
};

// Changes to an authority: a field left unset is not touched. For nullable columns the inner optional
// is the new value (nullopt stores NULL).
struct AuthorityChanges {
    std::optional<Id> customer_id;
    std::optional<SenderPolicy> sender_policy;
    std::optional<bool> may_relay_external;
    std::optional<bool> require_tls;
    std::optional<AuthMode> auth_mode;
    std::optional<bool> allow_null_sender;
    std::optional<std::optional<std::uint32_t>> max_recipients_per_message;
    std::optional<std::optional<std::uint64_t>> max_message_bytes;
    std::optional<std::optional<std::int64_t>> valid_until;
    std::optional<std::string> note;
    std::optional<bool> active;
    bool empty() const;
};

struct NewAccount {
    std::string local_part;  // normalised (lower-case)
    std::string domain;      // normalised A-label
    std::optional<std::string> password_hash;  // nullopt: keep an existing user's, or none for a new one
    std::optional<std::string> customer;       // name or id; default: the login domain's customer
    AuthorityChanges fields;
    std::vector<std::string> senders;          // normalised patterns
    std::vector<std::string> networks;         // normalised CIDRs
};

struct AddAccountResult {
    Id authority_id = 0;
    Id user_id = 0;
    bool user_created = false;
    bool password_replaced = false;  // the user existed and got the new password
};

struct SenderRow {
    Id id = 0;
    std::string login;
    std::string pattern;
};

struct NetworkRow {
    Id id = 0;
    std::string login;
    std::string cidr;
    std::string auth_mode;
};

// rate_limits: the contract columns of docs/rate-limits.md. String fields hold the SQL words.
struct RateLimitRow {
    Id id = 0;
    std::string scope;                  // global, customer, domain, authority, client_network
    std::optional<Id> scope_id;
    std::string scope_name;             // customer/domain name, login, or the cidr
    std::optional<std::string> cidr;
    std::string meter;                  // messages, recipients, bytes
    std::uint64_t amount = 0;
    std::uint32_t window_seconds = 3600;
    std::optional<std::string> calendar;  // NULL (rolling), hour, day
    std::string kind = "each_account";
    std::string action = "defer";
    bool shadow = false;
    bool active = true;
};

// The key that identifies "the same limit" for limit set (update instead of adding a second row).
struct RateLimitKey {
    std::string scope;
    std::optional<std::string> target;  // customer/domain name or id, login, or cidr; nullopt for global
    std::string meter;
    std::uint32_t window_seconds = 3600;
    std::optional<std::string> calendar;
    std::string kind = "each_account";
};

// A row of a view whose columns this build does not know in advance (rate usage, effective limits):
// names and values as text, NULL as nullopt. numeric[i] says whether column i holds a number.
struct GenericRows {
    std::vector<std::string> columns;
    std::vector<bool> numeric;
    std::vector<std::vector<std::optional<std::string>>> rows;
    bool filtered = true;  // false: a filter was asked for but the view has none of its columns
};

// An IP-authorised network for the Sendmail access db.
struct IpGrant {
    std::string login;
    Id authority_id = 0;
    std::string cidr;
};

// One account to import (relayctl import): the state it should have afterwards. Fields left unset in
// `fields` are not compared or changed; senders and networks are added when missing (never removed).
struct ImportAccount {
    std::string source;       // "FILE:LINE", for messages
    std::string local_part;   // normalised
    std::string domain;       // normalised
    std::optional<std::string> password_hash;   // {SCHEME}hash to store
    std::optional<std::string> password_plain;  // kept when it verifies against the stored hash, else hashed
    // When the password was last changed (UNIX seconds; CSV column password_changed_at): stored as given
    // instead of the import's time, so export + import keeps the password's age. nullopt: a password the
    // import writes counts as changed now; an unchanged one keeps its time.
    std::optional<std::int64_t> password_changed_at;
    std::optional<std::string> customer;        // name or id; default: the login domain's customer
    AuthorityChanges fields;
    std::vector<std::string> senders;   // normalised patterns
    std::vector<std::string> networks;  // normalised CIDRs
    bool requires_existing = false;     // only change an account that exists (sender maps): else an error
};

// What the import does (or would do) to one account.
struct ImportChange {
    std::string source;
    std::string login;
    enum class Kind { created, changed, unchanged } kind = Kind::unchanged;
    std::vector<std::string> details;  // "sender_policy own_address -> own_domain", "add sender @x.example"
};

struct ImportOutcome {
    std::vector<ImportChange> changes;
    std::vector<std::string> errors;  // "FILE:LINE: reason"; when not empty nothing was written
};

class AdminStore {
public:
    explicit AdminStore(const DatabaseConfig& config);
    ~AdminStore();
    AdminStore(const AdminStore&) = delete;
    AdminStore& operator=(const AdminStore&) = delete;

    // ---- schema
    // nullopt: no schema_version table (an empty database). 0: the table exists but is empty.
    std::optional<int> schema_version();
    std::vector<AppliedMigration> applied_migrations();
    // Records a migration unless its file already did (INSERT IGNORE).
    void record_migration(int version, const std::string& name);
    bool relation_exists(const std::string& table_or_view);
    std::vector<std::string> tables();  // base tables and views of the database, for db init's safety check
    std::string server_version();

    // ---- customers and domains
    Id add_customer(const std::string& name, bool active);
    std::vector<CustomerRow> list_customers();
    // by name, or by "#ID"/a number when no customer has that name
    CustomerRow find_customer(const std::string& name_or_id);
    void set_customer_active(const std::string& name_or_id, bool active);

    Id add_domain(const std::string& name, const std::string& customer, bool is_local, bool active);
    std::vector<DomainRow> list_domains(const std::string& customer_filter);
    DomainRow find_domain(const std::string& name);
    void set_domain_flags(const std::string& name, std::optional<bool> active, std::optional<bool> is_local);

    // ---- accounts
    AddAccountResult add_account(const NewAccount& account);
    std::vector<AccountRow> list_accounts(const AccountFilter& filter);
    AccountRow find_account(const std::string& local_part, const std::string& domain);
    void update_authority(Id authority_id, const AuthorityChanges& changes);
    void set_password(Id user_id, const std::string& password_hash);
    std::optional<std::string> password_hash(Id user_id);
    void suspend(Id authority_id, std::int64_t until, const std::string& reason);
    void unsuspend(Id authority_id);
    // Deletes the authority, its senders, networks and authority-scoped rate limits; the user too unless
    // keep_user. Returns the number of senders+networks+limits removed with it.
    std::int64_t delete_account(const AccountRow& account, bool keep_user);
    // Accounts with no recorded use since `since` (never used counts as unused).
    std::vector<AccountRow> unused_accounts(std::int64_t since);

    // Brings the accounts to the given state in ONE transaction (all or nothing). Rows naming an unknown
    // domain or customer (or, with requires_existing, an unknown account) are errors: then nothing is
    // written. dry_run: computes the same outcome and rolls back. Running it twice changes nothing the
    // second time. Plain passwords are hashed with `scheme` only when they do not verify already.
    ImportOutcome import_accounts(const std::vector<ImportAccount>& rows, bool dry_run, const std::string& scheme);
    // Every account with its password hash, sender patterns and networks, for relayctl export csv.
    struct ExportRow {
        AccountRow account;
        std::optional<std::string> password_hash;
        std::vector<std::string> senders;
        std::vector<std::string> networks;
    };
    std::vector<ExportRow> export_accounts();

    // ---- retention (relayctl prune)
    // Rows older than `cutoff` (UNIX seconds): audit events, abuse observations, and rate counters idle
    // since then whose allowance is complete again (deleting those changes no decision). Deleted in
    // batches of at most `batch` rows, each its own short READ COMMITTED statement in primary-key order,
    // so no lock is held between batches and the daemons' inserts at the end of relay_events never wait.
    // After every batch it sleeps `pause`: the deleting (CPU and disk of the database server, which the
    // daemons share) then takes only a part of the server's time. dry_run: counts only.
    // Rate-limit charge keys go by their own cutoff, `charge_keys_cutoff` (the daemons keep them for
    // kChargeKeyLifetime, an hour: only a charge still being retried needs its key).
    struct PruneCounts {
        std::int64_t events = 0;
        std::int64_t client_networks = 0;
        std::int64_t rate_refusals = 0;
        std::int64_t rate_counters = 0;
        std::int64_t charge_keys = 0;
        std::int64_t batches = 0;
    };
    PruneCounts prune(std::int64_t cutoff, std::int64_t charge_keys_cutoff, unsigned batch,
                      std::chrono::milliseconds pause, bool dry_run);

    // ---- senders and networks (authority_id 0: every account)
    void add_sender(Id authority_id, const std::string& pattern);
    void remove_sender(Id authority_id, const std::string& pattern);
    std::vector<SenderRow> list_senders(Id authority_id);
    void add_network(Id authority_id, const std::string& cidr);
    void remove_network(Id authority_id, const std::string& cidr);
    std::vector<NetworkRow> list_networks(Id authority_id);
    std::vector<IpGrant> ip_grants();  // networks of every active, current auth_mode=ip account

    // ---- rate limits
    // Inserts, or updates amount/action/shadow/active of the row with the same key. Returns (id, created).
    std::pair<Id, bool> set_rate_limit(const RateLimitKey& key, std::uint64_t amount, const std::string& action,
                                       bool shadow, bool active);
    void remove_rate_limit(Id id);
    Id find_rate_limit(const RateLimitKey& key);
    std::vector<RateLimitRow> list_rate_limits();

    // Rows of a view. With filters: only the rows whose column equals the value, using the first filter
    // column the view has; if it has none of them, no rows and filtered = false. The view name must be one
    // of the names relayctl knows (checked: never from input).
    GenericRows read_view(const std::string& view,
                          const std::vector<std::pair<std::string, std::string>>& filters = {});

    // The server's notion of now, in UNIX seconds (suspensions and expiry are compared against it).
    std::int64_t now();

private:
    Id resolve_customer(class MysqlConnection& c, const std::string& name_or_id);
    Id resolve_scope_target(class MysqlConnection& c, const RateLimitKey& key, std::optional<std::string>* cidr);
    std::unique_ptr<MysqlPool> pool_;
};

// The facility letters of an account, as the v_accounts view writes them: R may relay to external
// domains, T TLS required, I IP-authorised (auth_mode ip or sasl_and_ip), N bound to client networks
// (authority_networks rows), Z may use the null sender <>. "-" when none applies.
std::string facility_letters(const AccountRow& account);

// active, disabled (authority/user), domain-disabled, customer-disabled, suspended, expired
std::string account_status(const AccountRow& account, std::int64_t now);

}  // namespace relay
