#include "core/store/mysql_store.hpp"

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/text.hpp"
#include "core/store/mysql_retry.hpp"

namespace relay {

namespace {

// ---- reading columns

std::string str(const sql::ResultSet& rs, unsigned col) {
    return rs.isNull(col) ? std::string() : std::string(rs.getString(col));
}

template <typename T>
std::optional<T> opt_uint(const sql::ResultSet& rs, unsigned col) {
    if (rs.isNull(col)) return std::nullopt;
    return static_cast<T>(rs.getUInt64(col));
}

std::optional<TimePoint> opt_time(const sql::ResultSet& rs, unsigned col) {
    if (rs.isNull(col)) return std::nullopt;
    return from_unix(rs.getInt64(col));
}

// A DATETIME column as seconds since the epoch. UNIX_TIMESTAMP() interprets it in the server's time zone
// (what the admin sees with NOW()); it answers NULL outside 1970..2038 on MariaDB 10.11, so a later date
// reads as "far future" (a suspension until 2099 never ends) and an earlier one as the epoch (long past).
std::string unix_time(const std::string& column) {
    return "IF(" + column + " IS NULL, NULL, COALESCE(FLOOR(UNIX_TIMESTAMP(" + column + ")), IF(" + column +
           " > NOW(), " + std::to_string(kFarFutureUnix) + ", 0)))";
}

std::string row_name(const char* table, Id id) {
    return std::string(table) + " id " + std::to_string(id);
}

// ---- enum columns of rate_limits (the SQL ENUM words are the C++ enumerator names)

template <typename E, std::size_t N>
std::optional<E> enum_from(std::string_view text, const std::pair<const char*, E> (&names)[N]) {
    for (const auto& [name, value] : names) {
        if (text == name) return value;
    }
    return std::nullopt;
}

const std::pair<const char*, RateScope> kScopes[] = {{"global", RateScope::global},
                                                     {"customer", RateScope::customer},
                                                     {"domain", RateScope::domain},
                                                     {"authority", RateScope::authority},
                                                     {"client_network", RateScope::client_network}};
const std::pair<const char*, RateMeter> kMeters[] = {
    {"messages", RateMeter::messages}, {"recipients", RateMeter::recipients}, {"bytes", RateMeter::bytes}};
const std::pair<const char*, RateCalendar> kCalendars[] = {
    {"rolling", RateCalendar::rolling}, {"hour", RateCalendar::hour}, {"day", RateCalendar::day}};
const std::pair<const char*, RateKind> kKinds[] = {{"each_account", RateKind::each_account},
                                                   {"shared_pool", RateKind::shared_pool}};
const std::pair<const char*, RateAction> kActions[] = {
    {"defer", RateAction::defer}, {"reject", RateAction::reject}, {"hold", RateAction::hold}};

// ---- the rule tables. Broken rows are logged naming table and id, and never widen access.

const char* const kSelectGeneration = "SELECT generation FROM change_generation WHERE id = 1";
// ORDER BY id (the primary key, so no sort): the snapshot's tables are sorted vectors, rows in id order
// are appended.
const char* const kSelectCustomers = "SELECT id, name, active FROM customers ORDER BY id";
const char* const kSelectDomains = "SELECT id, customer_id, name, active, is_local FROM domains ORDER BY id";
const char* const kSelectUsers = "SELECT id, domain_id, local_part, active FROM users ORDER BY id";
const char* const kSelectSenders = "SELECT id, authority_id, pattern FROM authority_senders ORDER BY id";
const char* const kSelectNetworks = "SELECT id, authority_id, cidr FROM authority_networks ORDER BY id";
const char* const kSelectRateLimits =
    "SELECT id, scope, scope_id, cidr, meter, amount, window_seconds, calendar, kind, action, shadow, active "
    "FROM rate_limits ORDER BY id";
const char* const kUpdateUse =
    "UPDATE smtp_authorities SET last_used_at = FROM_UNIXTIME(?), last_client_address = ? WHERE id = ?";

std::string select_authorities_sql() {
    return "SELECT id, user_id, customer_id, active, sender_policy, may_relay_external, require_tls, auth_mode, "
           "allow_null_sender, max_recipients_per_message, max_message_bytes, " +
           unix_time("valid_until") + ", " + unix_time("suspended_until") +
           ", suspend_reason FROM smtp_authorities ORDER BY id";
}

void load_customers(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectCustomers);
    s.customers.reserve(rs->rowsCount());  // the result is buffered: its size is known, no regrowth
    while (rs->next()) {
        Customer cu;
        cu.id = rs->getInt64(1);
        cu.name = str(*rs, 2);
        cu.active = rs->getBoolean(3);
        s.customers.emplace(cu.id, std::move(cu));
    }
}

void load_domains(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectDomains);
    s.domains.reserve(rs->rowsCount());
    while (rs->next()) {
        Domain d;
        d.id = rs->getInt64(1);
        d.customer_id = rs->getInt64(2);
        const std::string raw = str(*rs, 3);
        std::string error;
        auto name = normalize_domain(raw, &error);
        if (!name) {
            // Its users cannot log in and its addresses count as nobody's: narrower, never wider.
            log_warning(row_name("domains", d.id) + ": '" + sanitize(raw, 100) + "' is not a valid domain name (" +
                        error + "); domain ignored");
            continue;
        }
        d.name = std::move(*name);
        d.active = rs->getBoolean(4);
        d.is_local = rs->getBoolean(5);
        s.domains.emplace(d.id, std::move(d));
    }
}

