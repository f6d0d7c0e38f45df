// Internal to the AdminStore sources (admin_store*.cpp): small helpers for reading result sets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/admin/admin_store.hpp"
#include "core/rules/model.hpp"

namespace sql {
class ResultSet;
}

namespace relay {

class MysqlConnection;

namespace admin_sql {

std::string str(const sql::ResultSet& rs, unsigned col);
std::optional<std::int64_t> opt_i64(const sql::ResultSet& rs, unsigned col);
// SQL expression reading a DATETIME column as UNIX seconds (NULL stays NULL).
std::string unix_time(const std::string& column);
Id last_insert_id(MysqlConnection& c);
bool is_number(const std::string& s);

// admin_store_accounts.cpp: "SELECT ... FROM smtp_authorities a JOIN users u ... " (ends with a space, add
// WHERE/ORDER BY), its row reader, and the UPDATE of the authority fields that are set.
std::string account_select();
AccountRow account_from_row(const sql::ResultSet& rs);
void update_authority_fields(MysqlConnection& c, Id authority_id, const AuthorityChanges& changes);

}  // namespace admin_sql
}  // namespace relay
