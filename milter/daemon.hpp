// Going to the background (fork, setsid, standard descriptors to /dev/null) with a report back: the
// parent waits until the child says it serves, or why it could not start, and exits 0 or 1, so an init
// script sees start-up failures as an exit status. The pid file is written by the child.
#pragma once

#include <string>

namespace relay::milter {

class Detached {
public:
    Detached() = default;  // foreground: ready()/fail() do nothing
    // Forks; returns in the child only. The parent waits and exits.
    static Detached detach();
    Detached(Detached&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Detached& operator=(Detached&& other) noexcept;
    ~Detached();

    bool active() const { return fd_ >= 0; }  // detached and still reporting to the parent
    void ready();                            // the parent exits 0; stdin/stdout/stderr → /dev/null
    void fail(const std::string& message);   // the parent prints it and exits 1

private:
    explicit Detached(int fd) : fd_(fd) {}
    int fd_ = -1;
};

void write_pid_file(const std::string& path);   // throws std::runtime_error
void remove_pid_file(const std::string& path);  // only if it still holds our pid

}  // namespace relay::milter
