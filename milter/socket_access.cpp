#include "milter/socket_access.hpp"

#include <unistd.h>

#include <cstring>
#include <optional>
#include <stdexcept>

#include "core/config/config.hpp"
#include "core/base/log.hpp"
#include "core/base/process.hpp"

namespace relay::milter {
namespace {

std::optional<std::string> unix_socket_path(const std::string& listen) {
    for (const char* prefix : {"unix:", "local:"}) {
        const std::string p(prefix);
        if (listen.compare(0, p.size(), p) == 0) return listen.substr(p.size());
    }
    if (!listen.empty() && listen[0] == '/') return listen;  // libmilter: a bare path is a unix socket
    return std::nullopt;
}

}  // namespace

MilterSocket prepare_socket(const std::string& listen) {
    MilterSocket socket;
    socket.libmilter_listen = listen;
    const auto path = unix_socket_path(listen);
    if (!path) return socket;
    const std::string what = "[milter] listen " + listen;
    // libmilter's own removal (smfi_opensocket(true)) would follow a link and remove a live socket.
    remove_stale_socket(*path, what);
    socket.path = *path;
    socket.staged = std::make_unique<StagedSocket>(*path, what);
    socket.libmilter_listen = "unix:" + socket.staged->bind_path();
    return socket;
}

void hand_over_socket(MilterSocket& socket, const MilterConfig& config) {
    if (!socket.staged) return;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (geteuid() == 0) {
        gid_t primary = 0;
        const auto user = lookup_user(config.user, &primary);
        if (!user) throw std::runtime_error("[milter] user " + config.user + ": no such user");
        const auto group = config.group.empty() ? std::optional<gid_t>(primary) : lookup_group(config.group);
        if (!group) throw std::runtime_error("[milter] group " + config.group + ": no such group");
        uid = *user;
        gid = *group;
    }
    socket.file = socket.staged->publish(uid, gid, 0660);
}

void release_socket(MilterSocket& socket) {
    if (socket.path.empty()) return;
    // After the privilege drop a root-owned directory is out of reach: the file stays, refuses
    // connections, and the next start removes it (prepare_socket).
    if (const int error = remove_socket_file(socket.path, socket.file))
        log_info("cannot remove socket " + socket.path + " (" + std::strerror(error) + "); the next start removes it");
    socket.path.clear();
}

}  // namespace relay::milter
