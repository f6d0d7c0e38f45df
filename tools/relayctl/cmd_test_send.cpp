// relayctl test-send: a real submission as a device would make it (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA),
// through libcurl's SMTP client (TLS by OpenSSL). libcurl's debug callback gives us every command and reply,
// which we print (the AUTH exchange masked), and which step failed; then we say in plain words why.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

#include "core/admin/password.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

struct Line {
    bool from_client;
    std::string text;
};

// What the debug callback learns about the session.
struct Session {
    bool echo = true;                // print lines as they come (text mode)
    std::vector<Line> transcript;
    std::string step = "connect";    // the last command that is not QUIT/RSET: where a failure happened
    std::string reply;               // the last reply before QUIT ("550 5.7.1 ...", continuation lines joined)
    int reply_code = 0;
    bool reply_complete = true;      // the next server line starts a new reply
    bool quit_sent = false;          // replies after QUIT do not explain anything
    bool auth_sent = false;
    bool in_auth = false;            // client lines are masked until AUTH is answered with a final code
    bool starttls_offered = false;
    bool auth_offered = false;
    bool tls_done = false;
    std::string pending_in;          // partial reply data across callback calls
};

void record(Session& s, bool from_client, const std::string& text) {
    s.transcript.push_back({from_client, text});
    if (s.echo) std::cout << (from_client ? "C: " : "S: ") << printable(text, 500) << "\n" << std::flush;
}

void client_line(Session& s, std::string line) {
    std::string verb = line.substr(0, line.find(' '));
    for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s.in_auth) {
        line = "******** (hidden)";
    } else if (verb == "AUTH") {
        // "AUTH PLAIN <base64 of the password>": never shown
        auto second = line.find(' ', 5);
        line = second == std::string::npos ? line : line.substr(0, second) + " ********";
        s.in_auth = true;
    }
    if (verb != "QUIT" && verb != "RSET" && !s.in_auth) {
        s.step = verb == "HELO" ? "EHLO" : verb;
    } else if (verb == "AUTH") {
        s.step = "AUTH";
    }
    if (verb == "STARTTLS") s.tls_done = true;
    if (verb == "QUIT") s.quit_sent = true;
    if (verb == "AUTH") s.auth_sent = true;
    record(s, true, line);
}

void server_line(Session& s, const std::string& line) {
    record(s, false, line);
    if (line.size() < 3) return;
    const int code = std::atoi(line.substr(0, 3).c_str());
    const bool last = line.size() == 3 || line[3] == ' ';
    std::string upper = line;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s.step == "EHLO" && code == 250) {
        if (upper.find("STARTTLS") == 4) s.starttls_offered = true;
        if (upper.find("AUTH") == 4) s.auth_offered = true;
    }
    if (s.quit_sent) return;
    if (s.reply_complete) s.reply.clear();
    s.reply += (s.reply.empty() ? "" : " / ") + line;
    s.reply_complete = last;
    if (last) {
        s.reply_code = code;
        if (s.in_auth && code != 334) s.in_auth = false;
    }
}

int debug_cb(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    Session& s = *static_cast<Session*>(user);
    std::string chunk(data, size);
    if (type == CURLINFO_HEADER_OUT) {
        std::size_t start = 0;
        while (start < chunk.size()) {
            std::size_t end = chunk.find("\r\n", start);
            if (end == std::string::npos) end = chunk.size();
            if (end > start) client_line(s, chunk.substr(start, end - start));
            start = end + 2;
        }
    } else if (type == CURLINFO_HEADER_IN) {
        s.pending_in += chunk;
        std::size_t end;
        while ((end = s.pending_in.find("\r\n")) != std::string::npos) {
            server_line(s, s.pending_in.substr(0, end));
            s.pending_in.erase(0, end + 2);
        }
    } else if (type == CURLINFO_TEXT && s.echo) {
        std::string t = chunk;
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
        // libcurl's own notes ("Trying 127.0.0.1:587...", "SSL connection using TLSv1.3") help the admin
        if (t.rfind("Trying", 0) == 0 || t.rfind("Connected", 0) == 0 || t.rfind("SSL connection", 0) == 0 ||
            t.rfind("Server certificate", 0) == 0 || t.find("certificate") != std::string::npos)
            std::cout << "   " << printable(t, 300) << "\n";
    }
    return 0;
}

struct Body {
    std::string text;
    std::size_t offset = 0;
};

size_t read_cb(char* buffer, size_t size, size_t nitems, void* user) {
    Body& b = *static_cast<Body*>(user);
    const std::size_t n = std::min(size * nitems, b.text.size() - b.offset);
    std::memcpy(buffer, b.text.data() + b.offset, n);
    b.offset += n;
    return n;
}

