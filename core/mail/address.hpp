// Mail addresses as they appear in SMTP envelopes and SASL logins.
// Domains are compared as lower-case IDNA A-labels; local parts case-insensitively (as admins expect of
// logins), after removing quoting that does not change the address.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

struct Address {
    std::string local_part;  // unquoted, lower-cased
    std::string domain;      // lower-case A-label form ("xn--bcher-kva.example")

    std::string str() const { return local_part + "@" + domain; }
    // local part without a "+extension" ("alice+news" -> "alice")
    std::string base_local_part() const;
};

// A null sender ("<>" or empty) has ok == false and null_sender == true: callers that accept it (the
// envelope sender) test null_sender first; everywhere else it is simply not an address.
struct AddressResult {
    bool ok = false;
    bool null_sender = false;  // "<>" or empty
    Address address;
    std::string error;         // why it is malformed, for the reply text and the log
    // Non-empty when the address names another hop than its domain, in the words of a reply text (no
    // '%': libmilter treats it as a format character): a percent sign, a '!' (bang path) or an '@' in the
    // local part, or a source route. An MTA may deliver such mail elsewhere: Postfix, for a domain in
    // mydestination, turns "user%other@here" into "user@other" (allow_percent_hack), "other!user@here"
    // into "user@other" (swap_bangpath) and looks inside quotes (resolve_dequoted_address).
    std::string routing;
    bool routed() const { return !routing.empty(); }
};

// Parses an envelope address: optional <>, optional source route ("@a,@b:user@dom" -> "user@dom"),
// dot-atom or quoted-string local part, domain name or address literal ([192.0.2.1]).
// Never matches by accident: anything it cannot read with certainty is malformed.
AddressResult parse_address(std::string_view raw);

// A SASL login names an account only when it is written exactly as that account's login up to ASCII case:
// local@domain, without quotes, angle brackets, source route or blanks, and the domain as its A-label
// ("xn--bcher-kva.example") or as exactly the U-label that A-label encodes ("bücher.example"; the two
// are one name, RFC 5890 2.3.2.1). Mappings that merely lead to the login (fullwidth letters, non-ASCII
// upper case, NFD) do not. Returns the login in the form Snapshot::find_account() indexes, or nullopt
// and the reason.
std::optional<std::string> canonical_login(std::string_view login, std::string* error = nullptr);

// Lower-case A-label form of a domain (UTF-8 U-labels are converted with IDNA2008 / libidn2).
// Returns nullopt (and an explanation) for a domain that is not a valid host name.
std::optional<std::string> normalize_domain(std::string_view domain, std::string* error = nullptr);

// A sender pattern of authority_senders: "user@example.com" or "@example.com", normalised the same way.
struct SenderPattern {
    std::string local_part;  // empty for a whole-domain pattern
    std::string domain;
    bool matches(const Address& sender) const;  // exact address (its +extensions too) or any in domain
    std::string str() const { return local_part + "@" + domain; }
};
std::optional<SenderPattern> parse_sender_pattern(std::string_view text, std::string* error = nullptr);

}  // namespace relay
