// Abuse detection ([abuse] in the config, docs/rate-limits.md): an account used from more distinct client
// networks than max_networks within networks_window, or refused for rate limits more than
// max_rate_refusals times within refusals_window, is suspended automatically: smtp_authorities
// suspended_until / suspend_reason (which every daemon picks up within a second or two), an event in
// relay_events, a warning in the log, and optionally [abuse] notify_command run with the event.
//
// The request path only queues observations (observe_*: no database, no waiting); a background thread
// writes them, counts across every host (the counts live in the database) and suspends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/base/clock.hpp"
#include "core/config/config.hpp"
#include "core/rules/model.hpp"

namespace relay {

// A rate-limit charge key (rate_charge_keys) is needed while its charge may run again (at most
// [rate_limits] charge_timeout, 60 s). Older keys are deleted by the daemons' abuse thread and by
// relayctl prune.
constexpr auto kChargeKeyLifetime = std::chrono::hours(1);

class EventWriter;

// The database side of abuse detection (MysqlAbuseStore in mysql_rate_gate.hpp; tests use a fake).
// Every method may throw StoreTransientError / StorePermanentError.
class AbuseStore {
public:
    virtual ~AbuseStore() = default;
    // Notes that the account was used from these networks at `now`; returns how many distinct networks
    // it was used from since `since` (these included).
    virtual std::uint64_t record_networks(Id authority_id, const std::vector<std::string>& networks, TimePoint now,
                                          TimePoint since) = 0;
    // Adds `count` rate-limit refusals at `now`; returns how many there were since `since`.
    virtual std::uint64_t record_refusals(Id authority_id, std::uint64_t count, TimePoint now, TimePoint since) = 0;
    // Suspends the account until `until` unless it is suspended beyond `now` already, and forgets its
    // observations (counting starts afresh after a suspension). True when this call suspended it, so that
    // of several hosts noticing the same abuse only one reports it.
    virtual bool suspend(Id authority_id, TimePoint until, const std::string& reason, TimePoint now) = 0;
    // Deletes observations older than the windows, and rate-limit charge keys (rate_charge_keys) older than
    // charge_keys_before: a key is only needed while its charge may be retried.
    virtual void purge(TimePoint networks_before, TimePoint refusals_before, TimePoint charge_keys_before) = 0;
};

// "192.0.2.0/24" for IPv4 (also IPv4-mapped IPv6), "2001:db8:1::/48" for IPv6; nullopt when the address
// cannot be parsed (then it is not counted).
std::optional<std::string> client_network(const std::string& address);

// Runs notify_command without a shell: argv = {command, "suspended", login, authority id, until
// (YYYY-MM-DDTHH:MM:SSZ), reason, node}. Returns the child's pid, or -1 (logged) when it cannot start.
pid_t run_notify_command(const std::string& command, const std::vector<std::string>& arguments);

class AbuseMonitor {
public:
    AbuseMonitor(AbuseStore& store, AbuseConfig config, const Clock& clock, EventWriter* events, std::string node);
    ~AbuseMonitor();
    AbuseMonitor(const AbuseMonitor&) = delete;
    AbuseMonitor& operator=(const AbuseMonitor&) = delete;

    // Called on the request path; never block on the database. Ignored when [abuse] enabled = no.
    void observe_use(Id authority_id, const std::string& login, const std::string& client_address, TimePoint now);
    void observe_refusal(Id authority_id, const std::string& login, const std::string& client_address,
                         TimePoint now);

    // Writes what is queued, counts, suspends. Throws store errors (the observations stay queued).
    // The background thread calls it every second; tests call it directly.
    void process();

    void start();  // the background thread (after any fork: threads do not survive one)
    void stop();

    // The reasons written to suspend_reason.
    static std::string networks_reason(std::uint64_t networks, const AbuseConfig& config);
    static std::string refusals_reason(std::uint64_t refusals, const AbuseConfig& config);

private:
    struct Pending {
        std::string login;
        std::string client_address;
        TimePoint last{};
        std::unordered_set<std::string> networks;
        std::uint64_t refusals = 0;
    };
    struct Child {
        pid_t pid;
        std::chrono::steady_clock::time_point started;
    };

    void process_one(Id authority_id, Pending& pending, TimePoint now);
    Pending* pending_for(Id authority_id, const std::string& login, const std::string& client, TimePoint now);
    void suspend(Id authority_id, const Pending& p, const std::string& reason, TimePoint now);
    void reap_children(bool wait_all);
    void run();

    AbuseStore& store_;
    AbuseConfig config_;
    const Clock& clock_;
    EventWriter* events_;
    std::string node_;

    std::mutex mutex_;  // pending_, written_, dropped_, stopping_
    std::unordered_map<Id, Pending> pending_;
    // (authority, network) -> when last written: a network seen again soon after is not written again.
    std::unordered_map<std::string, TimePoint> written_;
    std::uint64_t dropped_ = 0;
    bool stopping_ = false;
    std::condition_variable cv_;
    std::thread thread_;

    std::vector<Child> children_;  // notify commands still running (thread only)
    TimePoint last_purge_{};
};

}  // namespace relay
