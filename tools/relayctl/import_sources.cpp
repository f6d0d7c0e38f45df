#include "tools/relayctl/import_sources.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <sstream>

#include "core/admin/password.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

// Lines with their numbers; a trailing CR (CRLF files) removed.
std::vector<std::pair<std::size_t, std::string>> lines_of(const std::string& text) {
    std::vector<std::pair<std::size_t, std::string>> out;
    std::istringstream in(text);
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.emplace_back(number, line);
    }
    return out;
}

bool blank(const std::string& line) {
    return line.find_first_not_of(" \t") == std::string::npos;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> words(const std::string& s, const char* separators) {
    std::vector<std::string> out;
    std::string word;
    for (char c : s) {
        if (std::strchr(separators, c)) {
            if (!word.empty()) out.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) out.push_back(word);
    return out;
}

// One CSV record (RFC 4180 quoting) that must end on its line.
bool split_csv(const std::string& line, std::vector<std::string>& fields, std::string& error) {
    fields.assign(1, "");
    bool quoted = false, was_quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
            else if (c == '"') quoted = false;
            else fields.back() += c;
        } else if (c == '"') {
            if (!fields.back().empty() || was_quoted) {
                error = "a quote inside an unquoted field (write \"\" inside a quoted field)";
                return false;
            }
            quoted = was_quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
            was_quoted = false;
        } else if (was_quoted) {
            error = "text after the closing quote of a field";
            return false;
        } else {
            fields.back() += c;
        }
    }
    if (quoted) {
        error = "a quoted field does not end on its line (line breaks inside fields are not supported)";
        return false;
    }
    return true;
}

bool yes_no_value(const std::string& v, const std::string& column) {
    std::string l = v;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (l == "yes" || l == "1" || l == "true") return true;
    if (l == "no" || l == "0" || l == "false") return false;
    throw UsageError(column + ": '" + printable(v, 40) + "' is not yes or no");
}

// The password column: a {SCHEME} hash as is, else a plain password checked like account add does.
void read_password_value(const std::string& v, const std::string& login, std::size_t min_length, ImportAccount& a) {
    if (v.empty()) return;
    if (v.front() == '{') {
        if (auto problem = stored_hash_problem(v); !problem.empty()) throw UsageError("password: " + problem);
        a.password_hash = v;
        return;
    }
    if (auto weak = password_weakness(v, login, min_length); !weak.empty())
        throw UsageError("password: " + weak + " (or give a {SCHEME} hash)");
    a.password_plain = v;
}

using Setter = std::function<void(const std::string&, ImportAccount&, const std::string& login)>;

