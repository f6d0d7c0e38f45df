// The thin seam between relay-milter's logic and libmilter. The callbacks in milter/session.cpp only ever
// talk to a MilterContext; libmilter_seam.cpp implements it over smfi_getsymval/smfi_setreply/
// smfi_quarantine, and the unit tests implement it with a map of macros and a record of replies. No
// libmilter header is included anywhere but libmilter_seam.cpp and main.cpp.
#pragma once

#include <optional>
#include <string>

namespace relay::milter {

// What a callback answers: the SMFIS_* values relay-milter uses.
enum class Status {
    cont,      // SMFIS_CONTINUE
    accept,    // SMFIS_ACCEPT: this message is not ours; no more callbacks for it
    reject,    // SMFIS_REJECT (with a reply set)
    tempfail,  // SMFIS_TEMPFAIL (with a reply set)
    noreply,   // SMFIS_NOREPLY: the MTA agreed not to wait for an answer to this step
};

const char* to_string(Status status);

// The protocol steps the MTA may let us skip answering (SMFIP_NR_CONN, _HELO, _HDR, _BODY): steps that
// never refuse anything, so the MTA need not wait for us. Decided in negotiate; the session answers
// Status::noreply for them.
struct NoReply {
    bool connect = false;
    bool helo = false;
    bool header = false;
    bool body = false;
};

class MilterContext {
public:
    virtual ~MilterContext() = default;
    // smfi_getsymval. nullopt when the MTA did not send the macro (or sent it empty).
    virtual std::optional<std::string> macro(const char* name) const = 0;
    // smfi_setreply("550", "5.7.1", text). text is already printable and free of '%'.
    virtual bool set_reply(const std::string& code, const std::string& enhanced, const std::string& text) = 0;
    // smfi_quarantine (end of message only).
    virtual bool quarantine(const std::string& reason) = 0;
};

// The macros relay-milter asks the MTA for in negotiate (smfi_setsymlist), per protocol stage.
// {tls_version}/{cipher} are asked at MAIL as well as HELO: the value current at MAIL is the one that counts.
struct MacroRequest {
    const char* connect = "{client_addr} {client_name} {daemon_name}";
    const char* helo = "{tls_version} {cipher}";
    const char* envfrom = "i {auth_authen} {auth_type} {tls_version} {cipher}";
    const char* envrcpt = "i";
    const char* eoh = "i";
    const char* eom = "i";
};

}  // namespace relay::milter
