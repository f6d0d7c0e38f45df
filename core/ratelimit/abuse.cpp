#include "core/ratelimit/abuse.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/mail/cidr.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_writer.hpp"
#include "core/base/log.hpp"
#include "core/ratelimit/rate_limit_zone.hpp"
#include "core/base/text.hpp"
#include "core/metrics/metrics.hpp"

namespace relay {

namespace {

constexpr std::size_t kMaxPending = 100000;   // accounts with unwritten observations
constexpr std::size_t kMaxWritten = 200000;   // (account, network) pairs remembered as written
constexpr auto kPurgeInterval = std::chrono::minutes(10);
constexpr auto kNotifyTimeout = std::chrono::seconds(30);

std::string utc_text(TimePoint t) {
    const std::int64_t s = to_unix(t);
    const std::int64_t days = s / 86400 - (s % 86400 < 0 ? 1 : 0);
    const std::int64_t rest = s - days * 86400;
    const CivilTime c = civil_from_days(days);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(c.year), c.month,
                  c.day, static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                  static_cast<long long>(rest % 60));
    return buf;
}

// A network seen again within this time is not written again: its last_seen_at is at most this old.
std::chrono::seconds rewrite_interval(const AbuseConfig& config) {
    return std::chrono::seconds(std::clamp<unsigned>(config.networks_window / 10, 10, 300));
}

std::string written_key(Id authority_id, const std::string& network) {
    return std::to_string(authority_id) + " " + network;
}

}  // namespace

std::optional<std::string> client_network(const std::string& address) {
    auto ip = IpAddress::parse(address);
    if (!ip) return std::nullopt;
    Cidr network;
    network.network = *ip;
    network.prefix = ip->v4 ? 24 : 48;
    // Zero the host bits: /24 keeps 3 bytes, /48 keeps 6.
    const std::size_t keep = ip->v4 ? 3 : 6;
    for (std::size_t i = keep; i < network.network.bytes.size(); ++i) network.network.bytes[i] = 0;
    return network.str();
}

pid_t run_notify_command(const std::string& command, const std::vector<std::string>& arguments) {
    // Everything the child needs is prepared before fork(): after it, in a threaded process, the child
    // may only make async-signal-safe calls until execv.
    std::vector<std::string> words{command};
    for (const std::string& a : arguments) words.push_back(printable(a, 300));
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        log_error("abuse: cannot run notify_command " + sanitize(command, 200) + ": fork: " + std::strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, nullptr);  // the daemons block signals for sigwait
        struct sigaction dfl{};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaction(sig, &dfl, nullptr);
        const int null = open("/dev/null", O_RDWR);
        if (null >= 0) dup2(null, 0);
        closefrom(3);  // no database or listening sockets for the notifier
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

AbuseMonitor::AbuseMonitor(AbuseStore& store, AbuseConfig config, const Clock& clock, EventWriter* events,
                           std::string node)
    : store_(store), config_(std::move(config)), clock_(clock), events_(events), node_(std::move(node)) {}

AbuseMonitor::~AbuseMonitor() { stop(); }

std::string AbuseMonitor::networks_reason(std::uint64_t networks, const AbuseConfig& config) {
    return "automatic: used from " + std::to_string(networks) + " client networks within " +
           std::to_string(config.networks_window) + " s (max_networks " + std::to_string(config.max_networks) + ")";
}

std::string AbuseMonitor::refusals_reason(std::uint64_t refusals, const AbuseConfig& config) {
    return "automatic: " + std::to_string(refusals) + " rate-limit refusals within " +
           std::to_string(config.refusals_window) + " s (max_rate_refusals " +
           std::to_string(config.max_rate_refusals) + ")";
}

AbuseMonitor::Pending* AbuseMonitor::pending_for(Id authority_id, const std::string& login, const std::string& client,
                                                 TimePoint now) {
    auto it = pending_.find(authority_id);
    if (it == pending_.end()) {
        if (pending_.size() >= kMaxPending) {
            ++dropped_;
            return nullptr;
        }
        it = pending_.emplace(authority_id, Pending{}).first;
    }
    Pending& p = it->second;
    p.login = login;
    p.client_address = client;
    p.last = std::max(p.last, now);
    return &p;
}

void AbuseMonitor::observe_use(Id authority_id, const std::string& login, const std::string& client_address,
                               TimePoint now) {
    if (!config_.enabled) return;
    const auto network = client_network(client_address);
    if (!network) return;
    const std::string key = written_key(authority_id, *network);
    std::lock_guard<std::mutex> lock(mutex_);
    auto seen = written_.find(key);
    if (seen != written_.end() && now - seen->second < rewrite_interval(config_) && now >= seen->second) return;
    Pending* p = pending_for(authority_id, login, client_address, now);
    if (!p) return;
    p->networks.insert(*network);
    if (written_.size() >= kMaxWritten) written_.clear();
    written_[key] = now;
}

void AbuseMonitor::observe_refusal(Id authority_id, const std::string& login, const std::string& client_address,
                                   TimePoint now) {
    if (!config_.enabled) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (Pending* p = pending_for(authority_id, login, client_address, now)) ++p->refusals;
}

void AbuseMonitor::process_one(Id id, Pending& p, TimePoint now) {
    if (!p.networks.empty()) {
        const std::vector<std::string> networks(p.networks.begin(), p.networks.end());
        const std::uint64_t n =
            store_.record_networks(id, networks, p.last, p.last - std::chrono::seconds(config_.networks_window));
        p.networks.clear();
        if (n > config_.max_networks) {
            p.refusals = 0;  // the suspension forgets them anyway
            suspend(id, p, networks_reason(n, config_), now);
            return;
        }
    }
    if (p.refusals > 0) {
        const std::uint64_t r =
            store_.record_refusals(id, p.refusals, p.last, p.last - std::chrono::seconds(config_.refusals_window));
        p.refusals = 0;
        if (r > config_.max_rate_refusals) suspend(id, p, refusals_reason(r, config_), now);
    }
}

void AbuseMonitor::process() {
    const TimePoint now = clock_.now();
    std::unordered_map<Id, Pending> work;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        work.swap(pending_);
    }
    const auto networks_window = std::chrono::seconds(config_.networks_window);
    const auto refusals_window = std::chrono::seconds(config_.refusals_window);
    auto it = work.begin();
    try {
        for (; it != work.end(); ++it) {
            try {
                process_one(it->first, it->second, now);
            } catch (const StoreTransientError&) {
                throw;
            } catch (const std::exception& e) {
                // Retrying cannot help (the account was deleted, a privilege is missing): drop it.
                log_error("abuse: observations of " + sanitize(it->second.login, 100) + " dropped: " + e.what());
                it->second = Pending{};
            }
        }
    } catch (...) {
        // Whatever was not written goes back, merged with what arrived meanwhile.
        std::lock_guard<std::mutex> lock(mutex_);
        for (; it != work.end(); ++it) {
            Pending& back = pending_[it->first];
            back.login = it->second.login;
            if (back.client_address.empty()) back.client_address = it->second.client_address;
            back.last = std::max(back.last, it->second.last);
            back.networks.insert(it->second.networks.begin(), it->second.networks.end());
            back.refusals += it->second.refusals;
        }
        throw;
    }
    if (now - last_purge_ >= kPurgeInterval) {
        store_.purge(now - networks_window, now - refusals_window, now - kChargeKeyLifetime);
        last_purge_ = now;
    }
}

