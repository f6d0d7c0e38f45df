// relayctl db init | migrate | status.
//
// Migrations (sql/migrations/NNN_name.sql) are run through the `mariadb` command-line client, not split
// by us: they define triggers with DELIMITER, which is a command of the client, not SQL the server
// understands. Re-implementing the client's statement splitter (comments, quotes, DELIMITER, BEGIN...END
// bodies) would be a second, subtly different SQL parser; with the client, a migration behaves exactly as
// when a DBA runs `mariadb relay_authority < 001_initial.sql` by hand. The credentials of [database] go to
// the client in a temporary option file (mode 0600, removed afterwards, read with --defaults-file so no
// other option file interferes), never on the command line (visible in ps) or in the environment.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <regex>

#include "core/base/errors.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

struct Migration {
    int version = 0;
    std::string name;  // file name without ".sql", e.g. "001_initial"
    std::string path;
};

bool is_dir(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// True when this relayctl is the one cmake built in RELAY_BINARY_DIR (not an installed copy).
bool running_from_build_tree() {
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    const std::string path(exe, static_cast<std::size_t>(n));
    const std::string build = RELAY_BINARY_DIR "/";
    return path.compare(0, build.size(), build) == 0;
}

// DIR/migrations, or DIR itself when it already is the migrations directory.
std::string migrations_dir(const std::string& dir) {
    if (is_dir(dir + "/migrations")) return dir + "/migrations";
    return dir;
}

std::string find_migrations(const Context& ctx) {
    if (!ctx.sql_dir.empty()) {
        if (!is_dir(ctx.sql_dir)) throw UsageError("--sql-dir " + ctx.sql_dir + ": no such directory");
        return migrations_dir(ctx.sql_dir);
    }
    // A relayctl run from its build tree uses that tree's migrations, even when a package is installed
    // too (the package's may be older); an installed relayctl uses the installed ones.
    const std::string installed = RELAY_SQL_DIR;
    const std::string source = RELAY_SOURCE_DIR "/sql";
    const std::string first = running_from_build_tree() ? source : installed;
    const std::string second = first == source ? installed : source;
    if (is_dir(first + "/migrations")) return first + "/migrations";
    if (running_from_build_tree() && is_dir(second + "/migrations")) return second + "/migrations";
    throw UsageError("cannot find the migrations in " + installed + "/migrations: give --sql-dir DIR");
}

std::vector<Migration> list_migrations(const std::string& dir) {
    std::vector<Migration> out;
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
    if (!d) throw UsageError("cannot read " + dir);
    static const std::regex kName("^([0-9]{3,6})_[A-Za-z0-9_.-]+\\.sql$");
    while (dirent* e = readdir(d.get())) {
        std::string file = e->d_name;
        std::smatch m;
        if (!std::regex_match(file, m, kName)) continue;
        out.push_back({std::stoi(m[1].str()), file.substr(0, file.size() - 4), dir + "/" + file});
    }
    std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < out.size(); ++i)
        if (out[i].version == out[i - 1].version)
            throw UsageError("two migrations with version " + std::to_string(out[i].version) + " in " + dir);
    if (out.empty()) throw UsageError("no migrations (NNN_name.sql) in " + dir);
    return out;
}

// A value in a MariaDB option file: double-quoted, backslash escapes for what the parser unescapes.
std::string option_value(const std::string& v) {
    std::string out = "\"";
    for (char c : v) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: out += c;
        }
    }
    return out + "\"";
}

