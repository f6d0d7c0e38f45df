// AdminStore: schema, customers, domains and the shared helpers. Accounts, senders and networks are in
// admin_store_accounts.cpp; rate limits and views in admin_store_limits.cpp.
#include "core/admin/admin_store.hpp"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "core/admin/admin_store_sql.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/base/text.hpp"

namespace relay {

namespace admin_sql {

std::string str(const sql::ResultSet& rs, unsigned col) {
    return rs.isNull(col) ? std::string() : std::string(rs.getString(col));
}

std::optional<std::int64_t> opt_i64(const sql::ResultSet& rs, unsigned col) {
    if (rs.isNull(col)) return std::nullopt;
    return rs.getInt64(col);
}

std::string unix_time(const std::string& column) {
    // UNIX_TIMESTAMP() answers NULL past 2038-01-19 on MariaDB 10.11: such a date reads as "far future".
    return "IF(" + column + " IS NULL, NULL, COALESCE(FLOOR(UNIX_TIMESTAMP(" + column + ")), IF(" + column +
           " > NOW(), 253402300799, 0)))";
}

Id last_insert_id(MysqlConnection& c) {
    auto rs = c.query("SELECT LAST_INSERT_ID()");
    rs->next();
    return rs->getInt64(1);
}

bool is_number(const std::string& s) {
    if (s.empty() || s.size() > 18) return false;
    for (char ch : s)
        if (ch < '0' || ch > '9') return false;
    return true;
}

}  // namespace admin_sql

using namespace admin_sql;

bool AuthorityChanges::empty() const {
    return !customer_id && !sender_policy && !may_relay_external && !require_tls && !auth_mode &&
           !allow_null_sender && !max_recipients_per_message && !max_message_bytes && !valid_until && !note &&
           !active;
}

AdminStore::AdminStore(const DatabaseConfig& config) {
    DatabaseConfig one = config;
    one.pool_size = 1;  // a CLI does one thing at a time
    pool_ = std::make_unique<MysqlPool>(one);
}

AdminStore::~AdminStore() = default;

// ---- schema

std::optional<int> AdminStore::schema_version() {
    std::optional<int> version;
    pool_->run("reading schema_version", [&](MysqlConnection& c) {
        auto exists = c.query(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name = 'schema_version'");
        exists->next();
        if (exists->getInt64(1) == 0) return;
        auto rs = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_version");
        rs->next();
        version = rs->getInt(1);
    });
    return version;
}

std::vector<AppliedMigration> AdminStore::applied_migrations() {
    std::vector<AppliedMigration> out;
    pool_->run("reading schema_version", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT version, name, " + unix_time("applied_at") +
                          " FROM schema_version ORDER BY version");
        while (rs->next()) out.push_back({rs->getInt(1), str(*rs, 2), opt_i64(*rs, 3)});
    });
    return out;
}

void AdminStore::record_migration(int version, const std::string& name) {
    pool_->run("recording a migration in schema_version", [&](MysqlConnection& c) {
        auto st = c.prepare("INSERT IGNORE INTO schema_version (version, name) VALUES (?, ?)");
        st->setInt(1, version);
        st->setString(2, name);
        st->executeUpdate();
    }, false);
}

bool AdminStore::relation_exists(const std::string& name) {
    bool found = false;
    pool_->run("looking up " + printable(name, 64), [&](MysqlConnection& c) {
        auto st = c.prepare(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?");
        st->setString(1, name);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        rs->next();
        found = rs->getInt64(1) > 0;
    });
    return found;
}

std::vector<std::string> AdminStore::tables() {
    std::vector<std::string> out;
    pool_->run("listing the tables", [&](MysqlConnection& c) {
        auto rs = c.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name");
        while (rs->next()) out.push_back(str(*rs, 1));
    });
    return out;
}

std::string AdminStore::server_version() {
    std::string version;
    pool_->run("reading the server version", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT VERSION()");
        if (rs->next()) version = str(*rs, 1);
    });
    return version;
}

