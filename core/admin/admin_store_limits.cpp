// AdminStore: rate_limits rows and the admin views (rate usage, effective limits).
#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>

#include <algorithm>

#include "core/admin/admin_store.hpp"
#include "core/admin/admin_store_sql.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/base/text.hpp"

namespace relay {

using namespace admin_sql;

namespace {

// Views relayctl may read. read_view() refuses any other name, so no identifier ever comes from input.
const char* const kKnownViews[] = {"v_rate_usage", "v_effective_limits", "v_accounts"};

void bind_opt_id(sql::PreparedStatement& st, unsigned i, const std::optional<Id>& v) {
    if (v) st.setInt64(i, *v);
    else st.setNull(i, sql::DataType::BIGINT);
}

void bind_opt_text(sql::PreparedStatement& st, unsigned i, const std::optional<std::string>& v) {
    if (v) st.setString(i, *v);
    else st.setNull(i, sql::DataType::VARCHAR);
}

bool numeric_type(int type) {
    switch (type) {
        case sql::DataType::BIT:
        case sql::DataType::TINYINT:
        case sql::DataType::SMALLINT:
        case sql::DataType::MEDIUMINT:
        case sql::DataType::INTEGER:
        case sql::DataType::BIGINT:
        case sql::DataType::REAL:
        case sql::DataType::DOUBLE:
        case sql::DataType::DECIMAL:
        case sql::DataType::NUMERIC:
            return true;
        default:
            return false;
    }
}

Id lookup_id(MysqlConnection& c, const char* statement, const std::string& value, const std::string& missing) {
    auto st = c.prepare(statement);
    st->setString(1, value);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) throw NotFoundError(missing);
    return rs->getInt64(1);
}

}  // namespace

// The scope_id (and for client_network the cidr) a key names.
Id AdminStore::resolve_scope_target(MysqlConnection& c, const RateLimitKey& key, std::optional<std::string>* cidr) {
    cidr->reset();
    const std::string target = key.target.value_or("");
    if (key.scope == "global") return 0;
    if (key.scope == "client_network") {
        *cidr = target;
        return 0;
    }
    if (key.scope == "customer") return resolve_customer(c, target);
    if (key.scope == "domain")
        return lookup_id(c, "SELECT id FROM domains WHERE name = ?", target,
                         "domain " + printable(target, 100) + " is not known");
    if (key.scope == "authority") {
        auto at = target.rfind('@');
        auto st = c.prepare(
            "SELECT a.id FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id "
            "WHERE u.local_part = ? AND d.name = ?");
        st->setString(1, at == std::string::npos ? target : target.substr(0, at));
        st->setString(2, at == std::string::npos ? "" : target.substr(at + 1));
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (!rs->next()) throw NotFoundError("no account " + printable(target, 200));
        return rs->getInt64(1);
    }
    throw std::invalid_argument("unknown rate limit scope " + key.scope);
}

namespace {
// Null-safe comparisons (<=>) so NULL scope_id/cidr/calendar match NULL.
const char* kFindLimit =
    "SELECT id FROM rate_limits WHERE scope = ? AND scope_id <=> ? AND cidr <=> ? AND meter = ? "
    "AND window_seconds = ? AND calendar <=> ? AND kind = ? ORDER BY id LIMIT 1";

std::optional<Id> find_limit(MysqlConnection& c, const RateLimitKey& key, std::optional<Id> scope_id,
                             const std::optional<std::string>& cidr) {
    auto st = c.prepare(kFindLimit);
    st->setString(1, key.scope);
    bind_opt_id(*st, 2, scope_id);
    bind_opt_text(*st, 3, cidr);
    st->setString(4, key.meter);
    st->setUInt(5, key.window_seconds);
    bind_opt_text(*st, 6, key.calendar);
    st->setString(7, key.kind);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return std::nullopt;
    return rs->getInt64(1);
}
}  // namespace

