// AdminStore: relayctl import and export csv. The import reads the current state once (domains, accounts,
// passwords, senders, networks), compares every row with it, and writes only the differences, all in one
// transaction: a bad row (unknown domain or customer, a sender map naming an unknown account) means no
// write at all, and a second run finds nothing to change.
#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <map>
#include <set>

#include "core/admin/admin_store.hpp"
#include "core/admin/admin_store_sql.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/admin/password.hpp"
#include "core/base/text.hpp"

namespace relay {

using namespace admin_sql;

namespace {

struct DomainInfo {
    Id id = 0;
    Id customer_id = 0;
};

struct UserInfo {
    Id id = 0;
    std::optional<std::string> password_hash;
    std::optional<std::int64_t> password_changed_at;
};

// What the database holds before the import, read inside the import's transaction.
struct Current {
    std::map<std::string, DomainInfo> domains;          // by name
    std::map<std::string, AccountRow> accounts;         // by login
    std::map<std::string, UserInfo> users;              // by login, with or without an authority
    std::map<Id, std::set<std::string>> senders;        // by authority id
    std::map<Id, std::set<std::string>> networks;       // by authority id
    std::int64_t server_now = 0;                        // the database server's clock, UNIX seconds
};

Current read_current(MysqlConnection& c) {
    Current now;
    auto d = c.query("SELECT id, customer_id, name FROM domains");
    while (d->next()) now.domains[str(*d, 3)] = {d->getInt64(1), d->getInt64(2)};
    auto a = c.query(account_select());
    while (a->next()) {
        AccountRow row = account_from_row(*a);
        now.accounts[row.login] = std::move(row);
    }
    auto u = c.query("SELECT u.id, CONCAT(u.local_part, '@', d.name), u.password_hash, " +
                     unix_time("u.password_changed_at") + " FROM users u JOIN domains d ON d.id = u.domain_id");
    while (u->next()) {
        UserInfo info{u->getInt64(1), std::nullopt, opt_i64(*u, 4)};
        if (!u->isNull(3)) info.password_hash = str(*u, 3);
        now.users[str(*u, 2)] = std::move(info);
    }
    auto s = c.query("SELECT authority_id, pattern FROM authority_senders");
    while (s->next()) now.senders[s->getInt64(1)].insert(str(*s, 2));
    auto n = c.query("SELECT authority_id, cidr FROM authority_networks");
    while (n->next()) now.networks[n->getInt64(1)].insert(str(*n, 2));
    auto t = c.query("SELECT UNIX_TIMESTAMP()");
    if (t->next()) now.server_now = t->getInt64(1);
    return now;
}

std::string opt_text(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : "none"; }
std::string opt_time(const std::optional<std::int64_t>& v) { return v ? "@" + std::to_string(*v) : "never"; }
std::string yes_no(bool b) { return b ? "yes" : "no"; }

// The fields of `want` that differ from the account, with a description of each change.
AuthorityChanges field_differences(const AuthorityChanges& want, const AccountRow& a, std::vector<std::string>& out) {
    AuthorityChanges diff;
    auto text = [&](const char* name, const std::string& from, const std::string& to) {
        out.push_back(std::string(name) + " " + from + " -> " + to);
    };
    if (want.sender_policy && a.sender_policy != to_string(*want.sender_policy)) {
        diff.sender_policy = want.sender_policy;
        text("sender_policy", a.sender_policy, to_string(*want.sender_policy));
    }
    if (want.auth_mode && a.auth_mode != to_string(*want.auth_mode)) {
        diff.auth_mode = want.auth_mode;
        text("auth_mode", a.auth_mode, to_string(*want.auth_mode));
    }
    auto flag = [&](const char* name, const std::optional<bool>& w, bool have, std::optional<bool>& d) {
        if (w && *w != have) {
            d = w;
            text(name, yes_no(have), yes_no(*w));
        }
    };
    flag("may_relay_external", want.may_relay_external, a.may_relay_external, diff.may_relay_external);
    flag("require_tls", want.require_tls, a.require_tls, diff.require_tls);
    flag("allow_null_sender", want.allow_null_sender, a.allow_null_sender, diff.allow_null_sender);
    flag("active", want.active, a.authority_active, diff.active);
    if (want.max_recipients_per_message && *want.max_recipients_per_message != a.max_recipients_per_message) {
        diff.max_recipients_per_message = want.max_recipients_per_message;
        const auto& w = *want.max_recipients_per_message;
        text("max_recipients", opt_text(a.max_recipients_per_message), opt_text(w ? std::optional<std::uint64_t>(*w) : std::nullopt));
    }
    if (want.max_message_bytes && *want.max_message_bytes != a.max_message_bytes) {
        diff.max_message_bytes = want.max_message_bytes;
        text("max_size", opt_text(a.max_message_bytes), opt_text(*want.max_message_bytes));
    }
    if (want.valid_until && *want.valid_until != a.valid_until) {
        diff.valid_until = want.valid_until;
        text("valid_until", opt_time(a.valid_until), opt_time(*want.valid_until));
    }
    if (want.note && *want.note != a.note) {
        diff.note = want.note;
        out.push_back("note changed");
    }
    return diff;
}

// The password to store for a row, or nullopt when the stored one already matches.
std::optional<std::string> password_to_store(const ImportAccount& row, const std::optional<std::string>& stored,
                                             const HashOptions& hashing) {
    if (row.password_hash) {
        if (stored && *stored == *row.password_hash) return std::nullopt;
        return row.password_hash;
    }
    if (row.password_plain) {
        if (stored && verify_password(*row.password_plain, *stored)) return std::nullopt;
        return hash_password(*row.password_plain, hashing);
    }
    return std::nullopt;
}

// One row's planned writes.
struct Planned {
    const ImportAccount* row = nullptr;
    ImportChange change;
    Id authority_id = 0;      // existing authority (changed), 0 for a new one
    Id user_id = 0;           // existing user, 0 for a new one
    Id domain_id = 0;
    Id customer_id = 0;       // for a new authority
    AuthorityChanges fields;  // to write
    std::optional<std::string> password;
    std::optional<std::int64_t> password_changed_at;  // to write (after the password)
    std::vector<std::string> new_senders, new_networks;
};

// The password time a row gives (CSV password_changed_at), checked against the password the account ends
// up with; sets p.password_changed_at when it has to be written. Returns the reason the row is refused, or
// "" when it is fine.
std::string plan_password_time(const ImportAccount& row, const UserInfo* user, std::int64_t server_now,
                               Planned& p) {
    if (!row.password_changed_at) return "";
    const std::int64_t want = *row.password_changed_at;
    if (!p.password && !(user && user->password_hash))
        return "password_changed_at given, but the account has no password (give one in the password column)";
    if (want > server_now)
        return "password_changed_at @" + std::to_string(want) + " is later than the database server's clock (@" +
               std::to_string(server_now) + ")";
    const std::optional<std::int64_t> stored = user ? user->password_changed_at : std::nullopt;
    if (!p.password && stored == want) return "";
    p.password_changed_at = want;
    if (!p.password)
        p.change.details.push_back("password_changed_at " + (stored ? "@" + std::to_string(*stored) : "unknown") +
                                   " -> @" + std::to_string(want));
    return "";
}

void missing_items(const std::vector<std::string>& want, const std::set<std::string>& have, const char* what,
                   std::vector<std::string>& add, std::vector<std::string>& details) {
    std::set<std::string> seen;
    for (const auto& item : want) {
        if (have.count(item) || !seen.insert(item).second) continue;
        add.push_back(item);
        details.push_back(std::string("add ") + what + " " + item);
    }
}

void write_planned(MysqlConnection& c, Planned& p) {
    if (p.user_id == 0) {
        auto& ins = c.cached("INSERT INTO users (domain_id, local_part, password_hash, password_changed_at) "
                             "VALUES (?, ?, ?, IF(password_hash IS NULL, NULL, NOW()))");
        ins.setInt64(1, p.domain_id);
        ins.setString(2, p.row->local_part);
        if (p.password) ins.setString(3, *p.password);
        else ins.setNull(3, sql::DataType::VARCHAR);
        ins.executeUpdate();
        p.user_id = last_insert_id(c);
    } else if (p.password) {
        auto& pw = c.cached("UPDATE users SET password_hash = ?, password_changed_at = NOW() WHERE id = ?");
        pw.setString(1, *p.password);
        pw.setInt64(2, p.user_id);
        pw.executeUpdate();
    }
    if (p.password_changed_at) {
        // A statement of its own: one that also changed password_hash would have the trigger of migration
        // 006 move the time to NOW() whenever the given time equals the old one.
        auto& at = c.cached("UPDATE users SET password_changed_at = FROM_UNIXTIME(?) WHERE id = ?");
        at.setInt64(1, *p.password_changed_at);
        at.setInt64(2, p.user_id);
        at.executeUpdate();
    }
    if (p.authority_id == 0) {
        auto& ins = c.cached("INSERT INTO smtp_authorities (user_id, customer_id) VALUES (?, ?)");
        ins.setInt64(1, p.user_id);
        ins.setInt64(2, p.customer_id);
        ins.executeUpdate();
        p.authority_id = last_insert_id(c);
    }
    if (!p.fields.empty()) update_authority_fields(c, p.authority_id, p.fields);
    for (const auto& pattern : p.new_senders) {
        auto& st = c.cached("INSERT INTO authority_senders (authority_id, pattern) VALUES (?, ?)");
        st.setInt64(1, p.authority_id);
        st.setString(2, pattern);
        st.executeUpdate();
    }
    for (const auto& cidr : p.new_networks) {
        auto& st = c.cached("INSERT INTO authority_networks (authority_id, cidr) VALUES (?, ?)");
        st.setInt64(1, p.authority_id);
        st.setString(2, cidr);
        st.executeUpdate();
    }
}

}  // namespace

ImportOutcome AdminStore::import_accounts(const std::vector<ImportAccount>& rows, bool dry_run,
                                          const std::string& scheme) {
    ImportOutcome outcome;
    HashOptions hashing;
    if (auto s = password_scheme_from_string(scheme)) hashing.scheme = *s;
    pool_->run("importing accounts", [&](MysqlConnection& c) {
        c.transaction([&] {
            outcome = ImportOutcome{};
            Current now = read_current(c);
            std::map<std::string, std::optional<Id>> customers;  // resolved names, nullopt: unknown
            auto customer_id = [&](const std::string& name) -> std::optional<Id> {
                auto it = customers.find(name);
                if (it != customers.end()) return it->second;
                std::optional<Id> id;
                try {
                    id = resolve_customer(c, name);
                } catch (const NotFoundError&) {
                }
                return customers[name] = id;
            };
            std::vector<Planned> plan;
            std::map<std::string, std::string> first_seen;  // login -> source
            for (const auto& row : rows) {
                const std::string login = row.local_part + "@" + row.domain;
                auto fail = [&](const std::string& why) { outcome.errors.push_back(row.source + ": " + why); };
                if (auto [it, fresh] = first_seen.emplace(login, row.source); !fresh && !row.requires_existing) {
                    fail("duplicate login " + printable(login, 200) + " (first at " + it->second + ")");
                    continue;
                }
                auto dom = now.domains.find(row.domain);
                if (dom == now.domains.end()) {
                    fail("domain " + printable(row.domain, 100) + " is not known (add it with relayctl domain add)");
                    continue;
                }
                std::optional<Id> cust;
                if (row.customer) {
                    cust = customer_id(*row.customer);
                    if (!cust) {
                        fail("unknown customer '" + printable(*row.customer, 100) + "' (see relayctl customer list)");
                        continue;
                    }
                }
                Planned p;
                p.row = &row;
                p.change.source = row.source;
                p.change.login = login;
                p.domain_id = dom->second.id;
                auto acc = now.accounts.find(login);
                auto usr = now.users.find(login);
                const UserInfo* user = usr == now.users.end() ? nullptr : &usr->second;
                const std::optional<std::string> stored = user ? user->password_hash : std::nullopt;
                if (acc == now.accounts.end()) {
                    if (row.requires_existing) {
                        fail("no account " + printable(login, 200) + " (import or add the accounts first)");
                        continue;
                    }
                    p.change.kind = ImportChange::Kind::created;
                    p.customer_id = cust ? *cust : dom->second.customer_id;
                    p.user_id = usr == now.users.end() ? 0 : usr->second.id;
                    p.fields = row.fields;
                    p.fields.customer_id.reset();
                    p.password = password_to_store(row, stored, hashing);
                    if (auto why = plan_password_time(row, user, now.server_now, p); !why.empty()) {
                        fail(why);
                        continue;
                    }
                    missing_items(row.senders, {}, "sender", p.new_senders, p.change.details);
                    missing_items(row.networks, {}, "network", p.new_networks, p.change.details);
                    if (p.password) p.change.details.insert(p.change.details.begin(), "password set");
                } else {
                    const AccountRow& a = acc->second;
                    p.authority_id = a.authority_id;
                    p.user_id = a.user_id;
                    if (cust && *cust != a.customer_id) {
                        p.fields.customer_id = *cust;
                        p.change.details.push_back("customer " + a.customer + " -> " + printable(*row.customer, 100));
                    }
                    AuthorityChanges diff = field_differences(row.fields, a, p.change.details);
                    diff.customer_id = p.fields.customer_id;
                    p.fields = diff;
                    p.password = password_to_store(row, stored, hashing);
                    if (p.password) p.change.details.push_back("password changed");
                    if (auto why = plan_password_time(row, user, now.server_now, p); !why.empty()) {
                        fail(why);
                        continue;
                    }
                    missing_items(row.senders, now.senders[a.authority_id], "sender", p.new_senders, p.change.details);
                    missing_items(row.networks, now.networks[a.authority_id], "network", p.new_networks,
                                  p.change.details);
                    // later rows (a sender map naming the owner twice) see what this one adds
                    for (const auto& s : p.new_senders) now.senders[a.authority_id].insert(s);
                    for (const auto& n : p.new_networks) now.networks[a.authority_id].insert(n);
                    p.change.kind = p.change.details.empty() ? ImportChange::Kind::unchanged : ImportChange::Kind::changed;
                }
                plan.push_back(std::move(p));
            }
            for (const auto& p : plan) outcome.changes.push_back(p.change);
            if (dry_run || !outcome.errors.empty()) return;
            for (auto& p : plan)
                if (p.change.kind != ImportChange::Kind::unchanged) write_planned(c, p);
        });
    }, false);
    return outcome;
}

std::vector<AdminStore::ExportRow> AdminStore::export_accounts() {
    std::vector<ExportRow> out;
    pool_->run("exporting accounts", [&](MysqlConnection& c) {
        c.transaction([&] {
            out.clear();
            Current now = read_current(c);
            for (auto& [login, account] : now.accounts) {
                ExportRow row;
                row.account = account;
                row.password_hash = now.users[login].password_hash;
                const auto& s = now.senders[account.authority_id];
                const auto& n = now.networks[account.authority_id];
                row.senders.assign(s.begin(), s.end());
                row.networks.assign(n.begin(), n.end());
                out.push_back(std::move(row));
            }
        }, true);
    });
    return out;
}

}  // namespace relay
