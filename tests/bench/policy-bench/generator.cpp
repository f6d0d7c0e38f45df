#include "tests/bench/policy-bench/generator.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace relay::bench {

namespace {

// splitmix64: fast, good enough for picking accounts, and reproducible from --seed.
class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
    bool percent(unsigned p) { return below(100) < p; }

private:
    std::uint64_t state_;
};

// The attributes of one message that stay the same across its requests.
struct Message {
    std::uint64_t seq = 0;
    bool authenticated = true;
    std::string login;
    std::string client_address;
    std::string client_name;
    std::string helo;
    std::string client_port;
    std::string sender;
    std::vector<std::string> recipients;
    std::uint64_t size = 0;
    std::string instance;
    std::string queue_id;  // assigned once the first recipient is accepted, as Postfix opens the queue file
    // progress
    std::size_t next_recipient = 0;
    std::uint32_t accepted = 0;
    std::string last_accepted;
    bool at_eom = false;
    MessageResult result;
};

void attr(std::string& out, const char* name, const std::string& value) {
    out += name;
    out += '=';
    out += value;
    out += '\n';
}

// The attributes Postfix 3.7 sends, in its order (RECIPE-e2e.md section 6).
void build_request(std::string& out, const char* state, const Message& m, const std::string& recipient,
                   std::uint32_t recipient_count, std::uint64_t size) {
    out.clear();
    attr(out, "request", "smtpd_access_policy");
    attr(out, "protocol_state", state);
    attr(out, "protocol_name", "ESMTP");
    attr(out, "client_address", m.client_address);
    attr(out, "client_name", m.client_name);
    attr(out, "client_port", m.client_port);
    attr(out, "reverse_client_name", m.client_name);
    attr(out, "server_address", "127.0.0.1");
    attr(out, "server_port", m.authenticated ? "587" : "25");
    attr(out, "helo_name", m.helo);
    attr(out, "sender", m.sender);
    attr(out, "recipient", recipient);
    attr(out, "recipient_count", std::to_string(recipient_count));
    attr(out, "queue_id", m.queue_id);
    attr(out, "instance", m.instance);
    attr(out, "size", std::to_string(size));
    attr(out, "etrn_domain", "");
    attr(out, "stress", "");
    attr(out, "sasl_method", m.authenticated ? "PLAIN" : "");
    attr(out, "sasl_username", m.authenticated ? m.login : "");
    attr(out, "sasl_sender", "");
    attr(out, "ccert_subject", "");
    attr(out, "ccert_issuer", "");
    attr(out, "ccert_fingerprint", "");
    attr(out, "ccert_pubkey_fingerprint", "");
    attr(out, "encryption_protocol", m.authenticated ? "TLSv1.3" : "");
    attr(out, "encryption_cipher", m.authenticated ? "TLS_AES_256_GCM_SHA384" : "");
    attr(out, "encryption_keysize", m.authenticated ? "256" : "0");
    attr(out, "policy_context", "");
    out += '\n';
}

// Postfix's instance attribute is unique per message; a run-unique part keeps two runs against the same
// server (with the same --seed) from continuing each other's messages in the server's instance tracker.
std::uint32_t run_nonce() {
    static const std::uint32_t nonce = static_cast<std::uint32_t>(
        std::chrono::system_clock::now().time_since_epoch().count() ^ (static_cast<std::uint64_t>(getpid()) << 20));
    return nonce;
}

std::string hex(std::uint64_t v, int width, bool upper = false) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), upper ? "%0*llX" : "%0*llx", width, static_cast<unsigned long long>(v));
    return buf;
}

class GeneratedConversation : public Conversation {
public:
    GeneratedConversation(const GeneratorConfig& c, unsigned connection, MessageBudget& budget)
        : c_(c), connection_(connection), budget_(budget), rnd_(c.seed * 0x100000001B3ULL + connection + 1) {}

