// Who may change the configuration file: the rule on stat results (any uid, no root needed), then real
// files in a private temporary directory through load_config(), symbolic links included.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "core/config/config.hpp"
#include "core/base/config_file_access.hpp"
#include "core/base/errors.hpp"
#include "temp_dir.hpp"

namespace {

using relay::test::TempDir;

struct stat fake(uid_t owner, mode_t mode) {
    struct stat st {};
    st.st_uid = owner;
    st.st_mode = mode;
    return st;
}

std::string write_config(const std::string& path, mode_t mode) {
    std::ofstream(path) << "[database]\npassword = s3cret\n";
    if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error("chmod " + path);
    return path;
}

// "" when load_config accepts the file, else its message.
std::string load_error(const std::string& path) {
    try {
        relay::load_config(path);
        return "";
    } catch (const relay::ConfigError& e) {
        return e.what();
    }
}

bool has_all(const std::string& message, const std::vector<std::string>& parts) {
    for (const std::string& part : parts)
        if (message.find(part) == std::string::npos) return false;
    return !parts.empty() || message.empty();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config_file_access)

BOOST_AUTO_TEST_CASE(ownership_rule_table) {
    const uid_t runner = 1000;
    struct Case {
        const char* name;
        struct stat st;
        uid_t runner;
        std::vector<std::string> want;  // parts of the problem; empty: accepted
    };
    const std::vector<Case> cases = {
        {"root 0640 (root:relay, the normal case)", fake(0, S_IFREG | 0640), runner, {}},
        {"root 0600 read by root", fake(0, S_IFREG | 0600), 0, {}},
        {"the runner's own 0600 file", fake(runner, S_IFREG | 0600), runner, {}},
        {"root 0644 (world-readable: a warning, not a refusal)", fake(0, S_IFREG | 0644), runner, {}},
        {"0666", fake(0, S_IFREG | 0666), runner, {"/x.conf: ", "writable by everyone", "0666", "chmod go-w /x.conf"}},
        {"0646", fake(runner, S_IFREG | 0646), runner, {"writable by everyone", "chmod go-w /x.conf"}},
        {"group-writable, owned by the runner", fake(runner, S_IFREG | 0660), runner,
         {"writable by its group", "0660", "chmod go-w /x.conf"}},
        {"group-writable, owned by root", fake(0, S_IFREG | 0660), runner, {"writable by its group"}},
        {"group-writable, owned by another user", fake(2000, S_IFREG | 0660), runner,
         {"owned by uid 2000", "chown root /x.conf"}},
        {"0600 owned by another user", fake(2000, S_IFREG | 0600), runner, {"owned by uid 2000", "chown root"}},
        {"the daemon's user's file, read by root at start", fake(runner, S_IFREG | 0600), 0,
         {"owned by uid 1000", "only root may own it"}},
        {"directory 0755 root", fake(0, S_IFDIR | 0755), runner, {}},
        {"directory 0777", fake(0, S_IFDIR | 0777), runner, {"writable by everyone", "chmod go-w /x.conf"}},
        {"directory 0646", fake(runner, S_IFDIR | 0646), runner, {"writable by everyone"}},
        {"directory 0775", fake(0, S_IFDIR | 0775), runner, {"writable by its group"}},
        {"sticky directory 1777 (/tmp)", fake(0, S_IFDIR | 01777), runner, {}},
        {"sticky directory of another user", fake(2000, S_IFDIR | 01777), runner, {"owned by uid 2000"}},
        {"sticky bit on a file does not help", fake(0, S_IFREG | 01666), runner, {"writable by everyone"}},
    };
    for (const auto& c : cases) {
        const std::string got = relay::unsafe_ownership("/x.conf", c.st, c.runner, "the configuration file");
        const bool good = c.want.empty() ? got.empty() : has_all(got, c.want);
        BOOST_CHECK_MESSAGE(good, "case " << c.name << ": got '" << got << "', want "
                                          << (c.want.empty() ? std::string("no problem") : "a problem naming " + c.want.front()));
    }
}

BOOST_AUTO_TEST_CASE(load_config_checks_file_and_directory) {
    TempDir tmp;
    const std::string good = write_config(tmp.path + "/good.conf", 0640);
    BOOST_CHECK_MESSAGE(load_error(good).empty(), "case 0640: got '" << load_error(good) << "', want accepted");
    BOOST_TEST(relay::load_config(good).database.password == "s3cret");

    const std::string open = write_config(tmp.path + "/open.conf", 0666);
    const std::string got = load_error(open);
    BOOST_CHECK_MESSAGE(has_all(got, {open + ": ", "writable by everyone", "chmod go-w " + open}),
                        "case 0666 file: got '" << got << "', want the path, 'writable by everyone' and the chmod");

    const std::string group = write_config(tmp.path + "/group.conf", 0620);
    BOOST_CHECK_MESSAGE(has_all(load_error(group), {"writable by its group"}),
                        "case 0620 file: got '" << load_error(group) << "'");

    const std::string sub = tmp.path + "/open-dir";
    BOOST_REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    const std::string inside = write_config(sub + "/relay.conf", 0600);
    BOOST_REQUIRE(::chmod(sub.c_str(), 0747) == 0);  // world-writable, no sticky bit: the file can be swapped
    BOOST_CHECK_MESSAGE(has_all(load_error(inside), {sub + ": ", "directory above the configuration file",
                                                     "writable by everyone", "chmod go-w " + sub}),
                        "case 0747 directory: got '" << load_error(inside) << "'");
    BOOST_REQUIRE(::chmod(sub.c_str(), 01757) == 0);  // the same with the sticky bit, like /tmp
    BOOST_CHECK_MESSAGE(load_error(inside).empty(), "case 1757 directory: got '" << load_error(inside) << "'");
}

// A link is followed: the directories above the link and above its target must both be safe.
BOOST_AUTO_TEST_CASE(symbolic_links) {
    TempDir tmp;
    const std::string safe_dir = tmp.path + "/safe", open_dir = tmp.path + "/open";
    BOOST_REQUIRE(::mkdir(safe_dir.c_str(), 0755) == 0);
    BOOST_REQUIRE(::mkdir(open_dir.c_str(), 0700) == 0);
    const std::string safe_target = write_config(safe_dir + "/target.conf", 0600);
    const std::string open_target = write_config(open_dir + "/target.conf", 0600);
    BOOST_REQUIRE(::symlink(safe_target.c_str(), (safe_dir + "/link.conf").c_str()) == 0);
    BOOST_REQUIRE(::symlink(open_target.c_str(), (safe_dir + "/to-open.conf").c_str()) == 0);
    BOOST_REQUIRE(::symlink(safe_target.c_str(), (open_dir + "/link.conf").c_str()) == 0);
    BOOST_REQUIRE(::chmod(open_dir.c_str(), 0777) == 0);

    const std::string fine = load_error(safe_dir + "/link.conf");
    BOOST_CHECK_MESSAGE(fine.empty(), "case safe link to a safe file: got '" << fine << "', want accepted");
    const std::string to_open = load_error(safe_dir + "/to-open.conf");
    BOOST_CHECK_MESSAGE(has_all(to_open, {open_dir + ": ", "writable by everyone"}),
                        "case link to a file in an open directory: got '" << to_open << "'");
    const std::string from_open = load_error(open_dir + "/link.conf");
    BOOST_CHECK_MESSAGE(has_all(from_open, {open_dir + ": ", "writable by everyone"}),
                        "case link in an open directory: got '" << from_open << "'");
    const std::string target_open = write_config(safe_dir + "/open-target.conf", 0666);
    BOOST_REQUIRE(::symlink(target_open.c_str(), (safe_dir + "/to-0666.conf").c_str()) == 0);
    BOOST_CHECK_MESSAGE(has_all(load_error(safe_dir + "/to-0666.conf"), {"writable by everyone", "0666"}),
                        "case link to a 0666 file: got '" << load_error(safe_dir + "/to-0666.conf") << "'");
}

// Only root can give a file away; as another user the ownership table above covers the rule.
BOOST_AUTO_TEST_CASE(file_owned_by_another_user) {
    TempDir tmp;
    const std::string path = write_config(tmp.path + "/nobody.conf", 0640);
    if (::geteuid() != 0) {
        BOOST_TEST(load_error(path).empty());  // our own file: accepted
        return;
    }
    BOOST_REQUIRE(::chown(path.c_str(), 65534, 0) == 0);
    BOOST_CHECK_MESSAGE(has_all(load_error(path), {path + ": ", "owned by uid 65534", "chown root " + path}),
                        "case owned by uid 65534: got '" << load_error(path) << "'");
}

BOOST_AUTO_TEST_SUITE_END()