void load_users(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectUsers);
    s.users.reserve(rs->rowsCount());
    while (rs->next()) {
        User u;
        u.id = rs->getInt64(1);
        u.domain_id = rs->getInt64(2);
        u.local_part = ascii_lower(str(*rs, 3));
        u.active = rs->getBoolean(4);
        if (u.local_part.empty()) {
            log_warning(row_name("users", u.id) + ": empty local_part; user ignored");
            continue;
        }
        s.users.emplace(u.id, std::move(u));
    }
}

void load_authorities(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(select_authorities_sql());
    s.authorities.reserve(rs->rowsCount());
    while (rs->next()) {
        Authority a;
        a.id = rs->getInt64(1);
        a.user_id = rs->getInt64(2);
        a.customer_id = rs->getInt64(3);
        a.active = rs->getBoolean(4);
        const std::string policy = str(*rs, 5);
        const std::string mode = str(*rs, 8);
        auto sender_policy = sender_policy_from_string(policy);
        auto auth_mode = auth_mode_from_string(mode);
        if (!sender_policy || !auth_mode) {
            // Left out entirely: its login then has no authority and is refused.
            log_error(row_name("smtp_authorities", a.id) + ": unknown " +
                      (!sender_policy ? "sender_policy '" + sanitize(policy, 40) + "'"
                                      : "auth_mode '" + sanitize(mode, 40) + "'") +
                      "; the account is refused until the row is fixed");
            continue;
        }
        a.sender_policy = *sender_policy;
        a.auth_mode = *auth_mode;
        a.may_relay_external = rs->getBoolean(6);
        a.require_tls = rs->getBoolean(7);
        a.allow_null_sender = rs->getBoolean(9);
        a.max_recipients_per_message = opt_uint<std::uint32_t>(*rs, 10);
        a.max_message_bytes = opt_uint<std::uint64_t>(*rs, 11);
        a.valid_until = opt_time(*rs, 12);
        a.suspended_until = opt_time(*rs, 13);
        a.suspend_reason = str(*rs, 14);
        s.authorities.emplace(a.id, std::move(a));
    }
}

void load_senders(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectSenders);
    while (rs->next()) {
        const Id id = rs->getInt64(1);
        auto authority = s.authorities.find(rs->getInt64(2));
        if (authority == s.authorities.end()) continue;  // its authority was left out (logged there)
        const std::string raw = str(*rs, 3);
        std::string error;
        auto pattern = parse_sender_pattern(raw, &error);
        if (!pattern) {
            // A pattern we cannot read simply matches nothing.
            log_warning(row_name("authority_senders", id) + ": pattern '" + sanitize(raw, 100) +
                        "' is not valid (" + error + "); ignored");
            continue;
        }
        authority->second.senders.push_back(std::move(*pattern));
    }
}

void load_networks(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectNetworks);
    while (rs->next()) {
        const Id id = rs->getInt64(1);
        auto authority = s.authorities.find(rs->getInt64(2));
        if (authority == s.authorities.end()) continue;
        const std::string raw = str(*rs, 3);
        std::string error;
        auto cidr = Cidr::parse(raw, &error);
        if (!cidr) {
            // Dropping just this row could widen access (no networks = any client), and guessing what the
            // admin meant could too, so the whole account is refused until the row is fixed.
            log_error(row_name("authority_networks", id) + ": cidr '" + sanitize(raw, 60) + "' is not valid (" +
                      error + "); " + row_name("smtp_authorities", authority->first) +
                      " is refused until the row is fixed");
            authority->second.active = false;
            continue;
        }
        authority->second.networks.push_back(*cidr);
    }
}

