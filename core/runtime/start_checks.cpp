#include "core/runtime/start_checks.hpp"

#include <grp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "core/base/clock.hpp"
#include "core/config/config_checks.hpp"
#include "core/base/errors.hpp"
#include "core/store/mysql_rate_gate.hpp"
#include "core/store/mysql_store.hpp"
#include "core/base/process.hpp"

namespace relay {
namespace {

struct RunAccount {
    uid_t uid = 0;
    std::vector<gid_t> gids;  // primary (or the configured group) and supplementary groups
};

// The account the daemon runs as after the drop, with its groups; false when the user is unknown.
bool resolve_account(const std::string& user, const std::string& group, RunAccount* out) {
    gid_t primary = 0;
    const auto uid = lookup_user(user, &primary);
    if (!uid) return false;
    const auto gid = group.empty() ? std::optional<gid_t>(primary) : lookup_group(group);
    out->uid = *uid;
    out->gids = {gid ? *gid : primary};
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), out->gids[0], groups.data(), &n) >= 0)
        out->gids.insert(out->gids.end(), groups.begin(), groups.begin() + n);
    return true;
}

// Whether account may do `bit` (1 search/execute, 2 write) on st by the mode bits (no ACLs).
bool permitted(const struct stat& st, const RunAccount& account, unsigned bit) {
    if (account.uid == 0) return true;
    if (st.st_uid == account.uid) return (st.st_mode >> 6) & bit;
    if (std::find(account.gids.begin(), account.gids.end(), st.st_gid) != account.gids.end())
        return (st.st_mode >> 3) & bit;
    return st.st_mode & bit;
}

std::string octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool has_unix_listener(const Config& config, DaemonKind kind) {
    if (kind == DaemonKind::milter) return parse_milter_listen(config.milter.listen).family == ListenAddress::Family::unix_path;
    return std::any_of(config.policyd.listen.begin(), config.policyd.listen.end(), [](const std::string& l) {
        return parse_policyd_listen(l).family == ListenAddress::Family::unix_path;
    });
}

// A unix listener: its directory must exist (the daemon binds as root, so writable by root suffices).
std::string check_socket_dir(const std::string& listen, const std::string& path) {
    const std::string dir = dir_of(path);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0)
        return "listen " + listen + ": directory " + dir + " does not exist (create it; under systemd the unit's " +
               "RuntimeDirectory= creates /run/relay-policyd or /run/relay-milter at start)";
    if (!S_ISDIR(st.st_mode)) return "listen " + listen + ": " + dir + " is not a directory";
    if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return "listen " + listen + ": " + path + " exists and is not a socket (remove it or listen elsewhere)";
    return "";
}

std::string bind_error_hint(int error) {
    switch (error) {
        case EADDRINUSE: return " (another program listens there: is the daemon already running? `ss -ltnp`)";
        case EACCES: return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
        case EADDRNOTAVAIL: return " (no interface of this host has that address)";
        default: return "";
    }
}

std::string check_inet_bind(const std::string& listen, const ListenAddress& a) {
    addrinfo hints{};
    hints.ai_family = a.family == ListenAddress::Family::inet6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(a.port);
    if (int rc = getaddrinfo(a.host.c_str(), port.c_str(), &hints, &found); rc != 0)
        return "listen " + listen + ": cannot resolve " + a.host + ": " + gai_strerror(rc);
    std::string problem;
    for (addrinfo* ai = found; ai && problem.empty(); ai = ai->ai_next) {
        const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            const int error = errno;
            problem = "listen " + listen + ": cannot bind: " + std::strerror(error) + bind_error_hint(error);
        }
        close(fd);
    }
    freeaddrinfo(found);
    return problem;
}

int classify_db_error(const std::string& message) {
    for (const char* access : {"access denied", "lacks a privilege", "unknown database"})
        if (message.find(access) != std::string::npos) return kCheckDbAccess;
    return kCheckDbSchema;
}

