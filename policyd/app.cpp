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
    r.runtime->start("relay-policyd");
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
    // What SIGHUP applies and what needs a restart both come from the key table (core/config/config.cpp).
    for (const std::string& key : keys_needing_restart(running, fresh, DaemonKind::policyd))
        log_warning("SIGHUP: " + key + " changed; it takes effect when relay-policyd is restarted");
    const CacheConfig cache_before = running.cache;
    apply_reloadable_keys(running, fresh, DaemonKind::policyd);
    log_init(log_options(running, options.foreground));
    r.handler->set_debug(is_debug(running));
    r.server->update_settings(settings_of(running.policyd, running.rate_limits));
    r.tracker->set_limits(running.policyd.instance_cache_size, std::chrono::seconds(running.policyd.instance_ttl));
    const bool cache_changed = running.cache.poll_interval_ms != cache_before.poll_interval_ms ||
                               running.cache.max_stale_seconds != cache_before.max_stale_seconds;
    if (cache_changed && !r.runtime->reload_cache(running.cache)) running.cache = cache_before;
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
    o.refusal_summary = std::chrono::seconds(config.general.refusal_summary);
    return o;
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
            observability->start_heartbeat(r.runtime->lease_daemon_count());
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
                     "; " + std::to_string(r.server->io_threads()) + " I/O thread" +
                     (r.server->io_threads() == 1 ? "" : "s") + (config.policyd.threads == 0 ? " (threads = auto)" : "") +
                     observability->describe());
            daemon.ready();
        } catch (const std::exception& e) {
            log_error(e.what());
            daemon.fail(e.what());
            status = 1;
        }
        if (status == 0) serve_until_stopped(r, running, options);
    }  // ~Running: stop the server (in-flight answers go out), the cache, the event writer
    log_refusal_summaries_now();  // [general] refusal_summary: nothing counted goes unsaid
    for (auto& s : sockets) release_listener(s);
    remove_pid_file(options.pid_file);
    if (status == 0) log_info("relay-policyd stopped");
    return status;
}

}  // namespace relay::policyd