// One rate_limits row; false (and logged) when a column cannot be read.
bool read_rate_limit(const sql::ResultSet& rs, RateLimit& l) {
    l.id = rs.getInt64(1);
    const std::string scope = str(rs, 2), meter = str(rs, 5), calendar = str(rs, 8), kind = str(rs, 9),
                      action = str(rs, 10);
    auto sc = enum_from(scope, kScopes);
    auto me = enum_from(meter, kMeters);
    auto ca = calendar.empty() ? std::optional<RateCalendar>(RateCalendar::rolling) : enum_from(calendar, kCalendars);
    auto ki = enum_from(kind, kKinds);
    auto ac = enum_from(action, kActions);
    std::string problem;
    if (!sc) problem = "unknown scope '" + sanitize(scope, 40) + "'";
    else if (!me) problem = "unknown meter '" + sanitize(meter, 40) + "'";
    else if (!ca) problem = "unknown calendar '" + sanitize(calendar, 40) + "'";
    else if (!ki) problem = "unknown kind '" + sanitize(kind, 40) + "'";
    else if (!ac) problem = "unknown action '" + sanitize(action, 40) + "'";
    if (!rs.isNull(4)) {
        std::string error;
        l.cidr = Cidr::parse(str(rs, 4), &error);
        if (!l.cidr && problem.empty()) problem = "cidr '" + sanitize(str(rs, 4), 60) + "' is not valid (" + error + ")";
    }
    if (!problem.empty()) {
        log_error(row_name("rate_limits", l.id) + ": " + problem + "; this limit is NOT enforced until fixed");
        return false;
    }
    l.scope = *sc;
    l.meter = *me;
    l.calendar = *ca;
    l.kind = *ki;
    l.action = *ac;
    l.scope_id = rs.isNull(3) ? std::nullopt : std::optional<Id>(rs.getInt64(3));
    l.amount = rs.getUInt64(6);
    l.window_seconds = rs.getUInt(7);
    l.shadow = rs.getBoolean(11);
    l.active = rs.getBoolean(12);
    return true;
}

void load_rate_limits(MysqlConnection& c, Snapshot& s) {
    auto rs = c.query(kSelectRateLimits);
    while (rs->next()) {
        RateLimit limit;
        if (read_rate_limit(*rs, limit)) s.rate_limits.push_back(std::move(limit));
    }
}

std::uint64_t read_generation(MysqlConnection& c) {
    auto rs = c.query(kSelectGeneration);
    if (!rs->next()) {
        throw StorePermanentError("table change_generation has no row with id 1: apply sql/migrations");
    }
    return rs->getUInt64(1);
}

// ---- relay_events

// Length of the well-formed UTF-8 sequence at in[i] (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF), or 0.
std::size_t utf8_length(std::string_view in, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[i + k]); };
    const unsigned char b = byte(0);
    if (b < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    if (len == 0 || i + len > in.size() || byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if ((byte(k) & 0xC0) != 0x80) return 0;
    }
    return len;
}

// Valid UTF-8 without control characters, at most max_chars characters: whatever a client sent (a sender
// address, a login) must never make the audit INSERT fail (strict mode refuses bad or overlong strings).
std::string clean_text(std::string_view in, std::size_t max_chars) {
    std::string out;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < in.size() && chars < max_chars; ++chars) {
        const std::size_t len = utf8_length(in, i);
        const auto b = static_cast<unsigned char>(in[i]);
        if (len == 0 || (len == 1 && (b < 0x20 || b == 0x7F))) {
            out += '?';
            i += 1;
            continue;
        }
        out.append(in.substr(i, len));
        i += len;
    }
    return out;
}

// Rows per INSERT: powers of two up to this, so a connection keeps at most 8 shapes of the statement
// prepared (a batch of 200 is 128 + 64 + 8; EventWriter's full batch of 512 is 4 x 128).
constexpr std::size_t kEventsPerInsert = 128;
constexpr std::size_t kParamsPerEvent = 16;  // placeholders per row in insert_events_sql()

// The largest power of two not above n (n > 0).
std::size_t chunk_rows(std::size_t n) {
    std::size_t rows = 1;
    while (rows * 2 <= n && rows * 2 <= kEventsPerInsert) rows *= 2;
    return rows;
}

// ---- smtp_authorities.last_used_at: many accounts in one UPDATE, shapes padded to powers of two by
// repeating the last stamp (writing the same values twice changes nothing).
constexpr std::size_t kUsesPerUpdate = 128;

