#include "policyd/listener.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config/config_checks.hpp"
#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/base/socket_file.hpp"

namespace relay::policyd {

namespace {

std::optional<ListenSpec> fail(std::string* error, std::string message) {
    if (error) *error = std::move(message);
    return std::nullopt;
}

std::string system_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// RAII for a descriptor until it is handed over.
struct Fd {
    int fd = -1;
    ~Fd() { if (fd >= 0) ::close(fd); }
    int release() { int f = fd; fd = -1; return f; }
};

std::string describe(const sockaddr* sa) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

BoundSocket bind_one(const ListenSpec& spec, const addrinfo* ai, int backlog) {
    const std::string where = "listen " + spec.text + " (" + describe(ai->ai_addr) + ")";
    Fd fd{::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw std::runtime_error(system_error(where + ": socket"));
    int on = 1;
    setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // An IPv6 socket serves IPv6 only, so inet:[::]:PORT and inet:0.0.0.0:PORT can both be bound.
    if (ai->ai_family == AF_INET6) setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (::bind(fd.fd, ai->ai_addr, ai->ai_addrlen) != 0) throw std::runtime_error(system_error(where + ": bind"));
    if (::listen(fd.fd, backlog) != 0) throw std::runtime_error(system_error(where + ": listen"));
    BoundSocket s;
    s.family = ai->ai_family;
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    // the address really bound (port 0 in tests means "any free port")
    s.description = ::getsockname(fd.fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0
                        ? describe(reinterpret_cast<const sockaddr*>(&bound))
                        : describe(ai->ai_addr);
    s.fd = fd.release();
    return s;
}

std::vector<BoundSocket> bind_inet(const ListenSpec& spec, int backlog) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(spec.host.c_str(), spec.port.c_str(), &hints, &found); rc != 0)
        throw std::runtime_error("listen " + spec.text + ": cannot resolve " + spec.host + ": " + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
    std::vector<BoundSocket> out;
    try {
        for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
            // /etc/hosts may list one address twice for a name
            const std::string address = describe(ai->ai_addr);
            bool seen = false;
            for (const auto& s : out) seen = seen || s.description == address;
            if (!seen) out.push_back(bind_one(spec, ai, backlog));
        }
    } catch (...) {
        for (auto& s : out) ::close(s.fd);
        throw;
    }
    return out;
}

// Bound and prepared in a private directory, then moved into place (core/base/socket_file.hpp): root never
// changes owner or mode through a path someone else can swap. The private directory also keeps strangers
// out until owner and mode are right.
BoundSocket bind_unix(const ListenSpec& spec, const UnixSocketAccess& access, int backlog) {
    const std::string what = "listen " + spec.text;
    remove_stale_socket(spec.path, what);
    StagedSocket staged(spec.path, what);
    Fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw std::runtime_error(system_error(what + ": socket"));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, staged.bind_path().c_str(), staged.bind_path().size() + 1);
    if (::bind(fd.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error(system_error(what + ": bind"));
    if (::listen(fd.fd, backlog) != 0) throw std::runtime_error(system_error(what + ": listen"));
    BoundSocket s;
    s.family = AF_UNIX;
    s.description = spec.text;
    s.unix_path = spec.path;
    s.file = staged.publish(access.owner, access.group, access.mode);
    s.fd = fd.release();
    return s;
}

}  // namespace

std::optional<ListenSpec> parse_listen_spec(std::string_view text, std::string* error) {
    // The config checked the value with the same parser: one reading of the syntax everywhere.
    ListenSpec spec;
    spec.text = std::string(text);
    ListenAddress address;
    try {
        address = parse_policyd_listen(spec.text);
    } catch (const ConfigError& e) {
        return fail(error, "listen " + spec.text + ": " + e.what());
    }
    switch (address.family) {
        case ListenAddress::Family::unix_path:
            spec.kind = ListenSpec::Kind::unix_path;
            spec.path = address.path;
            break;
        case ListenAddress::Family::inet:
        case ListenAddress::Family::inet6:
            spec.kind = ListenSpec::Kind::inet;
            spec.host = address.host;
            spec.port = std::to_string(address.port);
            break;
    }
    return spec;
}

std::optional<unsigned> parse_socket_mode(std::string_view text) {
    if (text.empty() || text.size() > 4) return std::nullopt;
    unsigned mode = 0;
    for (char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        mode = mode * 8 + static_cast<unsigned>(c - '0');
    }
    if (mode > 0777) return std::nullopt;
    return mode;
}

std::vector<BoundSocket> bind_listener(const ListenSpec& spec, const UnixSocketAccess& access, int backlog) {
    switch (spec.kind) {
        case ListenSpec::Kind::inet: return bind_inet(spec, backlog);
        case ListenSpec::Kind::unix_path: return {bind_unix(spec, access, backlog)};
    }
    return {};
}

void release_listener(BoundSocket& socket) {
    if (socket.fd >= 0) {
        ::close(socket.fd);
        socket.fd = -1;
    }
    if (socket.unix_path.empty()) return;
    // Dropped privileges usually cannot write a root-owned directory: the file stays, refuses connections,
    // and the next start removes it (remove_stale_socket).
    if (const int error = remove_socket_file(socket.unix_path, socket.file))
        log_info("cannot remove socket " + socket.unix_path + " (" + std::strerror(error) +
                 "); the next start removes it");
    socket.unix_path.clear();
}

}  // namespace relay::policyd