// What the daemon does with the database at start: connect, the schema version, then prepare every
// statement it runs (the server checks table, column and privilege names when it prepares).
void check_database(const Config& config, const std::function<void(int, const std::string&)>& report) {
    try {
        MysqlStore store(config.database);
        const int version = store.schema_version();
        if (version < kRequiredSchemaVersion) {
            report(kCheckDbSchema, "database '" + config.database.name + "' has schema version " +
                                       std::to_string(version) + ", this build needs " +
                                       std::to_string(kRequiredSchemaVersion) + " or later: run relayctl db migrate");
            return;
        }
        store.check_schema();
        RealClock clock;
        MysqlRateGate gate(config, clock, nullptr);
        gate.check_schema();
    } catch (const StoreTransientError& e) {
        report(kCheckDbUnreachable, std::string("database: ") + e.what());
    } catch (const StorePermanentError& e) {
        report(classify_db_error(e.what()), std::string("database: ") + e.what());
    }
}

}  // namespace

std::string check_run_account(const std::string& section, const std::string& user, const std::string& group) {
    if (!lookup_user(user))
        return section + " user " + user + ": no such user (create it: adduser --system --group " +
               "--no-create-home --shell /usr/sbin/nologin " + user + ", or set " + section + " user)";
    if (!group.empty() && !lookup_group(group))
        return section + " group " + group + ": no such group (create it, or set " + section + " group)";
    return "";
}

std::string check_can_bind(const std::string& listen, DaemonKind kind) {
    const ListenAddress a = kind == DaemonKind::milter ? parse_milter_listen(listen) : parse_policyd_listen(listen);
    if (a.family == ListenAddress::Family::unix_path) return check_socket_dir(listen, a.path);
    return check_inet_bind(listen, a);
}

std::string check_db_socket_reachable(const std::string& socket, const std::string& user, const std::string& group) {
    RunAccount account;
    if (socket.empty() || !resolve_account(user, group, &account) || account.uid == 0) return "";
    const std::string why = "[database] socket " + socket + ": the daemon connects after dropping to user " + user;
    // Every directory on the way must be searchable; stop at the first that does not exist (the
    // server may simply not be running yet, which is no configuration error).
    for (std::size_t slash = socket.find('/', 1); slash != std::string::npos; slash = socket.find('/', slash + 1)) {
        const std::string dir = socket.substr(0, slash);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) return "";
        if (!permitted(st, account, 1))
            return why + ", who cannot enter " + dir + " (mode " + octal(st.st_mode) + "): make it searchable " +
                   "for " + user + " (chmod o+x, or a group " + user + " is in)";
    }
    struct stat st {};
    if (stat(socket.c_str(), &st) == 0 && !permitted(st, account, 2))
        return why + ", who may not write to the socket (mode " + octal(st.st_mode) + ")";
    return "";
}

int run_start_checks(const Config& config, DaemonKind kind, bool check_db, std::ostream& err) {
    const bool policyd = kind == DaemonKind::policyd;
    const std::string program = policyd ? "relay-policyd" : "relay-milter";
    const std::string section = policyd ? "[policyd]" : "[milter]";
    const std::string& user = policyd ? config.policyd.user : config.milter.user;
    const std::string& group = policyd ? config.policyd.group : config.milter.group;
    int first = kCheckOk;
    const auto report = [&](int code, const std::string& problem) {
        if (problem.empty()) return;
        err << program << ": " << problem << "\n";
        if (first == kCheckOk) first = code;
    };
    // Not started as root, the daemon changes no user and hands no socket to anyone (core/base/process.cpp).
    const bool root = geteuid() == 0;
    if (root) report(kCheckAccount, check_run_account(section, user, group));
    if (root && policyd && has_unix_listener(config, kind)) {
        const std::string& owner = config.policyd.socket_owner.empty() ? user : config.policyd.socket_owner;
        const std::string& sgroup = config.policyd.socket_group.empty() ? group : config.policyd.socket_group;
        if (!lookup_user(owner)) report(kCheckAccount, "[policyd] socket owner " + owner + ": no such user");
        if (!lookup_group(sgroup)) report(kCheckAccount, "[policyd] socket group " + sgroup + ": no such group");
    }
    const std::vector<std::string> listens = policyd ? config.policyd.listen : std::vector<std::string>{config.milter.listen};
    for (const std::string& listen : listens) {
        const std::string problem = check_can_bind(listen, kind);
        const bool directory = problem.find(": directory ") != std::string::npos || problem.find(" is not a") != std::string::npos;
        report(directory ? kCheckAccount : kCheckListen, problem.empty() ? "" : section + " " + problem);
    }
    if (root && !config.database.socket.empty())
        report(kCheckAccount, check_db_socket_reachable(config.database.socket, user, group));
    if (check_db && first == kCheckOk) check_database(config, report);
    return first;
}

}  // namespace relay
