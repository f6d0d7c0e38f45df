// AdminStore: accounts (users + smtp_authorities), their sender patterns and client networks.
#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <functional>

#include "core/admin/admin_store.hpp"
#include "core/admin/admin_store_sql.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/base/text.hpp"

namespace relay {

using namespace admin_sql;

namespace {

std::string select_accounts_sql() {
    return "SELECT a.id, u.id, d.id, a.customer_id, CONCAT(u.local_part, '@', d.name), c.name, "
           "a.active, u.active, d.active, "
           // the engine also refuses a login whose domain belongs to an inactive customer
           "c.active AND COALESCE((SELECT dc.active FROM customers dc WHERE dc.id = d.customer_id), 0), "
           "(u.password_hash IS NOT NULL AND u.password_hash <> ''), a.sender_policy, a.may_relay_external, "
           "a.require_tls, a.auth_mode, a.allow_null_sender, a.max_recipients_per_message, a.max_message_bytes, " +
           unix_time("a.valid_until") + ", " + unix_time("a.suspended_until") + ", a.suspend_reason, " +
           unix_time("a.last_used_at") +
           ", a.last_client_address, a.note, "
           "(SELECT COUNT(*) FROM authority_senders s WHERE s.authority_id = a.id), "
           "(SELECT COUNT(*) FROM authority_networks n WHERE n.authority_id = a.id), " +
           unix_time("u.password_changed_at") +
           " FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id "
           "JOIN customers c ON c.id = a.customer_id ";
}

AccountRow read_account(const sql::ResultSet& rs) {
    AccountRow a;
    a.authority_id = rs.getInt64(1);
    a.user_id = rs.getInt64(2);
    a.domain_id = rs.getInt64(3);
    a.customer_id = rs.getInt64(4);
    a.login = str(rs, 5);
    a.customer = str(rs, 6);
    a.authority_active = rs.getBoolean(7);
    a.user_active = rs.getBoolean(8);
    a.domain_active = rs.getBoolean(9);
    a.customer_active = rs.getBoolean(10);
    a.has_password = rs.getBoolean(11);
    a.sender_policy = str(rs, 12);
    a.may_relay_external = rs.getBoolean(13);
    a.require_tls = rs.getBoolean(14);
    a.auth_mode = str(rs, 15);
    a.allow_null_sender = rs.getBoolean(16);
    if (!rs.isNull(17)) a.max_recipients_per_message = static_cast<std::uint32_t>(rs.getUInt64(17));
    if (!rs.isNull(18)) a.max_message_bytes = rs.getUInt64(18);
    a.valid_until = opt_i64(rs, 19);
    a.suspended_until = opt_i64(rs, 20);
    a.suspend_reason = str(rs, 21);
    a.last_used_at = opt_i64(rs, 22);
    a.last_client_address = str(rs, 23);
    a.note = str(rs, 24);
    a.sender_count = rs.getInt64(25);
    a.network_count = rs.getInt64(26);
    a.password_changed_at = opt_i64(rs, 27);
    return a;
}

using Binder = std::function<void(sql::PreparedStatement&, unsigned)>;

// "col = ?" assignments for the fields that are set; column names are constants of this function.
void collect_assignments(const AuthorityChanges& ch, std::vector<std::string>& sets, std::vector<Binder>& binds) {
    auto add_bool = [&](const char* col, const std::optional<bool>& v) {
        if (!v) return;
        sets.push_back(std::string(col) + " = ?");
        bool value = *v;
        binds.push_back([value](sql::PreparedStatement& st, unsigned i) { st.setBoolean(i, value); });
    };
    auto add_text = [&](const char* col, std::optional<std::string> v) {
        if (!v) return;
        sets.push_back(std::string(col) + " = ?");
        binds.push_back([value = *v](sql::PreparedStatement& st, unsigned i) { st.setString(i, value); });
    };
    if (ch.customer_id) {
        sets.push_back("customer_id = ?");
        Id id = *ch.customer_id;
        binds.push_back([id](sql::PreparedStatement& st, unsigned i) { st.setInt64(i, id); });
    }
    if (ch.sender_policy) add_text("sender_policy", std::string(to_string(*ch.sender_policy)));
    if (ch.auth_mode) add_text("auth_mode", std::string(to_string(*ch.auth_mode)));
    add_bool("may_relay_external", ch.may_relay_external);
    add_bool("require_tls", ch.require_tls);
    add_bool("allow_null_sender", ch.allow_null_sender);
    add_bool("active", ch.active);
    add_text("note", ch.note);
    if (ch.max_recipients_per_message) {
        sets.push_back("max_recipients_per_message = ?");
        auto v = *ch.max_recipients_per_message;
        binds.push_back([v](sql::PreparedStatement& st, unsigned i) {
            if (v) st.setUInt(i, *v);
            else st.setNull(i, sql::DataType::INTEGER);
        });
    }
    if (ch.max_message_bytes) {
        sets.push_back("max_message_bytes = ?");
        auto v = *ch.max_message_bytes;
        binds.push_back([v](sql::PreparedStatement& st, unsigned i) {
            if (v) st.setUInt64(i, *v);
            else st.setNull(i, sql::DataType::BIGINT);
        });
    }
    if (ch.valid_until) {
        auto v = *ch.valid_until;
        if (v) {
            sets.push_back("valid_until = FROM_UNIXTIME(?)");
            binds.push_back([t = *v](sql::PreparedStatement& st, unsigned i) { st.setInt64(i, t); });
        } else {
            sets.push_back("valid_until = NULL");
        }
    }
}

void apply_changes(MysqlConnection& c, Id authority_id, const AuthorityChanges& changes) {
    std::vector<std::string> sets;
    std::vector<Binder> binds;
    collect_assignments(changes, sets, binds);
    if (sets.empty()) return;
    std::string statement = "UPDATE smtp_authorities SET ";
    for (std::size_t i = 0; i < sets.size(); ++i) statement += (i ? ", " : "") + sets[i];
    statement += " WHERE id = ?";
    auto st = c.prepare(statement);
    unsigned index = 1;
    for (auto& bind : binds) bind(*st, index++);
    st->setInt64(index, authority_id);
    st->executeUpdate();
}

void insert_sender(MysqlConnection& c, Id authority_id, const std::string& pattern) {
    auto check = c.prepare("SELECT id FROM authority_senders WHERE authority_id = ? AND pattern = ?");
    check->setInt64(1, authority_id);
    check->setString(2, pattern);
    std::unique_ptr<sql::ResultSet> rs(check->executeQuery());
    if (rs->next()) throw StoreConflictError("sender pattern " + printable(pattern, 200) + " is already listed");
    auto st = c.prepare("INSERT INTO authority_senders (authority_id, pattern) VALUES (?, ?)");
    st->setInt64(1, authority_id);
    st->setString(2, pattern);
    st->executeUpdate();
}

void insert_network(MysqlConnection& c, Id authority_id, const std::string& cidr) {
    auto check = c.prepare("SELECT id FROM authority_networks WHERE authority_id = ? AND cidr = ?");
    check->setInt64(1, authority_id);
    check->setString(2, cidr);
    std::unique_ptr<sql::ResultSet> rs(check->executeQuery());
    if (rs->next()) throw StoreConflictError("network " + printable(cidr, 60) + " is already listed");
    auto st = c.prepare("INSERT INTO authority_networks (authority_id, cidr) VALUES (?, ?)");
    st->setInt64(1, authority_id);
    st->setString(2, cidr);
    st->executeUpdate();
}

// Deletes rows of a (table, authority_id, value column) after checking one exists.
void delete_listed(MysqlConnection& c, const char* table, const char* column, const char* what, Id authority_id,
                   const std::string& value) {
    auto st = c.prepare(std::string("DELETE FROM ") + table + " WHERE authority_id = ? AND " + column + " = ?");
    st->setInt64(1, authority_id);
    st->setString(2, value);
    if (st->executeUpdate() == 0)
        throw NotFoundError(std::string(what) + " " + printable(value, 200) + " is not listed for this account");
}

}  // namespace

// For the other AdminStore sources (the import): the account query and the authority update.
namespace admin_sql {
std::string account_select() { return select_accounts_sql(); }
AccountRow account_from_row(const sql::ResultSet& rs) { return read_account(rs); }
void update_authority_fields(MysqlConnection& c, Id authority_id, const AuthorityChanges& changes) {
    apply_changes(c, authority_id, changes);
}
}  // namespace admin_sql

namespace {

// The user of a new account: the existing one (refused if it already has an authority; its password is
// replaced only when a new one is given), or a new row.
void find_or_create_user(MysqlConnection& c, Id domain_id, const NewAccount& na, AddAccountResult& result) {
    const std::string login = na.local_part + "@" + na.domain;
    auto usr = c.prepare("SELECT id FROM users WHERE domain_id = ? AND local_part = ? FOR UPDATE");
    usr->setInt64(1, domain_id);
    usr->setString(2, na.local_part);
    std::unique_ptr<sql::ResultSet> urs(usr->executeQuery());
    if (!urs->next()) {
        // password_changed_at: see sql/migrations/006 (its triggers do the same for edits in SQL)
        auto ins = c.prepare("INSERT INTO users (domain_id, local_part, password_hash, password_changed_at) "
                             "VALUES (?, ?, ?, IF(password_hash IS NULL, NULL, NOW()))");
        ins->setInt64(1, domain_id);
        ins->setString(2, na.local_part);
        if (na.password_hash) ins->setString(3, *na.password_hash);
        else ins->setNull(3, sql::DataType::VARCHAR);
        ins->executeUpdate();
        result.user_id = last_insert_id(c);
        result.user_created = true;
        return;
    }
    result.user_id = urs->getInt64(1);
    auto auth = c.prepare("SELECT id FROM smtp_authorities WHERE user_id = ?");
    auth->setInt64(1, result.user_id);
    std::unique_ptr<sql::ResultSet> ars(auth->executeQuery());
    if (ars->next())
        throw StoreConflictError(printable(login, 200) + " already has an SMTP authority (id " +
                                 std::to_string(ars->getInt64(1)) +
                                 "); a user has at most one: change it with relayctl account set, or delete it first");
    if (na.password_hash) {
        auto pw = c.prepare("UPDATE users SET password_hash = ?, password_changed_at = NOW() WHERE id = ?");
        pw->setString(1, *na.password_hash);
        pw->setInt64(2, result.user_id);
        pw->executeUpdate();
        result.password_replaced = true;
    }
}

}  // namespace

AddAccountResult AdminStore::add_account(const NewAccount& na) {
    AddAccountResult result;
    pool_->run("adding an account", [&](MysqlConnection& c) {
        c.transaction([&] {
            result = AddAccountResult{};
            auto dom = c.prepare("SELECT id, customer_id FROM domains WHERE name = ?");
            dom->setString(1, na.domain);
            std::unique_ptr<sql::ResultSet> drs(dom->executeQuery());
            if (!drs->next())
                throw NotFoundError("domain " + printable(na.domain, 100) +
                                    " is not known: add it first with relayctl domain add");
            const Id domain_id = drs->getInt64(1);
            const Id customer_id = na.customer ? resolve_customer(c, *na.customer) : drs->getInt64(2);
            find_or_create_user(c, domain_id, na, result);
            auto ins = c.prepare("INSERT INTO smtp_authorities (user_id, customer_id) VALUES (?, ?)");
            ins->setInt64(1, result.user_id);
            ins->setInt64(2, customer_id);
            ins->executeUpdate();
            result.authority_id = last_insert_id(c);
            AuthorityChanges fields = na.fields;
            fields.customer_id.reset();  // already written
            apply_changes(c, result.authority_id, fields);
            for (const auto& pattern : na.senders) insert_sender(c, result.authority_id, pattern);
            for (const auto& cidr : na.networks) insert_network(c, result.authority_id, cidr);
        });
    }, false);
    return result;
}

std::vector<AccountRow> AdminStore::list_accounts(const AccountFilter& filter) {
    std::vector<AccountRow> out;
    pool_->run("listing accounts", [&](MysqlConnection& c) {
        auto st = c.prepare(select_accounts_sql() +
                            "WHERE (? = '' OR d.name = ?) AND (? = '' OR c.name = ?) AND (? = 0 OR "
                            "(u.password_hash IS NOT NULL AND u.password_hash <> '' AND "
                            "(u.password_changed_at IS NULL OR u.password_changed_at < FROM_UNIXTIME(?)))) "
                            "ORDER BY d.name, u.local_part");
        st->setString(1, filter.domain);
        st->setString(2, filter.domain);
        st->setString(3, filter.customer);
        st->setString(4, filter.customer);
        st->setBoolean(5, filter.password_changed_before.has_value());
        st->setInt64(6, filter.password_changed_before.value_or(0));
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) out.push_back(read_account(*rs));
    });
    return out;
}