// The temporary option file: 0600 from mkstemp, deleted when this goes out of scope.
class DefaultsFile {
public:
    explicit DefaultsFile(const DatabaseConfig& db) {
        const char* tmp = std::getenv("TMPDIR");
        path_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/relayctl-client-XXXXXX";
        int fd = mkstemp(path_.data());
        if (fd < 0) throw UsageError("cannot create a temporary file in " + path_);
        fchmod(fd, 0600);
        std::string text = "[client]\nuser=" + option_value(db.user) + "\npassword=" + option_value(db.password) + "\n";
        if (!db.socket.empty()) {
            text += "socket=" + option_value(db.socket) + "\nprotocol=SOCKET\n";
        } else {
            // Several host entries: the server the daemons use now (the first healthy one).
            auto servers = DatabaseServers::shared(db);
            const DatabaseServer& server = servers->server(servers->current());
            text += "host=" + option_value(server.host) + "\nport=" + std::to_string(server.port) + "\nprotocol=TCP\n";
        }
        text += "database=" + option_value(db.name) + "\ndefault-character-set=utf8mb4\n";
        if (db.connect_timeout > 0) text += "connect-timeout=" + std::to_string(db.connect_timeout) + "\n";
        const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        std::fill(text.begin(), text.end(), '\0');
        close(fd);
        if (!ok) {
            unlink(path_.c_str());
            throw UsageError("cannot write the temporary file " + path_);
        }
    }
    ~DefaultsFile() { unlink(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string find_client(const std::string& given) {
    if (!given.empty()) return given;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (const char* name : {"mariadb", "mysql"}) {
        std::size_t start = 0;
        while (start <= dirs.size()) {
            std::size_t end = dirs.find(':', start);
            if (end == std::string::npos) end = dirs.size();
            std::string candidate = dirs.substr(start, end - start) + "/" + name;
            if (access(candidate.c_str(), X_OK) == 0) return candidate;
            start = end + 1;
        }
    }
    throw UsageError("the mariadb client is not installed (apt-get install mariadb-client), or give --client PATH");
}

// Runs the client with the file on stdin; returns its exit status, output in *output.
int run_client(const std::string& client, const DatabaseConfig& db, const std::string& file, std::string* output) {
    DefaultsFile defaults(db);
    int in = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw UsageError("cannot open " + file);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw UsageError("pipe failed");
    const std::string defaults_arg = "--defaults-file=" + defaults.path();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        // --batch: stop at the first error and say which line; no history file, no pager.
        execl(client.c_str(), client.c_str(), defaults_arg.c_str(), "--batch", "--show-warnings",
              static_cast<char*>(nullptr));
        const char msg[] = "cannot execute the mariadb client\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(127);
    }
    close(in);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        throw UsageError("fork failed");
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && output->size() < 65536) output->append(buf, static_cast<std::size_t>(n));
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Json migration_json(const Migration& m, const std::string& state) {
    return Json::object().set("version", m.version).set("name", m.name).set("state", state);
}

int apply(Context& ctx, const std::vector<Migration>& todo, const std::string& client, int from) {
    Json done = Json::array();
    int version = from;
    for (const Migration& m : todo) {
        if (!ctx.json) std::cout << "applying " << m.name << ".sql ... " << std::flush;
        const auto start = std::chrono::steady_clock::now();
        std::string output;
        int status = run_client(client, ctx.config().database, m.path, &output);
        if (status != 0) {
            if (!ctx.json) std::cout << "FAILED\n";
            std::string detail = printable(output, 1500);
            // The client's own connection errors (1045 access denied, 2002 no socket) are set-up problems.
            bool unreachable = output.find("ERROR 2002") != std::string::npos ||
                               output.find("ERROR 2003") != std::string::npos ||
                               output.find("ERROR 2013") != std::string::npos;
            std::string message = "migration " + m.name + ".sql failed (mariadb client exit " + std::to_string(status) +
                                  "): " + detail + (version == from ? "" : "; migrations before it were applied") +
                                  ". DDL is not transactional: the database may be partly changed by this file";
            if (unreachable) throw StoreTransientError(message);
            throw StorePermanentError(message);
        }
        ctx.store().record_migration(m.version, m.name);
        version = m.version;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!ctx.json) std::cout << "ok (" << static_cast<int>(secs * 1000) << " ms)\n";
        done.push(migration_json(m, "applied"));
    }
    if (ctx.json) emit(Json::object().set("applied", done).set("schema_version", version));
    else std::cout << "schema version is now " << version << "\n";
    return kExitOk;
}

Command migrate_command(const char* usage, const char* about) {
    Command cmd(usage, about);
    cmd.options.add_options()("sql-dir", po::value<std::string>(), "directory holding migrations/ (default: the installed ones, " RELAY_SQL_DIR ")")(
        "client", po::value<std::string>(), "the mariadb (or mysql) client binary to run migrations with")(
        "dry-run", "only list what would be applied");
    return cmd;
}

void take_dirs(Context& ctx, const po::variables_map& vm) {
    if (vm.count("sql-dir")) ctx.sql_dir = vm["sql-dir"].as<std::string>();
}

}  // namespace

