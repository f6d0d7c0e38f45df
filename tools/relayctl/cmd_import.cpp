// relayctl import csv|postfix-sender-map|dovecot-passwd FILE [--dry-run]: existing accounts into the
// database, all or nothing, idempotent (the work is in core/admin/admin_store_import.cpp; the file formats in
// import_sources.cpp). Every bad row is reported as FILE:LINE: reason, and then nothing is written.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/admin/password.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"
#include "tools/relayctl/import_sources.hpp"

namespace relay::ctl {
namespace {

enum class Format { csv, postfix_sender_map, dovecot_passwd };

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("cannot read " + printable(path, 200) + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The line number of a "PATH:LINE: reason" message, for sorting.
unsigned long line_of(const std::string& message, const std::string& path) {
    return std::strtoul(message.c_str() + std::min(message.size(), path.size() + 1), nullptr, 10);
}

const char* kind_word(ImportChange::Kind kind, bool dry_run) {
    switch (kind) {
        case ImportChange::Kind::created: return dry_run ? "would create" : "created";
        case ImportChange::Kind::changed: return dry_run ? "would change" : "changed";
        case ImportChange::Kind::unchanged: return "unchanged";
    }
    return "?";
}

Json outcome_json(const ImportOutcome& o, bool dry_run, std::size_t counts[3]) {
    Json changes = Json::array(), errors = Json::array();
    for (const auto& c : o.changes) {
        if (c.kind == ImportChange::Kind::unchanged) continue;
        Json details = Json::array();
        for (const auto& d : c.details) details.push(d);
        changes.push(Json::object().set("source", c.source).set("login", c.login)
                         .set("action", c.kind == ImportChange::Kind::created ? "create" : "change")
                         .set("details", details));
    }
    for (const auto& e : o.errors) errors.push(e);
    return Json::object().set("dry_run", dry_run).set("imported", !dry_run && o.errors.empty())
        .set("created", static_cast<std::int64_t>(counts[0])).set("changed", static_cast<std::int64_t>(counts[1]))
        .set("unchanged", static_cast<std::int64_t>(counts[2])).set("changes", changes).set("errors", errors);
}

int run_import(Context& ctx, const Args& args, Format format) {
    const char* names[] = {"csv", "postfix-sender-map", "dovecot-passwd"};
    const std::string word = names[static_cast<int>(format)];
    const char* abouts[] = {
        "Imports accounts from a CSV file whose first line names the columns: login (required), password (a "
        "{SCHEME} hash as Dovecot stores it, or a plain password that is then hashed), customer, sender_policy, "
        "senders and networks (separated by spaces), auth_mode, may_relay_external, require_tls, "
        "allow_null_sender (yes/no), max_recipients_per_message, max_message_bytes (10M, or none), valid_until "
        "(YYYY-MM-DD [HH:MM], or never), active (yes/no), note, password_changed_at (when the password was last "
        "changed: @UNIX-SECONDS or YYYY-MM-DD [HH:MM]; without it a password the import sets counts as changed "
        "now). Text is UTF-8. Empty cells leave a field as it is (new "
        "accounts: the default). relayctl export csv writes this format.",
        "Imports the sender addresses of a Postfix smtpd_sender_login_maps table (the text file, not the .db): "
        "each line 'sender owner[, owner ...]' gives every owner, an existing account, the sender (user@domain "
        "or @domain) as a sender pattern.",
        "Imports the users of a Dovecot passwd-file ('user@domain:{SCHEME}hash:...'): one account per line with "
        "that password hash (a hash without {SCHEME} is taken as {CRYPT}, Dovecot's default), sending for "
        "--customer or the login domain's customer."};
    Command cmd("import " + word + " FILE [--dry-run]",
                std::string(abouts[static_cast<int>(format)]) +
                    " All or nothing: every bad row is reported as FILE:LINE: reason and then nothing is "
                    "imported (exit 1). Existing accounts are brought to the file's values; senders and networks "
                    "are added, never removed; running it again changes nothing. --dry-run prints what would be "
                    "created or changed.");
    cmd.positional = {"file"};
    cmd.options.add_options()("dry-run", "show what would be created or changed; write nothing")(
        "scheme", po::value<std::string>()->default_value("SHA512-CRYPT"),
        "hash scheme for plain passwords in a CSV: SHA512-CRYPT or BLF-CRYPT");
    if (format == Format::dovecot_passwd)
        cmd.options.add_options()("customer", po::value<std::string>(), "customer the accounts send for");
    auto vm = cmd.parse(ctx, args);
    const bool dry_run = vm.count("dry-run") > 0;
    if (!password_scheme_from_string(vm["scheme"].as<std::string>()))
        throw UsageError("--scheme: use SHA512-CRYPT or BLF-CRYPT");
    const std::string path = vm["file"].as<std::string>();
    const std::string text = read_file(path);
    ImportSource source;
    switch (format) {
        case Format::csv: source = parse_csv(text, path, ctx.config().relayctl.min_password_length); break;
        case Format::postfix_sender_map: source = parse_postfix_sender_map(text, path); break;
        case Format::dovecot_passwd:
            source = parse_dovecot_passwd(text, path, vm.count("customer") ? vm["customer"].as<std::string>() : "");
            break;
    }
    // With bad rows in the file, the good ones still go through a dry run, so that unknown customers,
    // domains and duplicates are reported in the same pass; nothing is written either way.
    const bool write = !dry_run && source.errors.empty();
    ImportOutcome outcome = ctx.store().import_accounts(source.accounts, !write, vm["scheme"].as<std::string>());
    if (!source.errors.empty()) {
        outcome.errors.insert(outcome.errors.end(), source.errors.begin(), source.errors.end());
        std::stable_sort(outcome.errors.begin(), outcome.errors.end(), [&](const std::string& a, const std::string& b) {
            return line_of(a, path) < line_of(b, path);
        });
    }
    std::size_t counts[3] = {0, 0, 0};
    for (const auto& c : outcome.changes) ++counts[static_cast<int>(c.kind)];
    for (const auto& e : outcome.errors) std::cerr << "relayctl: " << printable(e, 600) << "\n";
    if (ctx.json) emit(outcome_json(outcome, dry_run, counts));
    if (!outcome.errors.empty()) {
        if (!ctx.json) std::cerr << "nothing imported: " << outcome.errors.size() << " bad row(s) in " << path << "\n";
        return kExitUsage;
    }
    if (ctx.json) return kExitOk;
    for (const auto& c : outcome.changes) {
        if (c.kind == ImportChange::Kind::unchanged) continue;
        std::string details;
        for (const auto& d : c.details) details += (details.empty() ? "" : "; ") + d;
        std::cout << kind_word(c.kind, dry_run) << " " << c.login << (details.empty() ? "" : ": " + details) << "\n";
    }
    std::cout << (dry_run ? "dry run, nothing written: " : "imported from " + path + ": ") << counts[0]
              << (dry_run ? " to create, " : " created, ") << counts[1] << (dry_run ? " to change, " : " changed, ")
              << counts[2] << " unchanged\n";
    return kExitOk;
}

}  // namespace

int cmd_import_csv(Context& ctx, const Args& args) { return run_import(ctx, args, Format::csv); }
int cmd_import_postfix(Context& ctx, const Args& args) { return run_import(ctx, args, Format::postfix_sender_map); }
int cmd_import_dovecot(Context& ctx, const Args& args) { return run_import(ctx, args, Format::dovecot_passwd); }

int cmd_export_csv(Context& ctx, const Args& args) {
    Command cmd("export csv",
                "Prints every account as the CSV relayctl import csv reads (header line first), with its password "
                "hash and password_changed_at (empty when unknown), as UTF-8: keep the output as secret as the database. relayctl import csv of this output changes "
                "nothing. Suspensions, last use and rate limits are not part of it.");
    cmd.parse(ctx, args);
    std::cout << [] {
        std::string h;
        for (const auto& c : csv_columns()) h += (h.empty() ? "" : ",") + c;
        return h;
    }() << "\n";
    for (const auto& row : ctx.store().export_accounts()) {
        const AccountRow& a = row.account;
        std::string senders, networks;
        for (const auto& s : row.senders) senders += (senders.empty() ? "" : " ") + s;
        for (const auto& n : row.networks) networks += (networks.empty() ? "" : " ") + n;
        std::string note = a.note;
        if (note.find_first_of("\r\n") != std::string::npos) {
            std::cerr << "warning: " << a.login << ": line breaks in the note written as spaces\n";
            for (char& ch : note)
                if (ch == '\r' || ch == '\n') ch = ' ';
        }
        const std::vector<std::string> cells = {
            a.login, row.password_hash.value_or(""), a.customer, a.sender_policy, senders, networks, a.auth_mode,
            yes_no(a.may_relay_external), yes_no(a.require_tls), yes_no(a.allow_null_sender),
            a.max_recipients_per_message ? std::to_string(*a.max_recipients_per_message) : "none",
            a.max_message_bytes ? std::to_string(*a.max_message_bytes) : "none",
            a.valid_until ? "@" + std::to_string(*a.valid_until) : "never", yes_no(a.authority_active), note,
            a.password_changed_at ? "@" + std::to_string(*a.password_changed_at) : ""};
        std::string line;
        for (std::size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + csv_field(cells[i]);
        std::cout << line << "\n";
    }
    return kExitOk;
}

}  // namespace relay::ctl
