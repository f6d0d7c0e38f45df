#include "core/base/socket_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/base/log.hpp"

namespace relay {

namespace {

std::runtime_error system_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    return addr;
}

bool same_file(const struct stat& st, const SocketFileId& id) {
    return st.st_dev == id.dev && st.st_ino == id.ino && st.st_ctim.tv_sec == id.ctime.tv_sec &&
           st.st_ctim.tv_nsec == id.ctime.tv_nsec;
}

void split_path(const std::string& path, std::string& dir, std::string& name) {
    const auto slash = path.rfind('/');
    dir = slash == 0 ? "/" : slash == std::string::npos ? "." : path.substr(0, slash);
    name = slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string random_suffix() {
    unsigned char bytes[6] = {};
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        // no entropy source: the name only has to be unlikely to exist; mkdirat refuses a taken one
        const auto t = static_cast<unsigned long>(::time(nullptr)) ^ static_cast<unsigned long>(::getpid());
        std::memcpy(bytes, &t, sizeof bytes < sizeof t ? sizeof bytes : sizeof t);
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

}  // namespace

bool remove_stale_socket(const std::string& path, const std::string& what) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return false;
        throw system_error(what + ": lstat");
    }
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(what + ": the path exists and is not a socket; not removing it");
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) throw system_error(what + ": socket");
    const sockaddr_un addr = unix_address(path);
    const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int connect_errno = errno;
    ::close(probe);
    if (rc == 0) throw std::runtime_error(what + ": another process is listening on this socket");
    if (connect_errno != ECONNREFUSED) {
        errno = connect_errno;
        throw system_error(what + ": probing the existing socket");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw system_error(what + ": removing the stale socket");
    log_info("removed stale socket " + path);
    return true;
}

int remove_socket_file(const std::string& path, const SocketFileId& id) {
    if (!id.known()) return 0;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? 0 : errno;
    if (!S_ISSOCK(st.st_mode) || !same_file(st, id)) return 0;
    return ::unlink(path.c_str()) == 0 || errno == ENOENT ? 0 : errno;
}

StagedSocket::StagedSocket(std::string final_path, std::string what)
    : final_path_(std::move(final_path)), what_(std::move(what)) {
    std::string dir;
    split_path(final_path_, dir, final_name_);
    parent_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd_ < 0) throw system_error(what_ + ": opening the directory " + dir);
    // A few tries: a name taken by chance (or on purpose) is skipped, never reused.
    for (int attempt = 0; attempt < 8 && staging_fd_ < 0; ++attempt) {
        const std::string name = "." + final_name_ + ".staging." + random_suffix();
        if (::mkdirat(parent_fd_, name.c_str(), 0700) != 0) {
            if (errno == EEXIST) continue;
            const auto error = system_error(what_ + ": creating a private directory in " + dir);
            ::close(parent_fd_);
            throw error;
        }
        staging_name_ = name;
        staging_fd_ = ::openat(parent_fd_, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    struct stat st {};
    // What we opened must be the directory we made: ours, and nobody else may enter it.
    if (staging_fd_ < 0 || ::fchmod(staging_fd_, 0700) != 0 || ::fstat(staging_fd_, &st) != 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
        const std::string message = what_ + ": could not create a private directory in " + dir;
        if (staging_fd_ >= 0) ::close(staging_fd_);
        ::close(parent_fd_);
        throw std::runtime_error(message);
    }
    staging_dev_ = st.st_dev;
    staging_ino_ = st.st_ino;
    // Through /proc the path leads to this very directory even if its name is swapped meanwhile.
    const std::string via_proc = "/proc/self/fd/" + std::to_string(staging_fd_);
    struct stat proc_st {};
    const bool proc_ok = ::stat(via_proc.c_str(), &proc_st) == 0 && proc_st.st_dev == st.st_dev &&
                         proc_st.st_ino == st.st_ino;
    bind_path_ = (proc_ok ? via_proc : dir + "/" + staging_name_) + "/" + final_name_;
    if (bind_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
        bind_path_ = dir + "/" + staging_name_ + "/" + final_name_;  // the shorter one, if it fits
        if (bind_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
            remove_staging();
            ::close(staging_fd_);
            ::close(parent_fd_);
            throw std::runtime_error(what_ + ": the socket path is too long for a private directory beside it");
        }
    }
}

StagedSocket::~StagedSocket() {
    ::unlinkat(staging_fd_, final_name_.c_str(), 0);  // not published: nothing to leave behind
    remove_staging();
    // The descriptor stays open until here: libmilter remembers the bind path and tries to unlink it at
    // exit, which must then find nothing.
    ::close(staging_fd_);
    ::close(parent_fd_);
}

// Removes the staging directory only if the name still leads to it (an empty directory of someone
// else's with that name is not ours to remove).
void StagedSocket::remove_staging() {
    if (staging_removed_) return;
    staging_removed_ = true;
    struct stat st {};
    if (::fstatat(parent_fd_, staging_name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == staging_dev_ &&
        st.st_ino == staging_ino_)
        ::unlinkat(parent_fd_, staging_name_.c_str(), AT_REMOVEDIR);
}

SocketFileId StagedSocket::publish(uid_t owner, gid_t group, mode_t mode) {
    const char* name = final_name_.c_str();
    struct stat st {};
    if (::fstatat(staging_fd_, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode))
        throw std::runtime_error(what_ + ": no socket was bound in the private directory");
    // Nobody else can enter the staging directory: by name here is this very socket.
    const bool change_owner = (owner != static_cast<uid_t>(-1) && owner != st.st_uid) ||
                              (group != static_cast<gid_t>(-1) && group != st.st_gid);
    if (change_owner && ::fchownat(staging_fd_, name, owner, group, AT_SYMLINK_NOFOLLOW) != 0)
        throw system_error(what_ + ": chown");
    if (::fchmodat(staging_fd_, name, mode & 0777, 0) != 0) throw system_error(what_ + ": chmod");
    // Into place without replacing anything: a file that appeared at the final path stays untouched.
    if (::renameat2(staging_fd_, name, parent_fd_, name, RENAME_NOREPLACE) != 0) {
        if (errno != EINVAL && errno != ENOSYS) throw system_error(what_ + ": moving the socket into place");
        // A file system without RENAME_NOREPLACE: a hard link refuses an existing name just the same.
        if (::linkat(staging_fd_, name, parent_fd_, name, 0) != 0)
            throw system_error(what_ + ": moving the socket into place");
        ::unlinkat(staging_fd_, name, 0);
    }
    remove_staging();
    SocketFileId id;
    struct stat placed {};
    if (::fstatat(parent_fd_, name, &placed, AT_SYMLINK_NOFOLLOW) == 0 && placed.st_dev == st.st_dev &&
        placed.st_ino == st.st_ino) {
        id.dev = placed.st_dev;
        id.ino = placed.st_ino;
        id.ctime = placed.st_ctim;
    }
    return id;
}

}  // namespace relay