AccountRow AdminStore::find_account(const std::string& local_part, const std::string& domain) {
    std::optional<AccountRow> row;
    bool user_exists = false;
    pool_->run("looking up an account", [&](MysqlConnection& c) {
        auto st = c.prepare(select_accounts_sql() + "WHERE d.name = ? AND u.local_part = ?");
        st->setString(1, domain);
        st->setString(2, local_part);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (rs->next()) {
            row = read_account(*rs);
            return;
        }
        auto u = c.prepare("SELECT COUNT(*) FROM users u JOIN domains d ON d.id = u.domain_id "
                           "WHERE d.name = ? AND u.local_part = ?");
        u->setString(1, domain);
        u->setString(2, local_part);
        std::unique_ptr<sql::ResultSet> urs(u->executeQuery());
        urs->next();
        user_exists = urs->getInt64(1) > 0;
    });
    if (row) return *row;
    const std::string login = printable(local_part + "@" + domain, 200);
    if (user_exists)
        throw NotFoundError("user " + login + " exists but has no SMTP authority (create one with relayctl account add)");
    throw NotFoundError("no account " + login + " (see relayctl account list)");
}

void AdminStore::update_authority(Id authority_id, const AuthorityChanges& changes) {
    pool_->run("changing an account", [&](MysqlConnection& c) {
        c.transaction([&] {
            if (changes.customer_id) {
                auto check = c.prepare("SELECT COUNT(*) FROM customers WHERE id = ?");
                check->setInt64(1, *changes.customer_id);
                std::unique_ptr<sql::ResultSet> rs(check->executeQuery());
                rs->next();
                if (rs->getInt64(1) == 0) throw NotFoundError("customer id " + std::to_string(*changes.customer_id) + " does not exist");
            }
            apply_changes(c, authority_id, changes);
        });
    }, false);
}

