// The heartbeat: each daemon records itself in the `nodes` table (migration 005) every few seconds, from a
// thread of its own with a connection of its own, so `relayctl status` on any host shows every daemon of
// every host. Never on the request path: a slow or absent database only delays the next beat.
// The nodes table has no trigger: a beat never moves change_generation.
// After each beat it can also count the daemons that charge rate limits (live relay-policyd and relay-milter
// rows), for the size of rate-limit leases (core/ratelimit/rate_lease.hpp, ProcessCount).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/config/config.hpp"

namespace relay {

class MysqlPool;

struct NodeIdentity {
    std::string node;     // [general] node
    std::string daemon;   // relay-policyd, relay-milter
    std::string version;  // RELAY_VERSION
};

// What the daemon serves now, asked before every beat (must be cheap and thread-safe).
struct NodeStatus {
    std::optional<std::uint64_t> rules_generation;  // nullopt: no rules loaded yet
    std::string state = "starting";                 // starting, serving, stale (the nodes.state words)
};
using NodeStatusSource = std::function<NodeStatus()>;
// Told after every beat of the thread how many daemons charge rate limits (nullopt: could not be read).
// Runs on the heartbeat thread: must be cheap and thread-safe.
using DaemonCountSink = std::function<void(std::optional<unsigned>)>;

class Heartbeat {
public:
    static constexpr std::chrono::seconds kDefaultInterval{5};

    Heartbeat(const DatabaseConfig& database, NodeIdentity identity, NodeStatusSource status,
              std::chrono::milliseconds interval = kDefaultInterval);
    ~Heartbeat();  // stop()
    Heartbeat(const Heartbeat&) = delete;
    Heartbeat& operator=(const Heartbeat&) = delete;

    // A live daemon: a relay-policyd or relay-milter row, not 'stopped', with a heartbeat younger than this
    // (by the database's NOW(): no clock skew between hosts). Three beats of a daemon (kDefaultInterval:
    // the daemons' interval), or three of ours if it is longer.
    std::chrono::milliseconds live_within() const;
    // Before start(): after each beat, count the live daemons and tell sink.
    void count_daemons(DaemonCountSink sink) { count_sink_ = std::move(sink); }
    // The count, now, on the caller's thread; nullopt (and logged, once per cause) if it cannot be read.
    std::optional<unsigned> live_daemons();

    void start();  // the first beat at once, then every interval
    // Ends the thread and records state 'stopped' (best effort, one try). Idempotent.
    void stop();
    // One beat now, on the caller's thread; false (and logged, once per change of cause) if it failed.
    bool beat(const std::string& state_override = "");

private:
    void run();

    std::unique_ptr<MysqlPool> pool_;
    NodeIdentity identity_;
    NodeStatusSource status_;
    DaemonCountSink count_sink_;
    std::chrono::milliseconds interval_;
    bool first_ = true;          // the next successful beat sets started_at
    std::string last_error_;     // logged once per cause
    std::string last_count_error_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool stopped_ = false;
    std::thread thread_;
};

}  // namespace relay
