#include "core/base/config_file_access.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <unistd.h>

#include "core/base/errors.hpp"

namespace relay {

namespace {

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// "/a/b/c" -> "/a/b"; "/a" -> "/"; "c" -> "." (relative: resolved by the caller first).
std::string parent_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string absolute(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
    return std::string(cwd) + "/" + path;
}

// realpath(3), or "" when it cannot be resolved.
std::string resolved(const std::string& path) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) return "";
    std::string out(real);
    std::free(real);
    return out;
}

// dir and every directory above it, by name ("/etc/relay-authority", "/etc", "/").
void add_chain(std::set<std::string>& dirs, std::string dir) {
    while (!dir.empty()) {
        dirs.insert(dir);
        if (dir == "/" || dir == ".") break;
        dir = parent_of(dir);
    }
}

}  // namespace

std::string unsafe_ownership(const std::string& path, const struct stat& st, uid_t runner, const std::string& what) {
    const std::string runner_text = runner == 0 ? "root" : "root or uid " + std::to_string(runner) + " (running this program)";
    if (st.st_uid != 0 && st.st_uid != runner) {
        return path + ": " + what + " is owned by uid " + std::to_string(st.st_uid) + ", who could change it; only " +
               runner_text + " may own it. Fix: chown root " + path;
    }
    const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !sticky_dir) {
        const char* who = (st.st_mode & S_IWOTH) != 0 ? "everyone" : "its group";
        return path + ": " + what + " is writable by " + who + " (mode " + octal_mode(st.st_mode) + "); only " +
               runner_text + " may change it. Fix: chmod go-w " + path;
    }
    return "";
}

void check_config_file_access(const std::string& path, int fd, uid_t runner) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw ConfigError(path + ": cannot stat the configuration file: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw ConfigError(path + ": the configuration file is not a regular file");
    std::string problem = unsafe_ownership(path, st, runner, "the configuration file");
    if (!problem.empty()) throw ConfigError(problem + " (refusing to use it: it holds the database password)");

    // The directories of the name given and, for a symbolic link, those of its target (the link itself
    // can only be replaced through its directory).
    const std::string given = absolute(path);
    std::set<std::string> dirs;
    add_chain(dirs, parent_of(given));
    const std::string real_dir = resolved(parent_of(given));
    if (!real_dir.empty()) add_chain(dirs, real_dir);
    const std::string target = resolved(given);
    if (!target.empty()) add_chain(dirs, parent_of(target));
    for (const std::string& dir : dirs) {
        struct stat ds {};
        if (::stat(dir.c_str(), &ds) != 0) continue;  // not reachable by name: nothing to swap there
        problem = unsafe_ownership(dir, ds, runner, "the directory above the configuration file " + path);
        if (!problem.empty()) throw ConfigError(problem + " (refusing to use it: the file could be replaced)");
    }
}

bool world_readable(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && (st.st_mode & S_IROTH) != 0;
}

}  // namespace relay