void AdminStore::set_password(Id user_id, const std::string& hash) {
    pool_->run("setting a password", [&](MysqlConnection& c) {
        auto st = c.prepare("UPDATE users SET password_hash = ?, password_changed_at = NOW() WHERE id = ?");
        st->setString(1, hash);
        st->setInt64(2, user_id);
        st->executeUpdate();
    }, false);
}

std::optional<std::string> AdminStore::password_hash(Id user_id) {
    std::optional<std::string> hash;
    pool_->run("reading a password hash", [&](MysqlConnection& c) {
        auto st = c.prepare("SELECT password_hash FROM users WHERE id = ?");
        st->setInt64(1, user_id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (rs->next() && !rs->isNull(1)) hash = str(*rs, 1);
    });
    return hash;
}

void AdminStore::suspend(Id authority_id, std::int64_t until, const std::string& reason) {
    pool_->run("suspending an account", [&](MysqlConnection& c) {
        auto st = c.prepare("UPDATE smtp_authorities SET suspended_until = FROM_UNIXTIME(?), suspend_reason = ? "
                            "WHERE id = ?");
        st->setInt64(1, until);
        if (reason.empty()) st->setNull(2, sql::DataType::VARCHAR);
        else st->setString(2, reason);
        st->setInt64(3, authority_id);
        st->executeUpdate();
    }, false);
}

void AdminStore::unsuspend(Id authority_id) {
    pool_->run("lifting a suspension", [&](MysqlConnection& c) {
        auto st = c.prepare("UPDATE smtp_authorities SET suspended_until = NULL, suspend_reason = NULL WHERE id = ?");
        st->setInt64(1, authority_id);
        st->executeUpdate();
    }, false);
}

std::int64_t AdminStore::delete_account(const AccountRow& account, bool keep_user) {
    std::int64_t removed = 0;
    pool_->run("deleting an account", [&](MysqlConnection& c) {
        c.transaction([&] {
            removed = 0;
            for (const char* statement : {"DELETE FROM authority_senders WHERE authority_id = ?",
                                          "DELETE FROM authority_networks WHERE authority_id = ?",
                                          "DELETE FROM rate_limits WHERE scope = 'authority' AND scope_id = ?"}) {
                auto st = c.prepare(statement);
                st->setInt64(1, account.authority_id);
                removed += st->executeUpdate();
            }
            auto st = c.prepare("DELETE FROM smtp_authorities WHERE id = ?");
            st->setInt64(1, account.authority_id);
            if (st->executeUpdate() == 0) throw NotFoundError("account " + printable(account.login, 200) + " is already gone");
            if (!keep_user) {
                auto u = c.prepare("DELETE FROM users WHERE id = ?");
                u->setInt64(1, account.user_id);
                u->executeUpdate();
            }
        });
    }, false);
    return removed;
}

std::vector<AccountRow> AdminStore::unused_accounts(std::int64_t since) {
    std::vector<AccountRow> out;
    pool_->run("listing unused accounts", [&](MysqlConnection& c) {
        auto st = c.prepare(select_accounts_sql() +
                            "WHERE a.last_used_at IS NULL OR a.last_used_at < FROM_UNIXTIME(?) "
                            "ORDER BY a.last_used_at IS NOT NULL, a.last_used_at, d.name, u.local_part");
        st->setInt64(1, since);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) out.push_back(read_account(*rs));
    });
    return out;
}