std::int64_t AdminStore::now() {
    std::int64_t now = 0;
    pool_->run("reading the server's clock", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT UNIX_TIMESTAMP()");
        rs->next();
        now = rs->getInt64(1);
    });
    return now;
}

// ---- customers

Id AdminStore::resolve_customer(MysqlConnection& c, const std::string& name_or_id) {
    auto st = c.prepare("SELECT id FROM customers WHERE name = ?");
    st->setString(1, name_or_id);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (rs->next()) return rs->getInt64(1);
    // "#12" or "12" names the id, unless a customer is literally called that (checked above).
    std::string digits = !name_or_id.empty() && name_or_id[0] == '#' ? name_or_id.substr(1) : name_or_id;
    if (is_number(digits)) {
        auto by_id = c.prepare("SELECT id FROM customers WHERE id = ?");
        by_id->setInt64(1, std::stoll(digits));
        std::unique_ptr<sql::ResultSet> rs2(by_id->executeQuery());
        if (rs2->next()) return rs2->getInt64(1);
    }
    throw NotFoundError("customer '" + printable(name_or_id, 100) +
                        "' does not exist (see relayctl customer list)");
}

Id AdminStore::add_customer(const std::string& name, bool active) {
    Id id = 0;
    pool_->run("adding a customer", [&](MysqlConnection& c) {
        c.transaction([&] {
            auto check = c.prepare("SELECT id FROM customers WHERE name = ?");
            check->setString(1, name);
            std::unique_ptr<sql::ResultSet> rs(check->executeQuery());
            if (rs->next())
                throw StoreConflictError("customer '" + printable(name, 100) + "' already exists (id " +
                                         std::to_string(rs->getInt64(1)) + ")");
            auto st = c.prepare("INSERT INTO customers (name, active) VALUES (?, ?)");
            st->setString(1, name);
            st->setBoolean(2, active);
            st->executeUpdate();
            id = last_insert_id(c);
        });
    }, false);
    return id;
}

std::vector<CustomerRow> AdminStore::list_customers() {
    std::vector<CustomerRow> out;
    pool_->run("listing customers", [&](MysqlConnection& c) {
        auto rs = c.query(
            "SELECT c.id, c.name, c.active, "
            "(SELECT COUNT(*) FROM domains d WHERE d.customer_id = c.id), "
            "(SELECT COUNT(*) FROM smtp_authorities a WHERE a.customer_id = c.id) "
            "FROM customers c ORDER BY c.name, c.id");
        while (rs->next())
            out.push_back({rs->getInt64(1), str(*rs, 2), rs->getBoolean(3), rs->getInt64(4), rs->getInt64(5)});
    });
    return out;
}

