// Going to the background the classic way (fork, setsid, standard descriptors to /dev/null), with one
// addition: the parent waits until the child reports that it serves (or why it could not start) and
// exits 0 or 1 accordingly, so an init script or an admin sees start-up failures as an exit status.
#pragma once

#include <string>

namespace relay {

class Daemon {
public:
    // Forks. Returns only in the child; the parent waits for ready()/fail() and exits.
    static Daemon detach();
    Daemon() = default;  // foreground: ready()/fail() do nothing
    Daemon(Daemon&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Daemon& operator=(Daemon&& other) noexcept;
    ~Daemon();

    // Start-up finished: the parent exits 0, standard input/output/error go to /dev/null.
    void ready();
    // Start-up failed: the parent prints the message to stderr and exits 1.
    void fail(const std::string& message);

private:
    explicit Daemon(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// Writes the current pid to path (created 0644, a symlink there is refused). Throws std::runtime_error.
void write_pid_file(const std::string& path);
// Removes it if it still holds our pid.
void remove_pid_file(const std::string& path);

}  // namespace relay