// ---- senders and networks

void AdminStore::add_sender(Id authority_id, const std::string& pattern) {
    pool_->run("adding a sender pattern", [&](MysqlConnection& c) {
        c.transaction([&] { insert_sender(c, authority_id, pattern); });
    }, false);
}

void AdminStore::remove_sender(Id authority_id, const std::string& pattern) {
    pool_->run("removing a sender pattern", [&](MysqlConnection& c) {
        delete_listed(c, "authority_senders", "pattern", "sender pattern", authority_id, pattern);
    }, false);
}

std::vector<SenderRow> AdminStore::list_senders(Id authority_id) {
    std::vector<SenderRow> out;
    pool_->run("listing sender patterns", [&](MysqlConnection& c) {
        auto st = c.prepare(
            "SELECT s.id, CONCAT(u.local_part, '@', d.name), s.pattern FROM authority_senders s "
            "JOIN smtp_authorities a ON a.id = s.authority_id JOIN users u ON u.id = a.user_id "
            "JOIN domains d ON d.id = u.domain_id WHERE (? = 0 OR s.authority_id = ?) "
            "ORDER BY d.name, u.local_part, s.pattern");
        st->setInt64(1, authority_id);
        st->setInt64(2, authority_id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) out.push_back({rs->getInt64(1), str(*rs, 2), str(*rs, 3)});
    });
    return out;
}