// Column name -> how its (non-empty) value is stored. Parsers throw UsageError naming the problem.
std::map<std::string, Setter> make_setters(std::size_t min_length) {
    return {
        {"login", [](const std::string&, ImportAccount&, const std::string&) {}},
        {"password", [min_length](const std::string& v, ImportAccount& a, const std::string& login) {
             read_password_value(v, login, min_length, a);
         }},
        {"customer", [](const std::string& v, ImportAccount& a, const std::string&) { a.customer = v; }},
        {"sender_policy", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.sender_policy = sender_policy_from_string(v);
             if (!a.fields.sender_policy)
                 throw UsageError("sender_policy: '" + printable(v, 40) +
                                  "' is not one of own_address, own_domain, customer_domains, listed_only");
         }},
        {"senders", [](const std::string& v, ImportAccount& a, const std::string&) {
             for (const auto& w : words(v, " \t")) a.senders.push_back(parse_pattern(w));
         }},
        {"networks", [](const std::string& v, ImportAccount& a, const std::string&) {
             for (const auto& w : words(v, " \t")) a.networks.push_back(parse_cidr(w));
         }},
        {"auth_mode", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.auth_mode = auth_mode_from_string(v);
             if (!a.fields.auth_mode)
                 throw UsageError("auth_mode: '" + printable(v, 40) + "' is not one of sasl, ip, sasl_and_ip");
         }},
        {"may_relay_external", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.may_relay_external = yes_no_value(v, "may_relay_external");
         }},
        {"require_tls", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.require_tls = yes_no_value(v, "require_tls");
         }},
        {"allow_null_sender", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.allow_null_sender = yes_no_value(v, "allow_null_sender");
         }},
        {"max_recipients_per_message", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.max_recipients_per_message = parse_count(v, "max_recipients_per_message", true);
         }},
        {"max_message_bytes", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.max_message_bytes = parse_size(v, "max_message_bytes");
         }},
        {"valid_until", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.valid_until = parse_time(v, static_cast<std::int64_t>(std::time(nullptr)), "valid_until");
         }},
        {"active", [](const std::string& v, ImportAccount& a, const std::string&) {
             a.fields.active = yes_no_value(v, "active");
         }},
        {"note", [](const std::string& v, ImportAccount& a, const std::string&) { a.fields.note = v; }},
        {"password_changed_at", [](const std::string& v, ImportAccount& a, const std::string&) {
             // parse_time's own message offers "never", which means nothing here
             try {
                 a.password_changed_at = parse_time(v, static_cast<std::int64_t>(std::time(nullptr)), "");
             } catch (const UsageError&) {
             }
             if (!a.password_changed_at)
                 throw UsageError("password_changed_at: cannot read '" + printable(v, 40) +
                                  "' as a past time (write @UNIX-SECONDS or YYYY-MM-DD [HH:MM[:SS]]; leave the "
                                  "cell empty when unknown)");
         }},
    };
}

std::string column_list() {
    std::string out;
    for (const auto& c : csv_columns()) out += (out.empty() ? "" : ",") + c;
    return out;
}

// The header: every name known, none twice, login present. Empty on success.
std::string check_header(const std::vector<std::string>& header) {
    std::vector<std::string> seen;
    for (const auto& raw : header) {
        const std::string name = trim(raw);
        if (std::find(csv_columns().begin(), csv_columns().end(), name) == csv_columns().end())
            return "unknown column '" + printable(name, 60) + "' in the header (the columns are: " + column_list() + ")";
        if (std::find(seen.begin(), seen.end(), name) != seen.end())
            return "column '" + name + "' appears twice in the header";
        seen.push_back(name);
    }
    if (std::find(seen.begin(), seen.end(), "login") == seen.end())
        return "the header has no login column (the first line names the columns: " + column_list() + ")";
    return "";
}

}  // namespace

const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> columns = {
        "login", "password", "customer", "sender_policy", "senders", "networks", "auth_mode", "may_relay_external",
        "require_tls", "allow_null_sender", "max_recipients_per_message", "max_message_bytes", "valid_until",
        "active", "note", "password_changed_at"};
    return columns;
}

ImportSource parse_csv(const std::string& text, const std::string& name, std::size_t min_password_length) {
    ImportSource out;
    const auto table = make_setters(min_password_length);
    std::vector<std::string> header;
    for (const auto& [number, line] : lines_of(text)) {
        const std::string where = name + ":" + std::to_string(number);
        std::vector<std::string> fields;
        std::string error;
        if (header.empty()) {
            if (blank(line)) continue;
            if (!split_csv(line, header, error) || !(error = check_header(header)).empty()) {
                out.errors.push_back(where + ": " + error);
                return out;  // without a header no row can be read
            }
            for (auto& h : header) h = trim(h);
            continue;
        }
        if (blank(line)) continue;
        if (!split_csv(line, fields, error)) {
            out.errors.push_back(where + ": " + error);
            continue;
        }
        if (fields.size() != header.size()) {
            out.errors.push_back(where + ": " + std::to_string(fields.size()) + " fields, the header has " +
                                 std::to_string(header.size()));
            continue;
        }
        try {
            ImportAccount a;
            a.source = where;
            const std::string login_text = trim(fields[std::find(header.begin(), header.end(), "login") - header.begin()]);
            const Login login = parse_login(login_text);
            a.local_part = login.local_part;
            a.domain = login.domain;
            for (std::size_t i = 0; i < header.size(); ++i) {
                // a password may begin or end with a blank: only the other columns are trimmed
                const std::string value = header[i] == "password" || header[i] == "note" ? fields[i] : trim(fields[i]);
                if (!value.empty()) table.at(header[i])(value, a, login.str());
            }
            out.accounts.push_back(std::move(a));
        } catch (const UsageError& e) {
            out.errors.push_back(where + ": " + e.what());
        }
    }
    if (header.empty()) out.errors.push_back(name + ":1: empty file: the first line must name the columns (" + column_list() + ")");
    return out;
}

