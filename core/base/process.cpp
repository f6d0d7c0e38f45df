#include "core/base/process.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

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

void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

// Parent side: 'R' = ready; 'F' + message = failed; nothing = the child died.
[[noreturn]] void wait_for_child(int fd, pid_t child, const std::string& program) {
    std::string status;
    char buf[512];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        status.append(buf, static_cast<std::size_t>(n));
    }
    if (!status.empty() && status[0] == 'R') std::_Exit(0);
    if (!status.empty() && status[0] == 'F') {
        std::fprintf(stderr, "%s: %s\n", program.c_str(), status.c_str() + 1);
    } else {
        int wstatus = 0;
        ::waitpid(child, &wstatus, WNOHANG);
        std::fprintf(stderr, "%s: exited during start-up (see the mail log)\n", program.c_str());
    }
    std::_Exit(1);
}

void redirect_std_to_null() {
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return;
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) ::close(null);
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

namespace {

// Other processes of the daemon's user must not read its memory (the database password, the rules)
// through ptrace or /proc/PID/mem, nor find it in a core file. Set after setuid(), which resets the flag.
void make_non_dumpable() {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw std::runtime_error(system_error("prctl(PR_SET_DUMPABLE, 0)"));
}

}  // namespace

std::string drop_privileges(const std::string& user, const std::string& group, bool allow_root,
                            const std::string& section) {
    if (geteuid() != 0) {
        make_non_dumpable();
        return "running as uid " + std::to_string(geteuid()) + " (not started as root: user/group not changed)";
    }
    // Look everything up before changing anything: after setuid the files may be out of reach.
    gid_t primary = 0;
    const auto uid = lookup_user(user, &primary);
    if (!uid) throw std::runtime_error(section + " user " + user + ": no such user");
    const auto gid = group.empty() ? std::optional<gid_t>(primary) : lookup_group(group);
    if (!gid) throw std::runtime_error(section + " group " + group + ": no such group");
    if (*uid == 0 && !allow_root)
        throw std::runtime_error(section + " user " + user + " is root: refusing to run as root (set " + section +
                                 " allow_root = true to allow it)");

    // initgroups needs a name; a user given as a number gets only its group.
    const bool named = !all_digits(user);
    if (named ? initgroups(user.c_str(), *gid) != 0 : setgroups(1, &*gid) != 0)
        throw std::runtime_error(system_error("setting supplementary groups for " + user));
    if (setgid(*gid) != 0) throw std::runtime_error(system_error("setgid(" + std::to_string(*gid) + ")"));
    if (setuid(*uid) != 0) throw std::runtime_error(system_error("setuid(" + std::to_string(*uid) + ")"));

    if (getuid() != *uid || geteuid() != *uid || getgid() != *gid || getegid() != *gid)
        throw std::runtime_error("privileges were not dropped: uid/gid did not change as asked");
    if (*uid != 0 && setuid(0) == 0) throw std::runtime_error("privileges were not dropped: setuid(0) still works");
    make_non_dumpable();
    if (*uid == 0) return "running as root (" + section + " allow_root = true)";
    return "running as user " + user + " (uid " + std::to_string(*uid) + "), group " +
           (group.empty() ? std::to_string(*gid) : group) + " (gid " + std::to_string(*gid) + ")";
}

namespace {

// The kernel refuses RLIMIT_NOFILE above fs.nr_open, also when the hard limit says "unlimited".
rlim_t kernel_descriptor_maximum() {
    std::ifstream in("/proc/sys/fs/nr_open");
    unsigned long long value = 0;
    if (in >> value && value > 0) return static_cast<rlim_t>(value);
    return 1048576;  // the kernel's default
}

}  // namespace

std::string raise_descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "";
    rlim_t want = limit.rlim_max;
    if (want == RLIM_INFINITY || want > kernel_descriptor_maximum()) want = kernel_descriptor_maximum();
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= want) return "";
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return "";
    return "open file limit (RLIMIT_NOFILE) raised from " + std::to_string(before) + " to " + std::to_string(want);
}

std::uint64_t descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    return static_cast<std::uint64_t>(limit.rlim_cur);
}

Daemon Daemon::detach(const std::string& program, bool chdir_root) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) {
        ::close(fds[1]);
        wait_for_child(fds[0], pid, program);
    }
    ::close(fds[0]);
    if (::setsid() < 0) throw std::runtime_error(std::string("setsid: ") + std::strerror(errno));
    ::umask(022);
    if (chdir_root && ::chdir("/") != 0) { /* stays where it was; nothing depends on it */ }
    return Daemon(fds[1]);
}

Daemon& Daemon::operator=(Daemon&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

Daemon::~Daemon() {
    if (fd_ >= 0) ::close(fd_);
}

void Daemon::ready() {
    if (fd_ < 0) return;
    redirect_std_to_null();
    write_all(fd_, "R");
    ::close(fd_);
    fd_ = -1;
}

void Daemon::fail(const std::string& message) {
    if (fd_ < 0) return;
    write_all(fd_, "F" + (message.empty() ? std::string("start-up failed") : message));
    ::close(fd_);
    fd_ = -1;
}

void write_pid_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("pid file " + path + ": " + std::strerror(errno));
    write_all(fd, std::to_string(::getpid()) + "\n");
    ::close(fd);
}

void remove_pid_file(const std::string& path) {
    if (path.empty()) return;
    std::ifstream in(path);
    long pid = 0;
    if (in >> pid && pid == static_cast<long>(::getpid())) ::unlink(path.c_str());
}

}  // namespace relay