void AbuseMonitor::suspend(Id authority_id, const Pending& p, const std::string& reason, TimePoint now) {
    const TimePoint until = now + std::chrono::seconds(config_.suspend_seconds);
    if (!store_.suspend(authority_id, until, reason, now)) return;  // already suspended (maybe by another host)
    metrics::on_suspension();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const std::string prefix = std::to_string(authority_id) + " ";
        for (auto w = written_.begin(); w != written_.end();) {
            w = w->first.compare(0, prefix.size(), prefix) == 0 ? written_.erase(w) : std::next(w);
        }
    }
    const std::string text = "automatic suspension until " + utc_text(until) + ": " + reason;
    log_warning("abuse: suspended " + sanitize(p.login, 100) + " (smtp_authorities id " +
                std::to_string(authority_id) + ") until " + utc_text(until) + ": " + reason +
                "; lift it with: relayctl account unsuspend " + sanitize(p.login, 100));
    if (events_) {
        Event e;
        e.at = now;
        e.node = node_;
        e.stage = Stage::end_of_message;
        e.authority_id = authority_id;
        e.login = p.login;
        e.client_address = p.client_address;
        e.verdict = Verdict::reject;
        e.reason = Reason::account_suspended;
        e.detail = text;
        events_->submit(std::move(e));
    }
    if (!config_.notify_command.empty()) {
        const pid_t pid = run_notify_command(config_.notify_command, {"suspended", p.login, std::to_string(authority_id),
                                                                      utc_text(until), reason, node_});
        if (pid > 0) children_.push_back(Child{pid, std::chrono::steady_clock::now()});
    }
}

void AbuseMonitor::reap_children(bool wait_all) {
    for (auto c = children_.begin(); c != children_.end();) {
        int status = 0;
        const pid_t r = waitpid(c->pid, &status, wait_all ? 0 : WNOHANG);
        const bool overdue = std::chrono::steady_clock::now() - c->started > kNotifyTimeout;
        if (r == 0 && overdue) {
            log_warning("abuse: notify_command (pid " + std::to_string(c->pid) + ") still running after " +
                        std::to_string(kNotifyTimeout.count()) + " s: killed");
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
        } else if (r == 0) {
            ++c;
            continue;
        } else if (r == c->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            log_warning("abuse: notify_command (pid " + std::to_string(c->pid) + ") failed: " +
                        (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                           : "killed by signal " + std::to_string(WTERMSIG(status))));
        }
        c = children_.erase(c);  // reaped, or not our child any more (SIGCHLD ignored: reaped by the kernel)
    }
}

void AbuseMonitor::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    // Also with [abuse] enabled = no: the thread then only purges (the rate-limit charge keys).
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void AbuseMonitor::stop() {
    std::thread thread;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        thread = std::move(thread_);
    }
    cv_.notify_all();
    if (!thread.joinable()) return;
    thread.join();
    try {
        process();
    } catch (const std::exception& e) {
        log_warning(std::string("abuse: observations not written at shutdown: ") + e.what());
    }
    reap_children(false);
}

void AbuseMonitor::run() {
    bool failing = false;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
        if (stopping_) break;
        if (dropped_ > 0) {
            log_warning("abuse: " + std::to_string(dropped_) + " observations dropped (too many accounts queued)");
            dropped_ = 0;
        }
        lock.unlock();
        try {
            process();
            if (failing) log_info("abuse: writing observations again");
            failing = false;
        } catch (const std::exception& e) {
            if (!failing) log_warning(std::string("abuse: cannot write observations (") + e.what() + "); retrying");
            failing = true;
        }
        reap_children(false);
        lock.lock();
    }
}

}  // namespace relay
