// The only file (with main.cpp) that includes libmilter. Each xxfi_* callback finds the connection's
// Session in libmilter's private data, wraps SMFICTX in a MilterContext and hands over; the Session's
// Status comes back as SMFIS_*. Everything else lives in relay_milter_lib where unit tests reach it.
#include "milter/libmilter_seam.hpp"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "milter/reply.hpp"
#include "milter/session.hpp"

namespace relay::milter {
namespace {

Filter* g_filter = nullptr;      // set once in open(), before smfi_main starts any thread
std::string g_listen;            // smfi_setconn keeps the pointer: the string must live as long as we do
const MacroRequest g_macros;

class LibmilterContext final : public MilterContext {
public:
    explicit LibmilterContext(SMFICTX* ctx) : ctx_(ctx) {}

    std::optional<std::string> macro(const char* name) const override {
        const char* value = smfi_getsymval(ctx_, const_cast<char*>(name));
        if (value == nullptr || *value == '\0') return std::nullopt;
        return std::string(value);
    }
    bool set_reply(const std::string& code, const std::string& enhanced, const std::string& text) override {
        const std::string safe = reply_text(text);
        return smfi_setreply(ctx_, const_cast<char*>(code.c_str()),
                             enhanced.empty() ? nullptr : const_cast<char*>(enhanced.c_str()),
                             const_cast<char*>(safe.c_str())) == MI_SUCCESS;
    }
    bool quarantine(const std::string& reason) override {
        const std::string safe = reply_text(reason);
        return smfi_quarantine(ctx_, const_cast<char*>(safe.c_str())) == MI_SUCCESS;
    }

private:
    SMFICTX* ctx_;
};

sfsistat to_smfis(Status status) {
    switch (status) {
        case Status::cont: return SMFIS_CONTINUE;
        case Status::accept: return SMFIS_ACCEPT;
        case Status::reject: return SMFIS_REJECT;
        case Status::tempfail: return SMFIS_TEMPFAIL;
        case Status::noreply: return SMFIS_NOREPLY;
    }
    return SMFIS_TEMPFAIL;
}

Session* session_of(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

// Creates the connection's Session if negotiate did not (an MTA without protocol negotiation).
Session* ensure_session(SMFICTX* ctx) {
    if (Session* s = session_of(ctx)) return s;
    std::unique_ptr<Session> s = g_filter->open_session();
    if (smfi_setpriv(ctx, s.get()) != MI_SUCCESS) return nullptr;
    return s.release();
}

// The Session catches its own exceptions; this catches what could escape before it runs (allocation).
template <typename Call>
sfsistat dispatch(SMFICTX* ctx, const char* step, Call&& call) {
    try {
        Session* s = ensure_session(ctx);
        if (s == nullptr) throw std::runtime_error("no session for the connection");
        LibmilterContext context(ctx);
        return to_smfis(call(*s, context));
    } catch (const std::exception& e) {
        log_error(std::string("milter: ") + step + ": " + e.what() + "; answering tempfail");
    } catch (...) {
        log_error(std::string("milter: ") + step + ": unknown error; answering tempfail");
    }
    return SMFIS_TEMPFAIL;
}

std::vector<std::string> arguments(char** argv) {
    std::vector<std::string> out;
    for (; argv != nullptr && *argv != nullptr; ++argv) out.emplace_back(*argv);
    return out;
}

std::string address_text(const _SOCK_ADDR* address) {
    if (address == nullptr) return {};
    char text[INET6_ADDRSTRLEN] = {0};
    if (address->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) return text;
    } else if (address->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) return text;
    }
    return {};
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* our_actions, unsigned long* our_steps, unsigned long* f2,
                      unsigned long* f3) {
    *our_actions = actions & (SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    // Steps we never need; "no reply" where we never refuse (connect, HELO, header lines, body chunks) when
    // the MTA offers it: fewer round trips per message.
    *our_steps = steps & (SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_HDR |
                          SMFIP_NR_BODY);
    *f2 = 0;
    *f3 = 0;
    try {
        Session* s = ensure_session(ctx);
        if (s == nullptr) return SMFIS_TEMPFAIL;
        NoReply noreply;
        noreply.connect = (*our_steps & SMFIP_NR_CONN) != 0;
        noreply.helo = (*our_steps & SMFIP_NR_HELO) != 0;
        noreply.header = (*our_steps & SMFIP_NR_HDR) != 0;
        noreply.body = (*our_steps & SMFIP_NR_BODY) != 0;
        s->set_noreply(noreply);
        if (*our_actions & SMFIF_SETSYMLIST) {
            const std::pair<int, const char*> lists[] = {
                {SMFIM_CONNECT, g_macros.connect}, {SMFIM_HELO, g_macros.helo},
                {SMFIM_ENVFROM, g_macros.envfrom}, {SMFIM_ENVRCPT, g_macros.envrcpt},
                {SMFIM_EOH, g_macros.eoh},         {SMFIM_EOM, g_macros.eom},
            };
            for (const auto& [stage, names] : lists) smfi_setsymlist(ctx, stage, const_cast<char*>(names));
        }
    } catch (const std::exception& e) {
        log_error(std::string("milter: negotiate: ") + e.what());
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* address) {
    const std::string name = hostname ? hostname : "";
    const std::string addr = address_text(address);
    return dispatch(ctx, "connect", [&](Session& s, MilterContext& c) { return s.connect(c, name, addr); });
}

sfsistat on_helo(SMFICTX* ctx, char* helo) {
    const std::string name = helo ? helo : "";
    return dispatch(ctx, "helo", [&](Session& s, MilterContext& c) { return s.helo(c, name); });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    const auto args = arguments(argv);
    return dispatch(ctx, "envfrom", [&](Session& s, MilterContext& c) { return s.envfrom(c, args); });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    const auto args = arguments(argv);
    return dispatch(ctx, "envrcpt", [&](Session& s, MilterContext& c) { return s.envrcpt(c, args); });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    const std::string n = name ? name : "";
    const std::string v = value ? value : "";
    return dispatch(ctx, "header", [&](Session& s, MilterContext& c) { return s.header(c, n, v); });
}

sfsistat on_eoh(SMFICTX* ctx) {
    return dispatch(ctx, "eoh", [&](Session& s, MilterContext& c) { return s.eoh(c); });
}

sfsistat on_body(SMFICTX* ctx, unsigned char*, size_t length) {
    return dispatch(ctx, "body", [&](Session& s, MilterContext& c) { return s.body(c, length); });
}

sfsistat on_eom(SMFICTX* ctx) {
    return dispatch(ctx, "eom", [&](Session& s, MilterContext& c) { return s.eom(c); });
}

sfsistat on_abort(SMFICTX* ctx) {
    if (session_of(ctx) == nullptr) return SMFIS_CONTINUE;
    return dispatch(ctx, "abort", [&](Session& s, MilterContext& c) { return s.abort(c); });
}

sfsistat on_close(SMFICTX* ctx) {
    delete session_of(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

class LibmilterDriver final : public Driver {
public:
    void open(Filter& filter, const std::string& listen, unsigned timeout_seconds) override {
        g_filter = &filter;
        g_listen = listen;
        smfiDesc desc{};
        desc.xxfi_name = const_cast<char*>("relay-milter");
        desc.xxfi_version = SMFI_VERSION;
        desc.xxfi_flags = SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
        desc.xxfi_connect = on_connect;
        desc.xxfi_helo = on_helo;
        desc.xxfi_envfrom = on_envfrom;
        desc.xxfi_envrcpt = on_envrcpt;
        desc.xxfi_header = on_header;
        desc.xxfi_eoh = on_eoh;
        desc.xxfi_body = on_body;
        desc.xxfi_eom = on_eom;
        desc.xxfi_abort = on_abort;
        desc.xxfi_close = on_close;
        desc.xxfi_negotiate = on_negotiate;
        if (smfi_setconn(const_cast<char*>(g_listen.c_str())) != MI_SUCCESS)
            throw std::runtime_error("[milter] listen " + listen + ": libmilter does not accept it");
        if (smfi_settimeout(static_cast<int>(timeout_seconds)) != MI_SUCCESS)
            throw std::runtime_error("smfi_settimeout failed");
        if (smfi_register(desc) != MI_SUCCESS) throw std::runtime_error("smfi_register failed");
        if (smfi_opensocket(true) != MI_SUCCESS)
            throw std::runtime_error("cannot listen on " + listen + " (address in use, or no permission?)");
    }

    int run() override { return smfi_main() == MI_SUCCESS ? 0 : 1; }
};

}  // namespace

std::unique_ptr<Driver> make_libmilter_driver() { return std::make_unique<LibmilterDriver>(); }

std::string libmilter_version() {
    unsigned int major = 0, minor = 0, patch = 0;
    smfi_version(&major, &minor, &patch);
    return "libmilter " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace relay::milter