std::string message_text(const std::string& from, const std::string& to, const std::string& host) {
    char date[64];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
    unsigned char rnd[8];
    RAND_bytes(rnd, sizeof rnd);
    char id[32];
    std::snprintf(id, sizeof id, "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                  rnd[6], rnd[7]);
    return "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: relayctl test-send\r\nDate: " + date +
           "\r\nMessage-ID: <" + id + ".relayctl@" + host + ">\r\n\r\n"
           "This is a test message from relayctl test-send: the relay account works.\r\n";
}

bool contains(const std::string& haystack, const char* needle) {
    std::string h = haystack, n = needle;
    for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return h.find(n) != std::string::npos;
}

// The plain-words cause of a failure: which step, and the likely reason.
std::string diagnose(CURLcode rc, const Session& s, bool want_starttls, const std::string& server, bool want_auth) {
    // libcurl skips AUTH when the server does not advertise it: say so, whatever failed afterwards.
    if (want_auth && !s.auth_sent && !s.auth_offered && rc != CURLE_COULDNT_CONNECT && rc != CURLE_INTERFACE_FAILED &&
        rc != CURLE_COULDNT_RESOLVE_HOST && rc != CURLE_USE_SSL_FAILED && rc != CURLE_PEER_FAILED_VERIFICATION &&
        rc != CURLE_SSL_CONNECT_ERROR && rc != CURLE_OPERATION_TIMEDOUT)
        return std::string("the server offers no AUTH here, so the login was never tried") +
               (want_starttls || s.tls_done ? "" : " (AUTH is usually offered only after STARTTLS: add --starttls)") +
               (s.reply.empty() ? "" : " (" + s.reply + ")");
    switch (rc) {
        case CURLE_INTERFACE_FAILED:
            return "cannot send from the --source-ip address: it is not an address of this host";
        case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve the server name " + server;
        case CURLE_COULDNT_CONNECT: return "cannot connect to " + server + ": nothing listens there, or a firewall";
        case CURLE_OPERATION_TIMEDOUT: return "timed out at " + s.step + ": the server did not answer in time";
        case CURLE_USE_SSL_FAILED: return "the server does not offer STARTTLS (no STARTTLS in its EHLO reply)";
        case CURLE_PEER_FAILED_VERIFICATION:
            return "TLS: the server's certificate is not trusted or does not name " + server +
                   " (give --cafile FILE, or --insecure to test the rest anyway)";
        case CURLE_SSL_CONNECT_ERROR: return "the TLS handshake failed (" + std::string(curl_easy_strerror(rc)) + ")";
        default: break;
    }
    const std::string& r = s.reply;
    if (s.step == "AUTH" || rc == CURLE_LOGIN_DENIED) {
        if (!s.auth_offered)
            return std::string("the server offers no AUTH here") +
                   (want_starttls || s.tls_done ? "" : " (AUTH is usually offered only after STARTTLS: add --starttls)");
        if (s.reply_code == 535) return "wrong user name or password (" + r + ")";
        return "authentication failed (" + (r.empty() ? std::string(curl_easy_strerror(rc)) : r) + ")";
    }
    std::string why;
    if (contains(r, "may not send as") || contains(r, "sender address rejected: not owned")) why = "sender not owned: this login may not use that envelope sender";
    else if (contains(r, "null sender")) why = "this login may not use the null sender";
    else if (contains(r, "relay access denied") || contains(r, "may not relay") || contains(r, "relaying denied"))
        why = "relay refused: this login (or an unauthenticated client) may not send to that recipient";
    else if (contains(r, "suspended")) why = "the account is suspended";
    else if (contains(r, "expired")) why = "the account has expired";
    else if (contains(r, "is disabled")) why = "the account, its domain or its customer is disabled";
    else if (contains(r, "from client address")) why = "the client address is outside the account's networks";
    else if (contains(r, "not allowed to send mail through")) why = "the login has no SMTP authority";
    else if (contains(r, "too many recipients")) why = "too many recipients for this account";
    else if (s.reply_code == 530 || contains(r, "must issue a starttls") || contains(r, "tls"))
        why = "TLS is required: add --starttls";
    else if (s.reply_code >= 400 && s.reply_code < 500)
        why = "temporary refusal (a rate limit, the policy service unavailable, or greylisting): try later";
    else if (s.reply_code >= 500) why = "refused by the server";
    else why = curl_easy_strerror(rc);
    return why + (r.empty() ? "" : " (" + r + ")");
}

}  // namespace

