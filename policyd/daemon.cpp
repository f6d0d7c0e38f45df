#include "policyd/daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace relay {

namespace {

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
[[noreturn]] void wait_for_child(int fd, pid_t child) {
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
        std::fprintf(stderr, "relay-policyd: %s\n", status.c_str() + 1);
    } else {
        int wstatus = 0;
        ::waitpid(child, &wstatus, WNOHANG);
        std::fprintf(stderr, "relay-policyd: exited during start-up (see the mail log)\n");
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

Daemon Daemon::detach() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) {
        ::close(fds[1]);
        wait_for_child(fds[0], pid);
    }
    ::close(fds[0]);
    if (::setsid() < 0) throw std::runtime_error(std::string("setsid: ") + std::strerror(errno));
    ::umask(022);
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
    write_all(fd_, "F" + message);
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
