#include "policyd/app.hpp"

#include <algorithm>
#include <csignal>
#include <pthread.h>
#include <unistd.h>

#include "core/base/errors.hpp"
#include "core/base/process.hpp"
#include "core/runtime/observability.hpp"
#include "core/runtime/runtime.hpp"
#include "core/rules/sent_reply.hpp"
#include "policyd/action.hpp"
#include "policyd/instance_tracker.hpp"
#include "policyd/listener.hpp"

namespace relay::policyd {

namespace {

// How long a stopping daemon waits for answers already being worked on.
constexpr auto kShutdownGrace = std::chrono::seconds(10);

struct StartupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The signals the main thread waits for; blocked before any thread exists so every thread inherits
// the mask and only sigwait() sees them.
sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

UnixSocketAccess unix_socket_access(const PolicydConfig& config) {
    UnixSocketAccess access;
    const bool root = geteuid() == 0;
    const std::string owner = !config.socket_owner.empty() ? config.socket_owner : root ? config.user : "";
    const std::string group = !config.socket_group.empty() ? config.socket_group : root ? config.group : "";
    if (!owner.empty()) {
        const auto uid = lookup_user(owner);
        if (!uid) throw StartupError("[policyd] socket owner " + owner + ": no such user");
        access.owner = *uid;
    }
    if (!group.empty()) {
        const auto gid = lookup_group(group);
        if (!gid) throw StartupError("[policyd] socket group " + group + ": no such group");
        access.group = *gid;
    }
    const auto mode = parse_socket_mode(config.socket_mode);
    if (!mode) throw StartupError("[policyd] socket_mode " + config.socket_mode + ": want an octal mode like 0660");
    access.mode = *mode;
    return access;
}

std::vector<BoundSocket> bind_all(const PolicydConfig& config) {
    // Owner and group apply to unix sockets only: inet listeners must not need them to exist.
    const bool any_unix = std::any_of(config.listen.begin(), config.listen.end(),
                                      [](const std::string& l) { return l.rfind("unix:", 0) == 0; });
    const UnixSocketAccess access = any_unix ? unix_socket_access(config) : UnixSocketAccess{};
    std::vector<BoundSocket> bound;
    try {
        for (const std::string& text : config.listen) {
            std::string error;
            const auto spec = parse_listen_spec(text, &error);
            if (!spec) throw StartupError(error);
            for (auto& s : bind_listener(*spec, access)) bound.push_back(std::move(s));
        }
    } catch (const std::exception& e) {
        for (auto& s : bound) release_listener(s);
        throw StartupError(e.what());
    }
    return bound;
}

std::string join_descriptions(const std::vector<BoundSocket>& sockets) {
    std::string out;
    for (const auto& s : sockets) out += (out.empty() ? "" : ", ") + (s.unix_path.empty() ? "inet:" + s.description : s.description);
    return out;
}

// Everything that lives from "privileges dropped" to "stopped", in construction order.
struct Running {
    RealClock clock;
    std::unique_ptr<Runtime> runtime;  // store, audit trail, rate limits, rules: core/runtime/runtime.hpp
    std::unique_ptr<InstanceTracker> tracker;
    std::unique_ptr<RequestHandler> handler;
    std::unique_ptr<Server> server;

