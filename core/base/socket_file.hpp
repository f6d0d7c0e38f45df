// Unix socket files, created and removed safely by a daemon that starts as root (relay-policyd binds its
// sockets itself, relay-milter lets libmilter bind): both go through here.
//
// Why a private directory. The directory a socket lives in may be writable by someone else (Postfix's
// /var/spool/postfix/private belongs to the postfix user). Changing owner or mode by path after bind()
// lets that someone swap in a symlink or hard link between the two calls and have root change the owner
// and mode of any file. So the socket is bound in a fresh directory next to its final path that only we
// can enter (0700, verified after creation through a descriptor), given its owner and mode there, where
// nobody can replace it, and then renamed into place without replacing anything (RENAME_NOREPLACE). No
// call by path ever reaches the shared directory except that rename and the checked removal of a stale
// socket, and neither follows links.
//
// The staging directory is reached through /proc/self/fd/N (it cannot be renamed away from under us);
// without /proc its path is used, and a swap there only makes the start fail.
#pragma once

#include <ctime>
#include <string>
#include <sys/types.h>

namespace relay {

// The socket file we created, so we never remove someone else's: inode numbers are reused, so the
// change time is compared as well.
struct SocketFileId {
    dev_t dev = 0;
    ino_t ino = 0;
    struct timespec ctime {};
    bool known() const { return ino != 0; }
};

// A socket file left behind (by a crash, or by a daemon that could not remove it after dropping root)
// refuses connections: remove it. Nothing at the path: nothing to do. Looked at with lstat, so a link is
// never followed; a live socket or any other kind of file is an error (std::runtime_error, prefixed by
// `what`). Returns true when a stale socket was removed.
bool remove_stale_socket(const std::string& path, const std::string& what);

// Removes path if it is still the socket file `id` names. Returns 0, or the errno of a failed unlink
// (EACCES/EPERM: the directory is not writable by the unprivileged daemon any more). A file that is not
// ours any more (or never was placed) counts as done: 0.
int remove_socket_file(const std::string& path, const SocketFileId& id);

class StagedSocket {
public:
    // Creates the private directory next to final_path. Throws std::runtime_error prefixed by `what`.
    StagedSocket(std::string final_path, std::string what);
    ~StagedSocket();  // removes what was not published, and the staging directory
    StagedSocket(const StagedSocket&) = delete;
    StagedSocket& operator=(const StagedSocket&) = delete;

    // Where to bind(): a path inside the private directory.
    const std::string& bind_path() const { return bind_path_; }
    const std::string& final_path() const { return final_path_; }
    // The socket bound at bind_path() gets owner/group (-1: unchanged) and mode, then moves to final_path;
    // something already there (or appearing meanwhile) is an error, never replaced. Throws.
    SocketFileId publish(uid_t owner, gid_t group, mode_t mode);

private:
    void remove_staging();

    std::string final_path_;
    std::string what_;
    std::string final_name_;
    std::string staging_name_;
    std::string bind_path_;
    int parent_fd_ = -1;
    int staging_fd_ = -1;
    dev_t staging_dev_ = 0;
    ino_t staging_ino_ = 0;
    bool staging_removed_ = false;
};

}  // namespace relay
