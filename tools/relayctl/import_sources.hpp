// The three sources relayctl import reads, each turned into the accounts they describe (core's
// ImportAccount) plus every problem as "FILE:LINE: reason". Pure functions over text: no database here,
// so unit tests and --dry-run see exactly what a real run would write.
#pragma once

#include <string>
#include <vector>

#include "core/admin/admin_store.hpp"

namespace relay::ctl {

struct ImportSource {
    std::vector<ImportAccount> accounts;
    std::vector<std::string> errors;
};

// The CSV columns, in the order relayctl export csv writes them; only login is required (files from
// before password_changed_at was added import as they did).
const std::vector<std::string>& csv_columns();

// CSV (RFC 4180 quoting, one record per line) with a header line naming the columns. name is the file
// name for messages; min_password_length checks plain passwords like account add does.
ImportSource parse_csv(const std::string& text, const std::string& name, std::size_t min_password_length);
// The text source of a Postfix smtpd_sender_login_maps table: "sender owner[, owner...]" per line, where
// sender is user@domain or @domain; the owners (existing accounts) get the sender as a sender pattern.
ImportSource parse_postfix_sender_map(const std::string& text, const std::string& name);
// A Dovecot passwd-file: "user@domain:{SCHEME}hash:..." per line; customer: for every account, optional.
ImportSource parse_dovecot_passwd(const std::string& text, const std::string& name, const std::string& customer);

// One CSV field quoted when it needs it (export).
std::string csv_field(const std::string& value);

}  // namespace relay::ctl