    bool next(Outgoing* out) override {
        if (!have_message_ && !plan()) return false;
        Message& m = msg_;
        if (!m.at_eom) {
            build_request(text_, "RCPT", m, m.recipients[m.next_recipient], m.accepted, 0);
            out->state = "RCPT";
        } else {
            const std::string& rcpt = m.accepted == 1 ? m.last_accepted : kEmpty;
            build_request(text_, "END-OF-MESSAGE", m, rcpt, m.accepted, m.size);
            out->state = "END-OF-MESSAGE";
        }
        out->text = &text_;
        return true;
    }

    bool answered(Outcome outcome, MessageResult* done) override {
        Message& m = msg_;
        if (outcome == Outcome::held) m.result.held = true;
        if (!m.at_eom) {
            if (outcome == Outcome::refused) {
                m.result.refused_at_rcpt = true;
            } else {
                ++m.accepted;
                m.last_accepted = m.recipients[m.next_recipient];
                if (m.queue_id.empty()) m.queue_id = hex(rnd_.next() & 0xFFFFFFFFFFFULL, 11, true);
            }
            if (++m.next_recipient < m.recipients.size()) return false;
            if (with_eom() && m.accepted > 0) {
                m.at_eom = true;
                m.result.eom_sent = true;
                return false;
            }
        } else if (outcome == Outcome::refused) {
            m.result.refused_at_eom = true;
        }
        *done = m.result;
        have_message_ = false;
        return true;
    }

    void reset() override { have_message_ = false; }

private:
    static inline const std::string kEmpty;

    bool with_eom() const { return c_.mix != Mix::rcpt_only; }

    std::string external_recipient() {
        return "rcpt" + std::to_string(rnd_.below(100000)) + "@ext" + std::to_string(rnd_.below(500)) + ".example";
    }

    // 60 % one recipient, 20 % two, 10 % three, 10 % four up to --max-recipients.
    unsigned recipient_count() {
        const std::uint64_t r = rnd_.below(100);
        unsigned n = r < 60 ? 1 : r < 80 ? 2 : r < 90 ? 3 : 4 + static_cast<unsigned>(rnd_.below(5));
        return std::min(n, c_.max_recipients);
    }

    void plan_authenticated(Message& m, std::uint32_t account, bool foreign) {
        m.authenticated = true;
        m.login = c_.naming.login(account);
        m.client_address = account_client_address(account);
        m.client_name = "unknown";
        m.helo = "client" + std::to_string(account) + ".example";
        if (foreign) {
            m.sender = "someone" + std::to_string(rnd_.below(1000)) + "@foreign" + std::to_string(rnd_.below(100)) +
                       ".example";
        } else if (rnd_.percent(5)) {
            m.sender = c_.naming.local_part(account) + "+tag@" + c_.naming.domain_name(c_.naming.domain_of(account));
        } else {
            m.sender = m.login;
        }
    }

    void plan_unauthenticated(Message& m) {
        m.authenticated = false;
        m.login.clear();
        const std::uint64_t host = rnd_.below(512);
        m.client_address = (host < 256 ? "198.51.100." : "203.0.113.") + std::to_string(host % 256);
        m.client_name = "mx" + std::to_string(host) + ".sender.example";
        m.helo = m.client_name;
        m.sender = "news" + std::to_string(rnd_.below(1000)) + "@sender" + std::to_string(host) + ".example";
    }

    bool plan() {
        const std::uint64_t seq = budget_.take();
        if (seq == 0) return false;
        Message& m = msg_;
        m = Message{};
        m.seq = seq;
        m.result.seq = seq;
        m.client_port = std::to_string(1024 + rnd_.below(60000));
        m.instance = hex(0x1000 + connection_, 4) + "." + hex(run_nonce(), 8) + "." + hex(++serial_, 5) + ".0";
        m.size = 1000 + rnd_.below(1000) * rnd_.below(200);  // 1 kB to ~200 kB, most small
        unsigned n = 1;
        switch (c_.mix) {
            case Mix::stream:
                plan_authenticated(m, c_.account, false);
                m.sender = m.login;
                m.recipients.push_back(external_recipient());
                break;
            case Mix::rcpt_only:
                plan_authenticated(m, static_cast<std::uint32_t>(rnd_.below(c_.accounts)), false);
                n = recipient_count();
                for (unsigned i = 0; i < n; ++i) m.recipients.push_back(any_recipient());
                break;
            case Mix::realistic:
            case Mix::file:
                if (rnd_.percent(c_.unauth_percent)) {
                    plan_unauthenticated(m);
                    n = 1 + static_cast<unsigned>(rnd_.below(2));
                    for (unsigned i = 0; i < n; ++i) m.recipients.push_back(local_recipient());
                } else {
                    plan_authenticated(m, static_cast<std::uint32_t>(rnd_.below(c_.accounts)),
                                       rnd_.percent(c_.foreign_percent));
                    n = recipient_count();
                    for (unsigned i = 0; i < n; ++i) m.recipients.push_back(any_recipient());
                }
                break;
        }
        have_message_ = true;
        return true;
    }