CustomerRow AdminStore::find_customer(const std::string& name_or_id) {
    CustomerRow row;
    pool_->run("looking up a customer", [&](MysqlConnection& c) {
        Id id = resolve_customer(c, name_or_id);
        auto st = c.prepare("SELECT id, name, active FROM customers WHERE id = ?");
        st->setInt64(1, id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        rs->next();
        row.id = rs->getInt64(1);
        row.name = str(*rs, 2);
        row.active = rs->getBoolean(3);
    });
    return row;
}

void AdminStore::set_customer_active(const std::string& name_or_id, bool active) {
    pool_->run("changing a customer", [&](MysqlConnection& c) {
        Id id = resolve_customer(c, name_or_id);
        auto st = c.prepare("UPDATE customers SET active = ? WHERE id = ?");
        st->setBoolean(1, active);
        st->setInt64(2, id);
        st->executeUpdate();
    }, false);
}

// ---- domains

Id AdminStore::add_domain(const std::string& name, const std::string& customer, bool is_local, bool active) {
    Id id = 0;
    pool_->run("adding a domain", [&](MysqlConnection& c) {
        c.transaction([&] {
            Id customer_id = resolve_customer(c, customer);
            auto check = c.prepare("SELECT id FROM domains WHERE name = ?");
            check->setString(1, name);
            std::unique_ptr<sql::ResultSet> rs(check->executeQuery());
            if (rs->next())
                throw StoreConflictError("domain " + printable(name, 100) + " already exists (id " +
                                         std::to_string(rs->getInt64(1)) + ")");
            auto st = c.prepare("INSERT INTO domains (customer_id, name, is_local, active) VALUES (?, ?, ?, ?)");
            st->setInt64(1, customer_id);
            st->setString(2, name);
            st->setBoolean(3, is_local);
            st->setBoolean(4, active);
            st->executeUpdate();
            id = last_insert_id(c);
        });
    }, false);
    return id;
}

namespace {
const char* kSelectDomains =
    "SELECT d.id, d.name, d.customer_id, c.name, d.active, d.is_local, "
    "(SELECT COUNT(*) FROM users u JOIN smtp_authorities a ON a.user_id = u.id WHERE u.domain_id = d.id) "
    "FROM domains d JOIN customers c ON c.id = d.customer_id ";

DomainRow read_domain(const sql::ResultSet& rs) {
    return {rs.getInt64(1), str(rs, 2), rs.getInt64(3), str(rs, 4), rs.getBoolean(5), rs.getBoolean(6),
            rs.getInt64(7)};
}
}  // namespace

std::vector<DomainRow> AdminStore::list_domains(const std::string& customer_filter) {
    std::vector<DomainRow> out;
    pool_->run("listing domains", [&](MysqlConnection& c) {
        std::unique_ptr<sql::ResultSet> rs;
        if (customer_filter.empty()) {
            rs = c.query(std::string(kSelectDomains) + "ORDER BY d.name");
        } else {
            Id customer_id = resolve_customer(c, customer_filter);
            auto st = c.prepare(std::string(kSelectDomains) + "WHERE d.customer_id = ? ORDER BY d.name");
            st->setInt64(1, customer_id);
            rs.reset(st->executeQuery());
        }
        while (rs->next()) out.push_back(read_domain(*rs));
    });
    return out;
}

DomainRow AdminStore::find_domain(const std::string& name) {
    std::optional<DomainRow> row;
    pool_->run("looking up a domain", [&](MysqlConnection& c) {
        auto st = c.prepare(std::string(kSelectDomains) + "WHERE d.name = ?");
        st->setString(1, name);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (rs->next()) row = read_domain(*rs);
    });
    if (!row)
        throw NotFoundError("domain " + printable(name, 100) +
                            " is not known (add it with relayctl domain add, see relayctl domain list)");
    return *row;
}

void AdminStore::set_domain_flags(const std::string& name, std::optional<bool> active,
                                  std::optional<bool> is_local) {
    DomainRow domain = find_domain(name);
    pool_->run("changing a domain", [&](MysqlConnection& c) {
        if (active) {
            auto st = c.prepare("UPDATE domains SET active = ? WHERE id = ?");
            st->setBoolean(1, *active);
            st->setInt64(2, domain.id);
            st->executeUpdate();
        }
        if (is_local) {
            auto st = c.prepare("UPDATE domains SET is_local = ? WHERE id = ?");
            st->setBoolean(1, *is_local);
            st->setInt64(2, domain.id);
            st->executeUpdate();
        }
    }, false);
}

// ---- presentation helpers (no SQL, but they interpret AccountRow)

std::string facility_letters(const AccountRow& a) {
    // The same letters, in the same order, as the facilities column of the v_accounts view.
    std::string out;
    if (a.may_relay_external) out += 'R';
    if (a.require_tls) out += 'T';
    if (a.auth_mode == "ip" || a.auth_mode == "sasl_and_ip") out += 'I';
    if (a.network_count > 0) out += 'N';
    if (a.allow_null_sender) out += 'Z';
    return out.empty() ? "-" : out;
}

std::string account_status(const AccountRow& a, std::int64_t now) {
    if (!a.authority_active || !a.user_active) return "disabled";
    if (!a.domain_active) return "domain-disabled";
    if (!a.customer_active) return "customer-disabled";
    if (a.suspended_until && *a.suspended_until > now) return "suspended";
    if (a.valid_until && *a.valid_until <= now) return "expired";
    return "active";
}

}  // namespace relay