std::pair<Id, bool> AdminStore::set_rate_limit(const RateLimitKey& key, std::uint64_t amount,
                                               const std::string& action, bool shadow, bool active) {
    std::pair<Id, bool> result{0, false};
    pool_->run("setting a rate limit", [&](MysqlConnection& c) {
        c.transaction([&] {
            std::optional<std::string> cidr;
            Id target = resolve_scope_target(c, key, &cidr);
            std::optional<Id> scope_id = target != 0 ? std::optional<Id>(target) : std::nullopt;
            if (auto existing = find_limit(c, key, scope_id, cidr)) {
                auto st = c.prepare("UPDATE rate_limits SET amount = ?, action = ?, shadow = ?, active = ? WHERE id = ?");
                st->setUInt64(1, amount);
                st->setString(2, action);
                st->setBoolean(3, shadow);
                st->setBoolean(4, active);
                st->setInt64(5, *existing);
                st->executeUpdate();
                result = {*existing, false};
                return;
            }
            auto st = c.prepare(
                "INSERT INTO rate_limits (scope, scope_id, cidr, meter, amount, window_seconds, calendar, kind, "
                "action, shadow, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            st->setString(1, key.scope);
            bind_opt_id(*st, 2, scope_id);
            bind_opt_text(*st, 3, cidr);
            st->setString(4, key.meter);
            st->setUInt64(5, amount);
            st->setUInt(6, key.window_seconds);
            bind_opt_text(*st, 7, key.calendar);
            st->setString(8, key.kind);
            st->setString(9, action);
            st->setBoolean(10, shadow);
            st->setBoolean(11, active);
            st->executeUpdate();
            result = {last_insert_id(c), true};
        });
    }, false);
    return result;
}

Id AdminStore::find_rate_limit(const RateLimitKey& key) {
    Id id = 0;
    pool_->run("looking up a rate limit", [&](MysqlConnection& c) {
        std::optional<std::string> cidr;
        Id target = resolve_scope_target(c, key, &cidr);
        auto found = find_limit(c, key, target != 0 ? std::optional<Id>(target) : std::nullopt, cidr);
        if (!found) throw NotFoundError("no such rate limit (see relayctl limit list)");
        id = *found;
    });
    return id;
}

void AdminStore::remove_rate_limit(Id id) {
    pool_->run("removing a rate limit", [&](MysqlConnection& c) {
        auto st = c.prepare("DELETE FROM rate_limits WHERE id = ?");
        st->setInt64(1, id);
        if (st->executeUpdate() == 0)
            throw NotFoundError("no rate limit with id " + std::to_string(id) + " (see relayctl limit list)");
    }, false);
}

std::vector<RateLimitRow> AdminStore::list_rate_limits() {
    std::vector<RateLimitRow> out;
    pool_->run("listing rate limits", [&](MysqlConnection& c) {
        auto rs = c.query(
            "SELECT r.id, r.scope, r.scope_id, r.cidr, r.meter, r.amount, r.window_seconds, r.calendar, r.kind, "
            "r.action, r.shadow, r.active, CASE r.scope "
            "WHEN 'customer' THEN (SELECT c.name FROM customers c WHERE c.id = r.scope_id) "
            "WHEN 'domain' THEN (SELECT d.name FROM domains d WHERE d.id = r.scope_id) "
            "WHEN 'authority' THEN (SELECT CONCAT(u.local_part, '@', d.name) FROM smtp_authorities a "
            "  JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id WHERE a.id = r.scope_id) "
            "WHEN 'client_network' THEN r.cidr ELSE NULL END "
            "FROM rate_limits r ORDER BY FIELD(r.scope, 'global', 'client_network', 'customer', 'domain', "
            "'authority'), r.scope_id, r.meter, r.window_seconds, r.id");
        while (rs->next()) {
            RateLimitRow r;
            r.id = rs->getInt64(1);
            r.scope = str(*rs, 2);
            r.scope_id = opt_i64(*rs, 3);
            if (!rs->isNull(4)) r.cidr = str(*rs, 4);
            r.meter = str(*rs, 5);
            r.amount = rs->getUInt64(6);
            r.window_seconds = rs->getUInt(7);
            if (!rs->isNull(8)) r.calendar = str(*rs, 8);
            r.kind = str(*rs, 9);
            r.action = str(*rs, 10);
            r.shadow = rs->getBoolean(11);
            r.active = rs->getBoolean(12);
            r.scope_name = rs->isNull(13) ? (r.scope == "global" ? "" : "(missing)") : str(*rs, 13);
            out.push_back(std::move(r));
        }
    });
    return out;
}

GenericRows AdminStore::read_view(const std::string& view,
                                  const std::vector<std::pair<std::string, std::string>>& filters) {
    if (std::find_if(std::begin(kKnownViews), std::end(kKnownViews),
                     [&](const char* known) { return view == known; }) == std::end(kKnownViews))
        throw std::invalid_argument("relayctl does not read view " + view);
    GenericRows out;
    pool_->run("reading " + view, [&](MysqlConnection& c) {
        const std::pair<std::string, std::string>* filter = nullptr;
        for (const auto& f : filters) {
            auto st = c.prepare("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() "
                                "AND table_name = ? AND column_name = ?");
            st->setString(1, view);
            st->setString(2, f.first);
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
            rs->next();
            if (rs->getInt64(1) > 0) {
                filter = &f;
                break;
            }
        }
        out.filtered = filters.empty() || filter != nullptr;
        std::unique_ptr<sql::ResultSet> rs;
        if (filter) {
            // The view name is from the list above and the column was just found in information_schema:
            // neither comes from input, so quoting them into the statement is safe.
            auto st = c.prepare("SELECT * FROM `" + view + "` WHERE `" + filter->first + "` = ?");
            st->setString(1, filter->second);
            rs.reset(st->executeQuery());
        } else if (out.filtered) {
            rs = c.query("SELECT * FROM `" + view + "`");
        } else {
            rs = c.query("SELECT * FROM `" + view + "` WHERE FALSE");
        }
        sql::ResultSetMetaData* meta = rs->getMetaData();
        const unsigned n = meta->getColumnCount();
        for (unsigned i = 1; i <= n; ++i) {
            out.columns.push_back(std::string(meta->getColumnLabel(i)));
            out.numeric.push_back(numeric_type(meta->getColumnType(i)));
        }
        while (rs->next()) {
            std::vector<std::optional<std::string>> row;
            for (unsigned i = 1; i <= n; ++i)
                row.push_back(rs->isNull(i) ? std::nullopt : std::optional<std::string>(str(*rs, i)));
            out.rows.push_back(std::move(row));
        }
    });
    return out;
}

}  // namespace relay
