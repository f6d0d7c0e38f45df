#include "milter/daemon.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace relay::milter {
namespace {

void write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

// The parent: "" from the child means ready, anything else is the reason it failed.
[[noreturn]] void wait_for_child(int fd) {
    std::string report;
    char buffer[512];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        report.append(buffer, static_cast<std::size_t>(n));
    }
    if (report == "ok") _exit(0);
    std::fprintf(stderr, "relay-milter: %s\n",
                 report.empty() ? "the daemon exited during start-up" : report.c_str());
    _exit(1);
}

void to_dev_null() {
    const int null = ::open("/dev/null", O_RDWR);
    if (null < 0) return;
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
}

}  // namespace

Detached Detached::detach() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) {
        ::close(fds[1]);
        wait_for_child(fds[0]);
    }
    ::close(fds[0]);
    ::setsid();
    if (::chdir("/") != 0) { /* stays where it was; nothing depends on it */ }
    return Detached(fds[1]);
}

Detached& Detached::operator=(Detached&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

Detached::~Detached() {
    if (fd_ >= 0) ::close(fd_);
}

void Detached::ready() {
    if (fd_ < 0) return;
    write_all(fd_, "ok");
    ::close(fd_);
    fd_ = -1;
    to_dev_null();
}

void Detached::fail(const std::string& message) {
    if (fd_ < 0) return;
    write_all(fd_, message.empty() ? "start-up failed" : message);
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
    std::ifstream in(path);
    long pid = 0;
    if (in >> pid && pid == static_cast<long>(::getpid())) ::unlink(path.c_str());
}

}  // namespace relay::milter