    std::string local_recipient() { return c_.naming.login(static_cast<std::uint32_t>(rnd_.below(c_.accounts))); }
    // 70 % to external domains, 30 % to hosted (local) ones.
    std::string any_recipient() { return rnd_.percent(70) ? external_recipient() : local_recipient(); }

    const GeneratorConfig& c_;
    unsigned connection_;
    MessageBudget& budget_;
    Random rnd_;
    Message msg_;
    bool have_message_ = false;
    std::uint64_t serial_ = 0;
    std::string text_;
};

// --requests-file: the file's requests in order, each connection starting at its own offset.
class FileConversation : public Conversation {
public:
    FileConversation(const std::vector<FileRequest>& requests, unsigned connection)
        : requests_(requests), pos_((connection * 7919ULL) % requests.size()) {}
    bool next(Outgoing* out) override {
        const FileRequest& r = requests_[pos_];
        out->text = &r.text;
        out->state = r.state.c_str();
        return true;
    }
    bool answered(Outcome, MessageResult*) override {
        pos_ = (pos_ + 1) % requests_.size();
        return false;
    }
    void reset() override {}

private:
    const std::vector<FileRequest>& requests_;
    std::size_t pos_;
};

FileRequest finish_file_request(std::string text) {
    FileRequest r;
    if (text.rfind("request=", 0) != 0 && text.find("\nrequest=") == std::string::npos)
        text = "request=smtpd_access_policy\n" + text;
    const auto p = text.rfind("protocol_state=", 0) == 0 ? 0 : text.find("\nprotocol_state=");
    if (p == std::string::npos) {
        r.state = "(none)";
    } else {
        const auto start = text.find('=', p) + 1;
        r.state = text.substr(start, text.find('\n', start) - start);
    }
    r.text = text + "\n";
    return r;
}

}  // namespace

std::vector<FileRequest> load_requests_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot be read");
    std::vector<FileRequest> out;
    std::string line;
    std::string current;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
            if (!current.empty()) out.push_back(finish_file_request(std::move(current)));
            current.clear();
            continue;
        }
        if (line[0] == '#' && current.empty()) continue;  // comments between requests
        current += line;
        current += '\n';
    }
    if (!current.empty()) out.push_back(finish_file_request(std::move(current)));
    if (out.empty()) throw std::runtime_error(path + ": no request found (requests are separated by empty lines)");
    return out;
}

std::unique_ptr<Conversation> make_conversation(const GeneratorConfig& config, unsigned connection,
                                                MessageBudget& budget) {
    if (config.mix == Mix::file) return std::make_unique<FileConversation>(*config.file, connection);
    return std::make_unique<GeneratedConversation>(config, connection, budget);
}

std::string single_rcpt_request(const AccountNaming& naming, std::uint32_t account, std::uint64_t serial) {
    Message m;
    m.login = naming.login(account);
    m.client_address = account_client_address(account);
    m.client_name = "unknown";
    m.helo = "client" + std::to_string(account) + ".example";
    m.client_port = std::to_string(1024 + serial % 60000);
    m.sender = m.login;
    m.instance = "1d1e." + hex(run_nonce(), 8) + "." + hex(serial, 5) + ".0";
    std::string out;
    build_request(out, "RCPT", m, "rcpt" + std::to_string(serial) + "@ext0.example", 0, 0);
    return out;
}

}  // namespace relay::bench
