// Process management shared by relay-policyd and relay-milter: dropping root, going to the background,
// the pid file. Plain parameters, no component config structs, so both daemons (and tests) call the
// same code.
//
// Dropping root happens in one function and in the order that cannot be undone by mistake (as Postfix's
// chroot_uid does): look up user and group first, then supplementary groups, group, user, and verify
// that root cannot be regained.
//
// Going to the background is the classic way (fork, setsid, standard descriptors to /dev/null) with one
// addition: the parent waits until the child reports that it serves (or why it could not start) and
// exits 0 or 1 accordingly, so an init script or an admin sees start-up failures as an exit status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>

namespace relay {

// uid/gid of a user or group name (or a decimal number). nullopt when unknown. A number without a
// passwd entry is taken as is, except when primary_group is asked for (there is none to give).
std::optional<uid_t> lookup_user(const std::string& name, gid_t* primary_group = nullptr);
std::optional<gid_t> lookup_group(const std::string& name);

// Becomes user/group (group empty: the user's primary group). Refuses (std::runtime_error) to go on as
// root unless allow_root, and refuses unknown names. `section` names the config section in messages,
// e.g. "[policyd]". When not started as root there is nothing to drop: the process keeps its identity.
// In every case the process is made non-dumpable afterwards (prctl PR_SET_DUMPABLE 0: no ptrace or
// /proc/PID/mem by other processes of the same user, no core file). Returns a sentence for the log.
std::string drop_privileges(const std::string& user, const std::string& group, bool allow_root,
                            const std::string& section);

// Raises the soft limit on open descriptors (RLIMIT_NOFILE) to the hard limit (as far as the kernel's
// fs.nr_open allows): a daemon holding thousands of connections must not stop at a login default of
// 1024. Returns a sentence for the start-up log when the limit changed, empty otherwise.
std::string raise_descriptor_limit();
// The soft RLIMIT_NOFILE in force (huge when unlimited).
std::uint64_t descriptor_limit();

class Daemon {
public:
    // Forks. Returns only in the child; the parent waits for ready()/fail() and exits. `program` prefixes
    // the parent's messages on stderr. chdir_root: also go to "/" (relay-policyd stays where it is, since
    // SIGHUP re-reads a --config path that may be relative).
    static Daemon detach(const std::string& program, bool chdir_root = false);
    Daemon() = default;  // foreground: ready()/fail() do nothing
    Daemon(Daemon&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Daemon& operator=(Daemon&& other) noexcept;
    ~Daemon();

    bool active() const { return fd_ >= 0; }  // detached and still reporting to the parent
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
// Removes it if it still holds our pid. An empty path: nothing to do.
void remove_pid_file(const std::string& path);

}  // namespace relay
