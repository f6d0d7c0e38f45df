#include "milter/socket_access.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "core/config.hpp"
#include "core/process.hpp"

namespace relay::milter {
namespace {

std::runtime_error os_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

std::optional<std::string> unix_socket_path(const std::string& listen) {
    for (const char* prefix : {"unix:", "local:"}) {
        const std::string p(prefix);
        if (listen.compare(0, p.size(), p) == 0) return listen.substr(p.size());
    }
    if (!listen.empty() && listen[0] == '/') return listen;  // libmilter: a bare path is a unix socket
    return std::nullopt;
}

}  // namespace

void hand_over_socket(const std::string& listen, const MilterConfig& config) {
    const auto path = unix_socket_path(listen);
    if (!path || geteuid() != 0) return;
    gid_t primary = 0;
    const auto uid = lookup_user(config.user, &primary);
    if (!uid) throw std::runtime_error("[milter] user " + config.user + ": no such user");
    const auto gid = config.group.empty() ? std::optional<gid_t>(primary) : lookup_group(config.group);
    if (!gid) throw std::runtime_error("[milter] group " + config.group + ": no such group");
    if (chown(path->c_str(), *uid, *gid) != 0) throw os_error("chown " + *path);
    if (chmod(path->c_str(), 0660) != 0) throw os_error("chmod " + *path);
}

}  // namespace relay::milter
