// For tests of socket creation as root: a child process that keeps replacing a socket path with a
// symlink to a victim file and removing it again, as someone who can write the socket's directory
// (Postfix's private/ belongs to postfix) would, to have root change the victim's owner and mode.
#pragma once

#include <csignal>
#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace relay::test {

class SymlinkRacer {
public:
    // Starts racing at once. The child runs until stop() (or the destructor) kills it, and at most
    // max_rounds rounds, so a test that dies early leaves nothing running for long.
    SymlinkRacer(const std::string& path, const std::string& victim, long max_rounds = 50'000'000) {
        pid_ = ::fork();
        if (pid_ != 0) return;
        const std::string tmp = path + ".racer";
        for (long i = 0; i < max_rounds; ++i) {
            ::unlink(tmp.c_str());
            if (::symlink(victim.c_str(), tmp.c_str()) == 0) ::rename(tmp.c_str(), path.c_str());
            ::unlink(path.c_str());  // the next start finds the path free, binds, and races again
        }
        ::_exit(0);
    }
    ~SymlinkRacer() { stop(); }
    SymlinkRacer(const SymlinkRacer&) = delete;
    SymlinkRacer& operator=(const SymlinkRacer&) = delete;

    bool running() const { return pid_ > 0; }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
};

// A root-owned 0600 file that must stay so.
inline std::string make_victim(const std::string& path) {
    if (std::FILE* f = std::fopen(path.c_str(), "w")) {
        std::fputs("root only\n", f);
        std::fclose(f);
    }
    ::chown(path.c_str(), 0, 0);
    ::chmod(path.c_str(), 0600);
    return path;
}

inline std::string describe_file(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return "missing";
    char buf[64];
    std::snprintf(buf, sizeof buf, "uid %u gid %u mode %04o", static_cast<unsigned>(st.st_uid),
                  static_cast<unsigned>(st.st_gid), static_cast<unsigned>(st.st_mode & 07777));
    return buf;
}

}  // namespace relay::test