std::string update_uses_sql(std::size_t n) {
    std::string when_case, address_case, ids;
    for (std::size_t i = 0; i < n; ++i) {
        when_case += " WHEN ? THEN FROM_UNIXTIME(?)";
        address_case += " WHEN ? THEN ?";
        ids += i ? ", ?" : "?";
    }
    return "UPDATE smtp_authorities SET last_used_at = CASE id" + when_case +
           " ELSE last_used_at END, last_client_address = CASE id" + address_case +
           " ELSE last_client_address END WHERE id IN (" + ids + ")";
}

std::string insert_events_sql(std::size_t rows) {
    std::string sql =
        "INSERT IGNORE INTO relay_events (event_time, node, stage, authority_id, login, client_address, sender, "
        "recipient_count, size_bytes, verdict, reason, queue_id, detail, repeat_count, event_key) VALUES ";
    for (std::size_t i = 0; i < rows; ++i) {
        if (i) sql += ", ";
        sql += "(FROM_UNIXTIME(?) + INTERVAL ? MICROSECOND, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UNHEX(?))";
    }
    // IGNORE: a row whose event_key is stored already (this batch was written before, its COMMIT answer
    // lost, or a spool replay was interrupted) is skipped. IGNORE rather than ON DUPLICATE KEY UPDATE,
    // which would need the UPDATE privilege: the daemon account has INSERT only on relay_events (relayctl
    // db grants), also on an installation upgraded to migration 008 with its old grants. The values are
    // the daemon's own (no foreign key on the table), so IGNORE hides no other error worth failing the
    // batch for; an over-long value is cut to its column instead of losing the whole batch.
    return sql;
}

void bind_event(sql::PreparedStatement& st, unsigned base, const Event& e) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(e.at.time_since_epoch()).count();
    const std::int64_t seconds = micros / 1000000 - (micros % 1000000 < 0 ? 1 : 0);
    st.setInt64(base + 1, seconds);
    st.setInt64(base + 2, micros - seconds * 1000000);
    st.setString(base + 3, clean_text(e.node, 255));
    st.setString(base + 4, to_string(e.stage));
    if (e.authority_id != 0) st.setInt64(base + 5, e.authority_id);
    else st.setNull(base + 5, sql::DataType::BIGINT);
    st.setString(base + 6, clean_text(e.login, 320));
    st.setString(base + 7, clean_text(e.client_address, 45));
    st.setString(base + 8, clean_text(e.sender, 512));
    st.setUInt(base + 9, e.recipient_count);
    st.setUInt64(base + 10, e.size);
    st.setString(base + 11, to_string(e.verdict));
    st.setString(base + 12, to_string(e.reason));
    st.setString(base + 13, clean_text(e.queue_id, 64));
    st.setString(base + 14, clean_text(e.detail, 2000));
    st.setUInt(base + 15, std::max<std::uint32_t>(e.repeat_count, 1));
    if (e.key.empty()) st.setNull(base + 16, sql::DataType::VARCHAR);
    else st.setString(base + 16, e.key);
}

}  // namespace

MysqlStore::MysqlStore(const DatabaseConfig& config) : pool_(config) {}

MysqlStore::~MysqlStore() = default;

std::uint64_t MysqlStore::generation() {
    std::uint64_t result = 0;
    pool_.run("reading the change generation", [&](MysqlConnection& c) { result = read_generation(c); });
    return result;
}

std::shared_ptr<Snapshot> MysqlStore::load_snapshot() {
    std::shared_ptr<Snapshot> snapshot;
    pool_.run("loading the relay rules", [&](MysqlConnection& c) {
        snapshot = std::make_shared<Snapshot>();
        c.transaction(
            [&] {
                snapshot->generation = read_generation(c);
                load_customers(c, *snapshot);
                load_domains(c, *snapshot);
                load_users(c, *snapshot);
                load_authorities(c, *snapshot);
                load_senders(c, *snapshot);
                load_networks(c, *snapshot);
                load_rate_limits(c, *snapshot);
            },
            true);
    });
    snapshot->loaded_at = SystemClock::now();
    for (const std::string& warning : snapshot->build_indexes()) log_warning(warning);
    return snapshot;
}

