#include "policyd/privileges.hpp"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "core/config.hpp"

namespace relay {

namespace {

bool all_digits(const std::string& s) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::string system_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

}  // namespace

std::optional<uid_t> lookup_user(const std::string& name, gid_t* primary_group) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    const int rc = all_digits(name) ? getpwuid_r(static_cast<uid_t>(std::stoul(name)), &pw, buf.data(), buf.size(), &found)
                                    : getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
        if (all_digits(name) && primary_group == nullptr) return static_cast<uid_t>(std::stoul(name));
        return std::nullopt;
    }
    if (primary_group) *primary_group = pw.pw_gid;
    return pw.pw_uid;
}

std::optional<gid_t> lookup_group(const std::string& name) {
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    const int rc = all_digits(name) ? getgrgid_r(static_cast<gid_t>(std::stoul(name)), &gr, buf.data(), buf.size(), &found)
                                    : getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
        if (all_digits(name)) return static_cast<gid_t>(std::stoul(name));
        return std::nullopt;
    }
    return gr.gr_gid;
}

std::string drop_privileges(const PolicydConfig& config) {
    if (geteuid() != 0) {
        return "running as uid " + std::to_string(geteuid()) + " (not started as root: user/group not changed)";
    }
    // Look everything up before changing anything: after setuid the files may be out of reach.
    gid_t primary = 0;
    const auto uid = lookup_user(config.user, &primary);
    if (!uid) throw std::runtime_error("[policyd] user " + config.user + ": no such user");
    const auto gid = config.group.empty() ? std::optional<gid_t>(primary) : lookup_group(config.group);
    if (!gid) throw std::runtime_error("[policyd] group " + config.group + ": no such group");
    if (*uid == 0 && !config.allow_root)
        throw std::runtime_error("[policyd] user " + config.user +
                                 " is root: refusing to run as root (set [policyd] allow_root = true to allow it)");

    // initgroups needs a name; a user given as a number gets only its group.
    const bool named = !all_digits(config.user);
    if (named ? initgroups(config.user.c_str(), *gid) != 0 : setgroups(1, &*gid) != 0)
        throw std::runtime_error(system_error("setting supplementary groups for " + config.user));
    if (setgid(*gid) != 0) throw std::runtime_error(system_error("setgid(" + std::to_string(*gid) + ")"));
    if (setuid(*uid) != 0) throw std::runtime_error(system_error("setuid(" + std::to_string(*uid) + ")"));

    if (getuid() != *uid || geteuid() != *uid || getgid() != *gid || getegid() != *gid)
        throw std::runtime_error("privileges were not dropped: uid/gid did not change as asked");
    if (*uid != 0 && setuid(0) == 0) throw std::runtime_error("privileges were not dropped: setuid(0) still works");
    if (*uid == 0) return "running as root (allow_root = true)";
    return "running as user " + config.user + " (uid " + std::to_string(*uid) + "), group " +
           (config.group.empty() ? std::to_string(*gid) : config.group) + " (gid " + std::to_string(*gid) + ")";
}

}  // namespace relay