    ~Running() {
        if (server) server->stop(kShutdownGrace);
        server.reset();
        handler.reset();
        runtime.reset();  // rules polling, rate gate, then the audit trail
    }
};

void open_runtime(Running& r, const Config& config, const StoreFactory& make_store) {
    r.runtime = std::make_unique<Runtime>(config, make_store, r.clock);
    try {
        r.runtime->open();
    } catch (const StorePermanentError& e) {
        throw StartupError(std::string("database: ") + e.what());
    }
    r.runtime->start();
}

// The server's settings plus the bound of a charge, which belongs to [rate_limits] (the rate gate uses it
// too, and keeps the value it started with: so does the server).
ServerSettings settings_of(const PolicydConfig& policyd, const RateLimitConfig& rate_limits) {
    ServerSettings s = server_settings(policyd);
    s.charge_timeout = std::chrono::seconds(rate_limits.charge_timeout);
    return s;
}

bool is_debug(const Config& config) {
    return parse_log_level(config.general.log_level).value_or(LogLevel::info) == LogLevel::debug;
}

void reload(Running& r, Config& running, const PolicydOptions& options) {
    Config fresh;
    try {
        fresh = load_config(options.config_path);
        if (options.allow_root) fresh.policyd.allow_root = true;
    } catch (const std::exception& e) {
        log_error(std::string("SIGHUP: keeping the running configuration: ") + e.what());
        return;
    }
    log_init(log_options(fresh, options.foreground));
    r.handler->set_debug(is_debug(fresh));
    r.server->update_settings(settings_of(fresh.policyd, running.rate_limits));
    r.tracker->set_limits(fresh.policyd.instance_cache_size, std::chrono::seconds(fresh.policyd.instance_ttl));
    const bool cache_changed = fresh.cache.poll_interval_ms != running.cache.poll_interval_ms ||
                               fresh.cache.max_stale_seconds != running.cache.max_stale_seconds;
    if (cache_changed && r.runtime->reload_cache(fresh.cache)) running.cache = fresh.cache;
    for (const std::string& key : keys_needing_restart(running, fresh))
        log_warning("SIGHUP: " + key + " changed; it takes effect when relay-policyd is restarted");
    running.general.log_level = fresh.general.log_level;
    running.general.syslog_facility = fresh.general.syslog_facility;
    const auto restartable = running.policyd;
    running.policyd = fresh.policyd;
    running.policyd.listen = restartable.listen;
    running.policyd.user = restartable.user;
    running.policyd.group = restartable.group;
    running.policyd.allow_root = restartable.allow_root;
    running.policyd.socket_owner = restartable.socket_owner;
    running.policyd.socket_group = restartable.socket_group;
    running.policyd.socket_mode = restartable.socket_mode;
    running.policyd.threads = restartable.threads;
    running.policyd.workers = restartable.workers;
    log_info("configuration reloaded from " + options.config_path);
}

void serve_until_stopped(Running& r, Config& running, const PolicydOptions& options) {
    const sigset_t set = handled_signals();
    while (true) {
        int signal = 0;
        if (sigwait(&set, &signal) != 0) continue;
        if (signal == SIGHUP) {
            reload(r, running, options);
            continue;
        }
        log_info(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                 ": answering requests in flight");
        return;
    }
}

}  // namespace

ServerSettings server_settings(const PolicydConfig& c) {
    ServerSettings s;
    s.parse.max_line_length = c.max_line_length;
    s.parse.max_attributes = c.max_attributes;
    s.parse.max_request_bytes = c.max_request_bytes;
    s.idle_timeout = std::chrono::seconds(c.idle_timeout);
    s.request_timeout = std::chrono::seconds(c.request_timeout);
    s.max_connections = c.max_connections;
    return s;
}

LogOptions log_options(const Config& config, bool foreground) {
    LogOptions o;
    o.ident = "relay-policyd";
    o.to_stderr = foreground;
    o.facility = config.general.syslog_facility;
    o.min_level = parse_log_level(config.general.log_level).value_or(LogLevel::info);
    return o;
}

std::vector<std::string> keys_needing_restart(const Config& a, const Config& b) {
    std::vector<std::string> out;
    auto check = [&out](bool changed, const char* key) {
        if (changed) out.emplace_back(key);
    };
    check(a.policyd.listen != b.policyd.listen, "[policyd] listen");
    check(a.policyd.user != b.policyd.user, "[policyd] user");
    check(a.policyd.group != b.policyd.group, "[policyd] group");
    check(a.policyd.allow_root != b.policyd.allow_root, "[policyd] allow_root");
    check(a.policyd.socket_owner != b.policyd.socket_owner, "[policyd] socket_owner");
    check(a.policyd.socket_group != b.policyd.socket_group, "[policyd] socket_group");
    check(a.policyd.socket_mode != b.policyd.socket_mode, "[policyd] socket_mode");
    check(a.policyd.threads != b.policyd.threads, "[policyd] threads");
    check(a.policyd.workers != b.policyd.workers, "[policyd] workers");
    const DatabaseConfig& x = a.database;
    const DatabaseConfig& y = b.database;
    check(x.host != y.host || x.port != y.port || x.socket != y.socket || x.user != y.user ||
              x.password != y.password || x.name != y.name || x.connect_timeout != y.connect_timeout ||
              x.read_timeout != y.read_timeout || x.write_timeout != y.write_timeout || x.pool_size != y.pool_size,
          "[database]");
    check(a.general.node != b.general.node, "[general] node");
    check(a.rate_limits.time_zone != b.rate_limits.time_zone ||
              a.rate_limits.on_store_unavailable != b.rate_limits.on_store_unavailable ||
              a.rate_limits.unavailable_allowance != b.rate_limits.unavailable_allowance ||
              a.rate_limits.charge_timeout != b.rate_limits.charge_timeout,
          "[rate_limits]");
    check(a.abuse.enabled != b.abuse.enabled || a.abuse.max_networks != b.abuse.max_networks ||
              a.abuse.networks_window != b.abuse.networks_window ||
              a.abuse.max_rate_refusals != b.abuse.max_rate_refusals ||
              a.abuse.refusals_window != b.abuse.refusals_window ||
              a.abuse.suspend_seconds != b.abuse.suspend_seconds || a.abuse.notify_command != b.abuse.notify_command,
          "[abuse]");
    return out;
}

int run_policyd(const PolicydOptions& options, const Config& config, const StoreFactory& make_store) {
    Config running = config;
    set_reply_namer(reply_name);
    log_init(log_options(config, true));  // until detached, problems go to the terminal
    const sigset_t set = handled_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::vector<BoundSocket> sockets;
    Daemon daemon;
    std::unique_ptr<Observability> observability;  // after the fork (civetweb's threads), before the drop
    try {
        // Thousands of connections need thousands of descriptors; what cannot be had lowers the
        // connection cap (Server::start says so in the log).
        if (const std::string note = raise_descriptor_limit(); !note.empty()) log_info(note);
        sockets = bind_all(config.policyd);
        if (!options.foreground) {
            daemon = Daemon::detach("relay-policyd");
            log_init(log_options(config, false));
        }
        if (!options.pid_file.empty()) write_pid_file(options.pid_file);
        observability = std::make_unique<Observability>(config, "relay-policyd", config.metrics.policyd_listen,
                                                        "[metrics] policyd_listen");
    } catch (const std::exception& e) {
        log_error(e.what());
        daemon.fail(e.what());
        for (auto& s : sockets) release_listener(s);
        return 1;
    }

    int status = 0;
    {
        Running r;
        try {
            log_info(drop_privileges(config.policyd.user, config.policyd.group, config.policyd.allow_root,
                                     "[policyd]"));
            open_runtime(r, config, make_store);
            observability->start_heartbeat();
            r.tracker = std::make_unique<InstanceTracker>(config.policyd.instance_cache_size,
                                                          std::chrono::seconds(config.policyd.instance_ttl), r.clock);
            r.handler = std::make_unique<RequestHandler>(*r.runtime, *r.tracker);
            r.handler->set_debug(is_debug(config));
            r.server = std::make_unique<Server>(*r.handler, settings_of(config.policyd, config.rate_limits), config.policyd.threads,
                                                config.policyd.workers);
            const std::string where = join_descriptions(sockets);
            for (auto& s : sockets) r.server->add_listener(s);
            r.server->start();
            log_info(std::string("relay-policyd ") + RELAY_VERSION + " ready on " + where + "; " +
                     (r.runtime->has_rules() ? std::to_string(r.runtime->account_count()) + " accounts loaded"
                                             : std::string("no rules loaded yet (database unavailable)")) +
                     observability->describe());
            daemon.ready();
        } catch (const std::exception& e) {
            log_error(e.what());
            daemon.fail(e.what());
            status = 1;
        }
        if (status == 0) serve_until_stopped(r, running, options);
    }  // ~Running: stop the server (in-flight answers go out), the cache, the event writer
    for (auto& s : sockets) release_listener(s);
    remove_pid_file(options.pid_file);
    if (status == 0) log_info("relay-policyd stopped");
    return status;
}

}  // namespace relay::policyd