void MysqlStore::record_events(const std::vector<Event>& events) {
    if (events.empty()) return;
    // One transaction for the whole call: either every event is stored or none. A caller that retries
    // after an error, even after a lost answer to the COMMIT itself, never writes one twice: an event whose
    // key (relay_events.event_key, migration 008) is stored already is skipped. Conflicts, a cluster node not ready and a lost connection
    // are retried at once on a fresh connection (core/mysql_retry.hpp); what still fails stays queued in
    // the EventWriter.
    run_with_retry(pool_, "writing relay_events", std::chrono::steady_clock::now() + RetryPolicy{}.time,
                   MysqlPool::kNoDeadline, RetryPolicy{}, [&](MysqlConnection& c) {
        c.transaction([&] {
            for (std::size_t first = 0; first < events.size();) {
                const std::size_t rows = chunk_rows(events.size() - first);
                sql::PreparedStatement& st = c.cached(insert_events_sql(rows));
                for (std::size_t i = 0; i < rows; ++i) {
                    bind_event(st, static_cast<unsigned>(i * kParamsPerEvent), events[first + i]);
                }
                st.executeUpdate();
                first += rows;
            }
        });
    });
}

void MysqlStore::record_use(Id authority_id, TimePoint when, const std::string& client_address) {
    pool_.run("recording the last use of an SMTP authority", [&](MysqlConnection& c) {
        sql::PreparedStatement& st = c.cached(kUpdateUse);
        st.setInt64(1, to_unix(when));
        if (client_address.empty()) st.setNull(2, sql::DataType::VARCHAR);
        else st.setString(2, clean_text(client_address, 45));
        st.setInt64(3, authority_id);
        st.executeUpdate();
    });
}

void MysqlStore::record_uses(const std::vector<UseStamp>& uses) {
    // One autocommit UPDATE per chunk (no transaction: each stamp stands alone, and a repeat after an
    // error only writes the same values again). The rows are locked in the order of the primary key.
    run_with_retry(pool_, "recording the last use of SMTP authorities",
                   std::chrono::steady_clock::now() + RetryPolicy{}.time, MysqlPool::kNoDeadline, RetryPolicy{},
                   [&](MysqlConnection& c) {
        for (std::size_t first = 0; first < uses.size(); first += kUsesPerUpdate) {
            const std::size_t rows = std::min(kUsesPerUpdate, uses.size() - first);
            std::size_t slots = 1;
            while (slots < rows) slots *= 2;
            sql::PreparedStatement& st = c.cached(update_uses_sql(slots));
            unsigned p = 1;
            for (std::size_t i = 0; i < slots; ++i) {  // last_used_at
                const UseStamp& u = uses[first + std::min(i, rows - 1)];
                st.setInt64(p++, u.authority_id);
                st.setInt64(p++, to_unix(u.when));
            }
            for (std::size_t i = 0; i < slots; ++i) {  // last_client_address
                const UseStamp& u = uses[first + std::min(i, rows - 1)];
                st.setInt64(p++, u.authority_id);
                if (u.client_address.empty()) st.setNull(p++, sql::DataType::VARCHAR);
                else st.setString(p++, clean_text(u.client_address, 45));
            }
            for (std::size_t i = 0; i < slots; ++i) st.setInt64(p++, uses[first + std::min(i, rows - 1)].authority_id);
            st.executeUpdate();
        }
    });
}

int MysqlStore::schema_version() {
    int version = 0;
    pool_.run("reading schema_version", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_version");
        if (rs->next()) version = rs->getInt(1);
    });
    return version;
}

void MysqlStore::check_schema() {
    const int version = schema_version();
    if (version < kRequiredSchemaVersion) {
        throw StorePermanentError("database '" + sanitize(pool_.config().name, 80) + "' has schema version " +
                                  std::to_string(version) + ", this build needs version " +
                                  std::to_string(kRequiredSchemaVersion) +
                                  " or later: apply the missing sql/migrations (docs/sql.md)");
    }
    // Every table and column we read or write, checked now (the server resolves names when it prepares a
    // statement) so a half-migrated schema is refused at start naming what is missing, rather than at the
    // first reload or the first audit event.
    pool_.run("checking the schema", [&](MysqlConnection& c) {
        for (const std::string& statement :
             {std::string(kSelectGeneration), std::string(kSelectCustomers), std::string(kSelectDomains),
              std::string(kSelectUsers), select_authorities_sql(), std::string(kSelectSenders),
              std::string(kSelectNetworks), std::string(kSelectRateLimits), insert_events_sql(1),
              std::string(kUpdateUse), update_uses_sql(1)}) {
            c.prepare(statement);
        }
    });
}

void MysqlStore::ping() {
    pool_.run("pinging the database", [&](MysqlConnection& c) {
        auto rs = c.query("SELECT 1");
        rs->next();
    });
}

}  // namespace relay
