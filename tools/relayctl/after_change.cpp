// [relayctl] after_change_command: after relayctl changed a password, disabled or deleted an account,
// caches that still hold the old state (Dovecot's auth cache, saslauthd's credential cache) can be told.
// The command runs without a shell: the configured value is split at blanks, "%{login}" inside an
// argument becomes the login, and the login is never split or interpreted, whatever it contains. Its
// standard output goes to relayctl's standard error: stdout stays relayctl's own (--json output must
// parse; doveadm prints "1 cache entries flushed").
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "core/config/config_checks.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

extern char** environ;

namespace relay::ctl {
namespace {

constexpr auto kMaxWait = std::chrono::seconds(60);

std::string substitute(std::string arg, const std::string& login) {
    const std::string token = "%{login}";
    for (std::size_t at = arg.find(token); at != std::string::npos; at = arg.find(token, at + login.size()))
        arg.replace(at, token.size(), login);
    return arg;
}

// Waits for the child at most kMaxWait, then kills it. Returns the wait status, or -1 when killed.
int wait_bounded(pid_t pid) {
    const auto deadline = std::chrono::steady_clock::now() + kMaxWait;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status;
}

}  // namespace

void run_after_change(Context& ctx, const std::string& login, const std::string& what) {
    const std::vector<std::string> words = split_command(ctx.config().relayctl.after_change_command);
    if (words.empty()) return;
    std::vector<std::string> args;
    for (const auto& w : words) args.push_back(substitute(w, login));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::cout.flush();  // what relayctl reported comes before anything the command prints
    std::cerr.flush();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    const std::string name = printable(args[0], 200);
    if (rc != 0) {
        std::cerr << "warning: " << what << " done, but [relayctl] after_change_command " << name
                  << " could not start: " << std::strerror(rc) << "\n";
        return;
    }
    const int status = wait_bounded(pid);
    if (status == -1)
        std::cerr << "warning: " << what << " done, but after_change_command " << name << " took over "
                  << kMaxWait.count() << " s and was killed\n";
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        std::cerr << "warning: " << what << " done, but after_change_command " << name << " exited with "
                  << WEXITSTATUS(status) << "\n";
    else if (WIFSIGNALED(status))
        std::cerr << "warning: " << what << " done, but after_change_command " << name << " died of signal "
                  << WTERMSIG(status) << "\n";
    else if (ctx.verbose)
        std::cerr << "after_change_command " << name << " ran for " << printable(login, 200) << "\n";
}

}  // namespace relay::ctl