void AdminStore::add_network(Id authority_id, const std::string& cidr) {
    pool_->run("adding a client network", [&](MysqlConnection& c) {
        c.transaction([&] { insert_network(c, authority_id, cidr); });
    }, false);
}

void AdminStore::remove_network(Id authority_id, const std::string& cidr) {
    pool_->run("removing a client network", [&](MysqlConnection& c) {
        delete_listed(c, "authority_networks", "cidr", "network", authority_id, cidr);
    }, false);
}

std::vector<NetworkRow> AdminStore::list_networks(Id authority_id) {
    std::vector<NetworkRow> out;
    pool_->run("listing client networks", [&](MysqlConnection& c) {
        auto st = c.prepare(
            "SELECT n.id, CONCAT(u.local_part, '@', d.name), n.cidr, a.auth_mode FROM authority_networks n "
            "JOIN smtp_authorities a ON a.id = n.authority_id JOIN users u ON u.id = a.user_id "
            "JOIN domains d ON d.id = u.domain_id WHERE (? = 0 OR n.authority_id = ?) "
            "ORDER BY d.name, u.local_part, n.cidr");
        st->setInt64(1, authority_id);
        st->setInt64(2, authority_id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) out.push_back({rs->getInt64(1), str(*rs, 2), str(*rs, 3), str(*rs, 4)});
    });
    return out;
}

std::vector<IpGrant> AdminStore::ip_grants() {
    std::vector<IpGrant> out;
    pool_->run("listing IP-authorised networks", [&](MysqlConnection& c) {
        auto rs = c.query(
            "SELECT CONCAT(u.local_part, '@', d.name), a.id, n.cidr FROM authority_networks n "
            "JOIN smtp_authorities a ON a.id = n.authority_id JOIN users u ON u.id = a.user_id "
            "JOIN domains d ON d.id = u.domain_id JOIN customers c ON c.id = a.customer_id "
            "WHERE a.auth_mode = 'ip' AND a.active AND u.active AND d.active AND c.active "
            "AND (a.suspended_until IS NULL OR a.suspended_until <= NOW()) "
            "AND (a.valid_until IS NULL OR a.valid_until > NOW()) "
            "ORDER BY d.name, u.local_part, n.cidr");
        while (rs->next()) out.push_back({str(*rs, 1), rs->getInt64(2), str(*rs, 3)});
    });
    return out;
}

}  // namespace relay
