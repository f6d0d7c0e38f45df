// policy-bench: command line options (one struct, filled by parse_options).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace relay::bench {

enum class Mode { client, null_server, gen_sql, idle };

// The request mixes of the built-in generator, plus replaying a file.
//   rcpt_only: authenticated users, own sender, 1-8 recipients per message, RCPT requests only
//   realistic: RCPT then END-OF-MESSAGE, foreign senders and unauthenticated inbound mail mixed in
//   stream:    one account (--account), one recipient per message, RCPT then END-OF-MESSAGE
//   file:      --requests-file, requests sent in order, not reacting to the answers
enum class Mix { rcpt_only, realistic, stream, file };

const char* to_string(Mix mix);

struct Options {
    Mode mode = Mode::client;
    std::string target = "inet:127.0.0.1:10040";   // client and idle modes
    std::string listen;                            // --null-server LISTEN
    unsigned connections = 50;
    unsigned threads = 0;                          // 0: client 1, null server 2
    double duration = 10.0;                        // seconds; a cap when --requests / --messages is given
    bool duration_given = false;
    double warmup = 0.0;                           // seconds not counted at the start
    std::uint64_t requests = 0;                    // 0: unlimited
    std::uint64_t messages = 0;                    // 0: unlimited
    Mix mix = Mix::realistic;
    std::string requests_file;
    std::uint32_t accounts = 1000;
    std::uint32_t accounts_per_domain = 10;
    std::uint32_t account = 0;                     // stream mix
    unsigned unauth_percent = 10;
    unsigned foreign_percent = 5;
    unsigned max_recipients = 8;
    std::uint64_t seed = 1;
    double timeout = 10.0;                         // per request, seconds
    double rate = 0.0;                             // --rate: offered requests/s in total; 0: as fast as answered
    bool json = false;
    unsigned idle = 0;                             // --idle N: hold N idle connections
    double hold = 10.0;                            // seconds the idle connections are held
    std::uint32_t gen_sql = 0;                     // --gen-sql K
    std::string sql_password = "bench-pw";         // users.password_hash = {PLAIN}<this>
    std::uint32_t sql_id_base = 1000000;           // first id of the generated rows
};

// Parses argv. Returns nullopt after printing --help / --version (exit 0); throws std::runtime_error
// with a message naming the option on a mistake.
std::optional<Options> parse_options(int argc, char** argv);

}  // namespace relay::bench