ImportSource parse_postfix_sender_map(const std::string& text, const std::string& name) {
    ImportSource out;
    // Postfix's table format: a line starting with white space continues the previous one; # comments.
    std::vector<std::pair<std::size_t, std::string>> entries;
    for (const auto& [number, line] : lines_of(text)) {
        const std::string t = trim(line);
        if (t.empty() || t.front() == '#') continue;
        if ((line.front() == ' ' || line.front() == '\t') && !entries.empty()) entries.back().second += " " + t;
        else if (line.front() == ' ' || line.front() == '\t')
            out.errors.push_back(name + ":" + std::to_string(number) + ": a continuation line with nothing before it");
        else entries.emplace_back(number, t);
    }
    for (const auto& [number, entry] : entries) {
        const std::string where = name + ":" + std::to_string(number);
        const auto space = entry.find_first_of(" \t");
        const std::string key = entry.substr(0, space);
        const auto owners = words(space == std::string::npos ? "" : entry.substr(space), " \t,");
        try {
            if (owners.empty()) throw UsageError("no owner after the sender '" + printable(key, 100) + "'");
            if (key.find('@') == std::string::npos)
                throw UsageError("the sender '" + printable(key, 100) +
                                 "' has no @: write user@domain or @domain (lookups by local part or domain alone "
                                 "are not imported)");
            const std::string pattern = parse_pattern(key);
            for (const auto& owner : owners) {
                const Login login = parse_login(owner);
                ImportAccount a;
                a.source = where;
                a.local_part = login.local_part;
                a.domain = login.domain;
                a.senders.push_back(pattern);
                a.requires_existing = true;
                out.accounts.push_back(std::move(a));
            }
        } catch (const UsageError& e) {
            out.errors.push_back(where + ": " + e.what());
        }
    }
    return out;
}

ImportSource parse_dovecot_passwd(const std::string& text, const std::string& name, const std::string& customer) {
    ImportSource out;
    for (const auto& [number, line] : lines_of(text)) {
        const std::string where = name + ":" + std::to_string(number);
        const std::string t = trim(line);
        if (t.empty() || t.front() == '#') continue;
        try {
            const auto colon = line.find(':');
            if (colon == std::string::npos) throw UsageError("no ':' after the user name (user:{SCHEME}hash:...)");
            const std::string user = line.substr(0, colon);
            if (user.find('@') == std::string::npos)
                throw UsageError("user '" + printable(user, 100) + "' has no @domain: relay logins are full addresses");
            const Login login = parse_login(user);
            std::string password = line.substr(colon + 1);
            password = password.substr(0, password.find(':'));
            ImportAccount a;
            a.source = where;
            a.local_part = login.local_part;
            a.domain = login.domain;
            if (!customer.empty()) a.customer = customer;
            if (!password.empty()) {
                // no {SCHEME}: Dovecot's default_pass_scheme, CRYPT unless changed
                if (password.front() != '{') password = "{CRYPT}" + password;
                if (auto problem = stored_hash_problem(password); !problem.empty()) throw UsageError(problem);
                a.password_hash = password;
            }
            out.accounts.push_back(std::move(a));
        } catch (const UsageError& e) {
            out.errors.push_back(where + ": " + e.what());
        }
    }
    return out;
}

std::string csv_field(const std::string& value) {
    if (value.find_first_of(",\"") == std::string::npos && (value.empty() || (value.front() != ' ' && value.back() != ' ')))
        return value;
    std::string out = "\"";
    for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace relay::ctl