namespace {

struct SendOptions {
    std::string server, user, from, to, helo, cafile, method, source_ip, password_file;
    unsigned port = 587;
    unsigned timeout = 30;
    bool starttls = false, implicit_tls = false, insecure = false, allow_plaintext = false;
    std::string host() const { return server.find(':') != std::string::npos ? "[" + server + "]" : server; }
};

SendOptions read_options(const po::variables_map& vm) {
    if (!vm.count("server")) throw UsageError("--server is required");
    if (!vm.count("to")) throw UsageError("--to is required");
    if (vm.count("tls") && vm.count("starttls")) throw UsageError("--tls and --starttls contradict each other");
    SendOptions o;
    o.server = vm["server"].as<std::string>();
    o.port = vm["port"].as<unsigned>();
    o.user = vm.count("user") ? vm["user"].as<std::string>() : "";
    o.from = vm.count("from") ? vm["from"].as<std::string>() : o.user;
    o.to = vm["to"].as<std::string>();
    o.helo = vm["helo"].as<std::string>();
    o.timeout = vm["timeout"].as<unsigned>();
    o.starttls = vm.count("starttls") > 0;
    o.implicit_tls = vm.count("tls") > 0;
    o.insecure = vm.count("insecure") > 0;
    if (vm.count("cafile")) o.cafile = vm["cafile"].as<std::string>();
    if (o.from.empty()) throw UsageError("--from is required without --user");
    for (const std::string* v : {&o.server, &o.from, &o.to, &o.user, &o.helo})
        if (v->find_first_of("\r\n<> ") != std::string::npos)
            throw UsageError("'" + printable(*v, 100) + "' contains a space, angle bracket or line break");
    // both end up in the URL libcurl parses
    for (const std::string* v : {&o.server, &o.helo})
        if (v->find_first_of("/?#@") != std::string::npos)
            throw UsageError("'" + printable(*v, 100) + "' is not a host name");
    o.allow_plaintext = vm.count("allow-plaintext") > 0;
    // A relay password in cleartext can be read by anyone on the path: refuse unless asked for in words.
    if (!o.user.empty() && !o.starttls && !o.implicit_tls && !o.allow_plaintext)
        throw UsageError("refusing to send the password of " + printable(o.user, 100) +
                         " in cleartext: add --starttls (port 587) or --tls (port 465); --allow-plaintext only for "
                         "a test server you reach over a trusted path");
    if (vm.count("source-ip")) {
        o.source_ip = vm["source-ip"].as<std::string>();
        unsigned char buf[16];
        if (inet_pton(AF_INET, o.source_ip.c_str(), buf) != 1 && inet_pton(AF_INET6, o.source_ip.c_str(), buf) != 1)
            throw UsageError("--source-ip: '" + printable(o.source_ip, 60) +
                             "' is not an IPv4 or IPv6 address (write 192.0.2.10 or 2001:db8::10)");
    }
    if (vm.count("password-file") && vm.count("password-stdin"))
        throw UsageError("--password-file and --password-stdin contradict each other");
    if (vm.count("password-file")) {
        if (o.user.empty()) throw UsageError("--password-file needs --user");
        o.password_file = vm["password-file"].as<std::string>();
    }
    if (vm.count("auth-method")) {
        o.method = vm["auth-method"].as<std::string>();
        for (auto& c : o.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (o.method != "PLAIN" && o.method != "LOGIN") throw UsageError("--auth-method: PLAIN or LOGIN");
    }
    return o;
}

// One SMTP submission through libcurl; the session learns every step through the debug callback.
CURLcode submit(const SendOptions& o, const std::string& password, Session& session) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL* curl = curl_easy_init();
    if (!curl) throw UsageError("libcurl could not be initialised");
    Body body{message_text(o.from, o.to, o.helo)};
    // The URL path is the EHLO name libcurl sends.
    const std::string url = std::string(o.implicit_tls ? "smtps://" : "smtp://") + o.host() + ":" +
                            std::to_string(o.port) + "/" + o.helo;
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + o.to + ">").c_str());
    const std::string mail_from = "<" + o.from + ">", login_options = "AUTH=" + o.method;
    const std::string interface = "host!" + o.source_ip;  // bind to this local address, never a device name
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    if (!o.source_ip.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, interface.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_USE_SSL, o.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
    if (!o.user.empty()) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, o.user.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, password.c_str());
        if (!o.method.empty()) curl_easy_setopt(curl, CURLOPT_LOGIN_OPTIONS, login_options.c_str());
    }
    if (!o.cafile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, o.cafile.c_str());
    if (o.insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(curl, CURLOPT_READDATA, &body);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE, static_cast<long>(body.text.size()));
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &session);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(o.timeout));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return rc;
}

}  // namespace

namespace {
// The first line of a password file (trailing CR removed), checked like a typed password.
std::string read_password_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw UsageError("--password-file: cannot read " + printable(path, 200) + ": " + std::strerror(errno));
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (auto problem = password_problem(line); !problem.empty())
        throw UsageError(problem + " (read from " + printable(path, 200) + ")");
    return line;
}
}  // namespace

