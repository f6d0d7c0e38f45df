// A relay request as the engine sees it: what the MTA told us about one SMTP transaction, at one stage.
// Both adapters (relay-policyd, relay-milter) fill this from their protocol; the engine never sees a socket.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relay {

enum class Stage { connect, helo, mail, rcpt, data, end_of_message };

const char* to_string(Stage stage);

struct Request {
    Stage stage = Stage::rcpt;
    std::string client_address;        // "192.0.2.1" or "2001:db8::1"; empty if unknown
    std::string client_name;           // reverse DNS name, informational
    std::string helo_name;
    std::string sasl_login;            // empty: the client did not authenticate
    std::string sasl_method;           // PLAIN, LOGIN, ...
    std::string sender;                // envelope sender as sent, without <>; empty = null sender <>
    bool sender_known = false;         // false before MAIL FROM (connect/helo stages)
    std::string recipient;             // current recipient (rcpt stage; end_of_message with one recipient)
    std::uint32_t recipient_count = 0; // recipients accepted so far; at end_of_message: all accepted
    std::uint64_t size = 0;            // declared SIZE= before DATA, real size at end_of_message; 0 unknown
    std::string tls_protocol;          // e.g. TLSv1.3; empty: no TLS
    std::string tls_cipher;
    std::string queue_id;
    std::string instance;              // Postfix instance / milter message id: ties stages of one message
    std::vector<std::string> header_from; // milter only: the addresses of From: and Sender:, parsed

    bool authenticated() const { return !sasl_login.empty(); }
    bool tls() const { return !tls_protocol.empty(); }
};

}  // namespace relay