int cmd_db_init(Context& ctx, const Args& args) {
    Command cmd = migrate_command("db init [--sql-dir DIR] [--client PATH] [--dry-run]",
                                  "Creates the relay-authority schema in the empty database named in [database] by "
                                  "applying every migration. The database must exist, and the configured user needs "
                                  "the DDL privileges (CREATE, ALTER, INDEX, TRIGGER, CREATE VIEW).");
    auto vm = cmd.parse(ctx, args);
    take_dirs(ctx, vm);
    const auto migrations = list_migrations(find_migrations(ctx));
    AdminStore& store = ctx.store();
    if (auto version = store.schema_version())
        throw StoreConflictError("database '" + ctx.config().database.name + "' is already initialised (schema version " +
                                 std::to_string(*version) + "): use relayctl db migrate");
    auto tables = store.tables();
    if (!tables.empty()) {
        std::string names;
        for (std::size_t i = 0; i < tables.size() && i < 5; ++i) names += (i ? ", " : "") + tables[i];
        throw StoreConflictError("database '" + ctx.config().database.name + "' is not empty (" +
                                 std::to_string(tables.size()) + " tables: " + names +
                                 (tables.size() > 5 ? ", ..." : "") +
                                 ") but has no schema_version: refusing to initialise it");
    }
    if (vm.count("dry-run")) {
        Json list = Json::array();
        for (const auto& m : migrations) {
            say(ctx, "would apply " + m.name + ".sql");
            list.push(migration_json(m, "pending"));
        }
        if (ctx.json) emit(Json::object().set("pending", list));
        return kExitOk;
    }
    return apply(ctx, migrations, find_client(vm.count("client") ? vm["client"].as<std::string>() : ""), 0);
}

int cmd_db_migrate(Context& ctx, const Args& args) {
    Command cmd = migrate_command("db migrate [--sql-dir DIR] [--client PATH] [--dry-run]",
                                  "Applies, in order, every migration newer than the database's schema version. "
                                  "Safe to run again: nothing to do is not an error.");
    auto vm = cmd.parse(ctx, args);
    take_dirs(ctx, vm);
    const auto migrations = list_migrations(find_migrations(ctx));
    auto version = ctx.store().schema_version();
    if (!version)
        throw NotFoundError("database '" + ctx.config().database.name +
                            "' has no relay-authority schema yet: run relayctl db init");
    std::vector<Migration> todo;
    for (const auto& m : migrations)
        if (m.version > *version) todo.push_back(m);
    if (todo.empty() || vm.count("dry-run")) {
        Json list = Json::array();
        for (const auto& m : todo) {
            say(ctx, "would apply " + m.name + ".sql");
            list.push(migration_json(m, "pending"));
        }
        if (todo.empty()) say(ctx, "schema version " + std::to_string(*version) + " is up to date");
        if (ctx.json) emit(Json::object().set("schema_version", *version).set("pending", list));
        return kExitOk;
    }
    return apply(ctx, todo, find_client(vm.count("client") ? vm["client"].as<std::string>() : ""), *version);
}

int cmd_db_status(Context& ctx, const Args& args) {
    Command cmd("db status [--sql-dir DIR]", "Shows the database, its schema version, and which migrations are "
                                             "applied and which are pending.");
    cmd.options.add_options()("sql-dir", po::value<std::string>(), "directory holding migrations/");
    auto vm = cmd.parse(ctx, args);
    take_dirs(ctx, vm);
    AdminStore& store = ctx.store();
    const auto& db = ctx.config().database;
    const std::string server = store.server_version();
    auto version = store.schema_version();
    std::vector<AppliedMigration> applied;
    if (version) applied = store.applied_migrations();
    std::vector<Migration> available;
    std::string dir_problem;
    try {
        available = list_migrations(find_migrations(ctx));
    } catch (const UsageError& e) {
        dir_problem = e.what();
    }
    Json list = Json::array();
    Table table{{"VERSION", "NAME", "STATE", "APPLIED AT"}, {}};
    for (const auto& a : applied) {
        list.push(Json::object().set("version", a.version).set("name", a.name).set("state", "applied")
                      .set("applied_at", json_time(a.applied_at)));
        table.rows.push_back({std::to_string(a.version), a.name, "applied", format_time(a.applied_at)});
    }
    int pending = 0;
    for (const auto& m : available) {
        if (version && m.version <= *version) continue;
        ++pending;
        list.push(migration_json(m, "pending"));
        table.rows.push_back({std::to_string(m.version), m.name, "pending", "-"});
    }
    if (ctx.json) {
        emit(Json::object().set("database", db.name).set("endpoint", describe_endpoint(db)).set("server", server)
                 .set("initialised", version.has_value()).set("schema_version", version.value_or(0))
                 .set("pending", pending).set("migrations", list));
        return kExitOk;
    }
    print_fields(std::cout, {{"database", db.name + " at " + describe_endpoint(db)},
                             {"server", server},
                             {"schema version", version ? std::to_string(*version) : "none (empty database: run relayctl db init)"},
                             {"pending migrations", dir_problem.empty() ? std::to_string(pending) : dir_problem}});
    if (!table.rows.empty()) {
        std::cout << "\n";
        table.print(std::cout);
    }
    return kExitOk;
}

}  // namespace relay::ctl