int cmd_test_send(Context& ctx, const Args& args) {
    Command cmd("test-send --server H [--port 587] [--starttls|--tls] [--user U] --from F --to R "
                "[--source-ip IP] [--helo NAME]",
                "Submits a short test message exactly like a device would, printing every SMTP command and reply "
                "(the AUTH exchange hidden), and on failure says which step failed and the likely cause: wrong "
                "password, no STARTTLS, relay refused, sender not owned... The password is read from stdin "
                "(--password-stdin; on a terminal: asked, not echoed) or from the first line of --password-file. "
                "With --user, the password is only sent under --starttls or --tls (else refused, exit 1) unless "
                "--allow-plaintext. Without --user it tests an IP-authorised device: --source-ip sends from the "
                "device's address (one of this host's addresses). Exit 0 when the server accepted the message, 6 "
                "when not.");
    cmd.options.add_options()
        ("server", po::value<std::string>(), "the submission server (host name or address)")
        ("port", po::value<unsigned>()->default_value(587), "port (587 submission; 465 with --tls)")
        ("starttls", "require STARTTLS before AUTH (what devices on port 587 should do)")
        ("tls", "implicit TLS from the first byte (port 465, 'SMTPS')")
        ("user", po::value<std::string>(), "login (the full address); omit to test without AUTH")
        ("from", po::value<std::string>(), "envelope sender (default: the login)")
        ("to", po::value<std::string>(), "recipient")
        ("cafile", po::value<std::string>(), "CA certificate(s) to verify the server with")
        ("insecure", "do not verify the server certificate (self-signed test servers)")
        ("helo", po::value<std::string>()->default_value("relayctl.test-send"), "EHLO name")
        ("timeout", po::value<unsigned>()->default_value(30), "seconds for the whole session")
        ("auth-method", po::value<std::string>(), "PLAIN or LOGIN (default: what the server offers)")
        ("password-stdin", "read the password from stdin (the default when stdin is not a terminal)")
        ("password-file", po::value<std::string>(), "read the password from the first line of this file")
        ("allow-plaintext", "send the password even without TLS (a test server over a trusted path only)")
        ("source-ip", po::value<std::string>(),
         "connect from this local address (test an IP-authorised device's network from this host)");
    const SendOptions o = read_options(cmd.parse(ctx, args));
    std::string password;
    if (!o.password_file.empty()) password = read_password_file(o.password_file);
    else if (!o.user.empty()) password = read_password(ctx, "Password for " + o.user, false);

    Session session;
    session.echo = !ctx.json;
    if (session.echo)
        std::cout << "connecting to " << o.host() << ":" << o.port << (o.implicit_tls ? " (implicit TLS)" : "")
                  << (o.source_ip.empty() ? "" : " from " + o.source_ip) << " as " << o.helo << ", "
                  << (o.user.empty() ? "without AUTH (an IP-authorised device)" : "AUTH as " + o.user)
                  << (o.starttls ? " after STARTTLS" : o.implicit_tls ? "" : " WITHOUT TLS") << "\n";
    const CURLcode rc = submit(o, password, session);
    std::fill(password.begin(), password.end(), '\0');

    // Accepted, but without the login the admin wanted to test: that is not a working device set-up.
    const bool unauthenticated = !o.user.empty() && !session.auth_sent;
    const bool ok = rc == CURLE_OK && !unauthenticated;
    std::string cause;
    if (rc != CURLE_OK) {
        cause = diagnose(rc, session, o.starttls, o.server, !o.user.empty());
        if (cause.rfind("the server offers no AUTH", 0) == 0) session.step = "AUTH";
    } else if (unauthenticated) {
        cause = diagnose(CURLE_LOGIN_DENIED, session, o.starttls, o.server, true) +
                "; the message was accepted WITHOUT authentication";
        session.step = "AUTH";
    }
    if (ctx.json) {
        Json t = Json::array();
        for (const auto& l : session.transcript) t.push(Json::object().set(l.from_client ? "client" : "server", l.text));
        emit(Json::object().set("ok", ok).set("failed_step", ok ? Json() : Json(session.step))
                 .set("cause", ok ? Json() : Json(cause)).set("last_reply", session.reply).set("transcript", t));
    } else if (ok) {
        std::cout << "\nresult: OK, the server accepted the message (" << printable(session.reply, 300) << ")\n";
    } else {
        std::cout << "\nresult: FAILED at " << session.step << ": " << printable(cause, 600) << "\n";
    }
    return ok ? kExitOk : kExitSendFailed;
}

}  // namespace relay::ctl
