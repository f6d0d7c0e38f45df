#include "milter/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/config.hpp"

namespace relay::milter {
namespace {

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;
};

std::runtime_error os_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

// Names only: a numeric id in the config is looked up like a name (getpwnam fails, we say so).
Identity look_up(const MilterConfig& config) {
    std::vector<char> buffer(16384);
    passwd pw{};
    passwd* found_user = nullptr;
    if (getpwnam_r(config.user.c_str(), &pw, buffer.data(), buffer.size(), &found_user) != 0 || !found_user)
        throw std::runtime_error("[milter] user " + config.user + ": no such user");
    Identity id;
    id.uid = pw.pw_uid;
    id.gid = pw.pw_gid;
    id.user = config.user;
    if (!config.group.empty()) {
        group gr{};
        group* found_group = nullptr;
        if (getgrnam_r(config.group.c_str(), &gr, buffer.data(), buffer.size(), &found_group) != 0 || !found_group)
            throw std::runtime_error("[milter] group " + config.group + ": no such group");
        id.gid = gr.gr_gid;
    }
    return id;
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

std::string drop_privileges(const MilterConfig& config) {
    if (geteuid() != 0)
        return "running as uid " + std::to_string(geteuid()) + " (not started as root: identity kept)";
    const Identity id = look_up(config);
    if (id.uid == 0) {
        if (!config.allow_root)
            throw std::runtime_error("[milter] user " + config.user +
                                     " is root: refusing to run as root (set [milter] allow_root = true)");
        return "running as root ([milter] allow_root = true)";
    }
    if (initgroups(id.user.c_str(), id.gid) != 0) throw os_error("initgroups(" + id.user + ")");
    if (setgid(id.gid) != 0) throw os_error("setgid(" + std::to_string(id.gid) + ")");
    if (setuid(id.uid) != 0) throw os_error("setuid(" + std::to_string(id.uid) + ")");
    if (getuid() != id.uid || geteuid() != id.uid || getgid() != id.gid || getegid() != id.gid)
        throw std::runtime_error("privileges were not dropped: uid/gid did not change as asked");
    if (setuid(0) == 0) throw std::runtime_error("privileges were not dropped: setuid(0) still works");
    return "running as " + config.user + " (uid " + std::to_string(id.uid) + ", gid " + std::to_string(id.gid) + ")";
}

void hand_over_socket(const std::string& listen, const MilterConfig& config) {
    const auto path = unix_socket_path(listen);
    if (!path || geteuid() != 0) return;
    const Identity id = look_up(config);
    if (chown(path->c_str(), id.uid, id.gid) != 0) throw os_error("chown " + *path);
    if (chmod(path->c_str(), 0660) != 0) throw os_error("chmod " + *path);
}

}  // namespace relay::milter
