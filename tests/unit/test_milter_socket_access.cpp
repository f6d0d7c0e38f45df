#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config/config.hpp"
#include "milter/socket_access.hpp"
#include "symlink_racer.hpp"
#include "temp_dir.hpp"

using namespace relay;
using namespace relay::milter;

namespace {

using relay::test::TempDir;

sockaddr_un address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    return addr;
}

// What libmilter's smfi_opensocket does with "unix:PATH": socket, bind, listen. Returns the descriptor.
int bind_like_libmilter(const std::string& listen) {
    BOOST_REQUIRE(listen.rfind("unix:", 0) == 0);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = address(listen.substr(5));
    BOOST_REQUIRE_MESSAGE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0,
                          "bind " << listen << ": " << std::strerror(errno));
    BOOST_REQUIRE(::listen(fd, 16) == 0);
    return fd;
}

bool can_connect(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = address(path);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

MilterConfig nobody() {
    MilterConfig config;
    config.user = "nobody";
    config.group = "nogroup";
    return config;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(milter_socket_access)

BOOST_AUTO_TEST_CASE(inet_listen_is_left_to_libmilter) {
    MilterSocket socket = prepare_socket("inet:10041@127.0.0.1");
    BOOST_TEST(socket.libmilter_listen == "inet:10041@127.0.0.1");
    BOOST_TEST(!socket.staged);
    hand_over_socket(socket, nobody());  // nothing to do
    release_socket(socket);
}

BOOST_AUTO_TEST_CASE(unix_socket_is_bound_privately_and_handed_over) {
    TempDir dir;
    const std::string path = dir.path + "/milter.sock";
    MilterSocket socket = prepare_socket("unix:" + path);
    BOOST_TEST(socket.libmilter_listen != "unix:" + path);  // bound elsewhere first
    const int fd = bind_like_libmilter(socket.libmilter_listen);
    BOOST_TEST(::access(path.c_str(), F_OK) != 0);  // not at its path before owner and mode are right
    hand_over_socket(socket, nobody());
    struct stat st {};
    BOOST_REQUIRE(::lstat(path.c_str(), &st) == 0);
    BOOST_TEST(S_ISSOCK(st.st_mode));
    BOOST_TEST((st.st_mode & 07777) == 0660u);
    if (::geteuid() == 0) {
        BOOST_TEST(st.st_uid == 65534u);
        BOOST_TEST(st.st_gid == 65534u);
    }
    BOOST_TEST(can_connect(path));
    ::close(fd);
    release_socket(socket);
    BOOST_TEST(::access(path.c_str(), F_OK) != 0);
    socket.staged.reset();
    BOOST_TEST(std::system(("test -z \"$(ls -A '" + dir.path + "')\"").c_str()) == 0);  // nothing left
}

// Issue 13 item 7: a socket left behind (the unprivileged daemon could not remove it) is removed at the
// next start; a live one (another relay-milter) and anything that is not a socket are left alone.
BOOST_AUTO_TEST_CASE(stale_socket_is_removed_live_socket_and_links_are_not) {
    TempDir dir;
    const std::string path = dir.path + "/milter.sock";
    MilterSocket first = prepare_socket("unix:" + path);
    const int fd = bind_like_libmilter(first.libmilter_listen);
    hand_over_socket(first, nobody());
    BOOST_CHECK_THROW(prepare_socket("unix:" + path), std::runtime_error);  // live: not stolen
    BOOST_TEST(can_connect(path));
    ::close(fd);  // the first one stops without removing its file
    MilterSocket second = prepare_socket("unix:" + path);
    BOOST_TEST(::access(path.c_str(), F_OK) != 0);  // the stale file is gone
    const int fd2 = bind_like_libmilter(second.libmilter_listen);
    hand_over_socket(second, nobody());
    BOOST_TEST(can_connect(path));
    release_socket(first);  // the old record must not remove the new socket
    BOOST_TEST(can_connect(path));
    ::close(fd2);
    release_socket(second);

    const std::string target = dir.path + "/target.sock";
    const int dead = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = address(target);
    BOOST_REQUIRE(::bind(dead, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(dead);
    BOOST_REQUIRE(::symlink(target.c_str(), path.c_str()) == 0);
    BOOST_CHECK_THROW(prepare_socket("unix:" + path), std::runtime_error);  // a link is not followed
    struct stat st {};
    BOOST_TEST(::lstat(target.c_str(), &st) == 0);
    BOOST_TEST(::lstat(path.c_str(), &st) == 0);
    BOOST_TEST(S_ISLNK(st.st_mode));
}

// Issue 13 item 1: many starts against a racing symlink swapper never change the victim.
BOOST_AUTO_TEST_CASE(symlink_race_never_changes_another_file) {
    if (::geteuid() != 0) return;  // the attack needs root doing the chown
    TempDir dir;
    const std::string path = dir.path + "/milter.sock";
    const std::string victim = test::make_victim(dir.path + "/victim");
    const std::string before = test::describe_file(victim);
    int started = 0;
    {
        test::SymlinkRacer racer(path, victim);
        BOOST_REQUIRE(racer.running());
        for (int i = 0; i < 3000; ++i) {
            try {
                MilterSocket socket = prepare_socket("unix:" + path);
                const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                const sockaddr_un addr = address(socket.libmilter_listen.substr(5));
                if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
                    hand_over_socket(socket, nobody());
                    ++started;
                }
                ::close(fd);
                release_socket(socket);
            } catch (const std::runtime_error&) {
                // the racer's symlink was in the way: refusing is the right answer
            }
        }
    }
    BOOST_TEST_MESSAGE(started << " of 3000 starts got through the race");
    BOOST_CHECK_MESSAGE(test::describe_file(victim) == before,
                        "victim: got " << test::describe_file(victim) << ", want " << before);
}

BOOST_AUTO_TEST_SUITE_END()
