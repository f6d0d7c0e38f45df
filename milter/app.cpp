#include "milter/app.hpp"

#include <pthread.h>
#include <signal.h>

#include <exception>
#include <iostream>
#include <stdexcept>

#include "core/base/clock.hpp"
#include "core/base/errors.hpp"
#include "core/base/process.hpp"
#include "core/runtime/observability.hpp"
#include "core/runtime/runtime.hpp"
#include "core/rules/sent_reply.hpp"
#include "milter/options.hpp"
#include "milter/reply.hpp"
#include "milter/session.hpp"
#include "milter/socket_access.hpp"

namespace relay::milter {
namespace {

void block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

LogOptions log_options(const Config& config, bool foreground) {
    LogOptions o;
    o.ident = "relay-milter";
    o.to_stderr = foreground;
    o.facility = config.general.syslog_facility;
    if (auto level = parse_log_level(config.general.log_level)) o.min_level = *level;
    o.refusal_summary = std::chrono::seconds(config.general.refusal_summary);
    return o;
}

int run_milter(const RunOptions& options, const Config& config, const StoreFactory& make_store, Driver& driver) {
    log_init(log_options(config, options.foreground));
    Daemon detached;
    MilterSocket socket;  // outlives the driver's listening socket: see StagedSocket
    try {
        const Options milter_options = options_from_config(config);
        set_reply_namer([milter_options](const Decision& d) { return reply_name(d, milter_options); });
        RealClock clock;
        // Store, audit trail, rate limits, rules: the same assembly as relay-policyd's (core/runtime).
        // Schema and first load before binding: permanent trouble (credentials, schema) stops the start.
        Runtime runtime(config, make_store, clock);
        runtime.open();
        Filter filter(runtime, clock, milter_options, &runtime.events());

        // A unix socket is bound by libmilter in a private directory and moved into place with its owner
        // and mode (milter/socket_access.hpp).
        socket = prepare_socket(config.milter.listen);
        try {
            driver.open(filter, socket.libmilter_listen, config.milter.timeout);
        } catch (const std::exception& e) {
            if (socket.libmilter_listen == config.milter.listen) throw;
            // libmilter's message names the private directory: say which listen it was for
            throw std::runtime_error("[milter] listen " + config.milter.listen + ": " + e.what());
        }
        hand_over_socket(socket, config.milter);
        if (!options.foreground) detached = Daemon::detach("relay-milter", true);
        if (!options.pid_file.empty()) write_pid_file(options.pid_file);
        Observability observability(config, "relay-milter", config.metrics.milter_listen, "[metrics] milter_listen");
        const std::string identity =
            drop_privileges(config.milter.user, config.milter.group, config.milter.allow_root, "[milter]");

        // libmilter's signal thread sigwait()s for SIGTERM/SIGHUP/SIGINT; every other thread must have them
        // blocked, or the default action (terminate, no clean stop) hits whichever thread gets them. Our
        // threads start before smfi_main, so block here and let them inherit the mask.
        block_stop_signals();
        runtime.start("relay-milter");
        observability.start_heartbeat(runtime.lease_daemon_count());
        const SnapshotPtr rules = runtime.rules();
        log_info("relay-milter " RELAY_VERSION " listening on " + config.milter.listen + ", " + identity + ", " +
                 (rules ? std::to_string(rules->account_count()) + " accounts loaded"
                        : std::string("no rules loaded yet")) +
                 ", header_from_action=" + to_string(milter_options.header_from) + observability.describe());
        detached.ready();
        const int status = driver.run();
        log_info("relay-milter stopping");
        log_refusal_summaries_now();
        runtime.stop();
        release_socket(socket);
        if (!options.pid_file.empty()) remove_pid_file(options.pid_file);
        return status;
    } catch (const std::exception& e) {
        release_socket(socket);
        log_error(std::string("relay-milter cannot start: ") + e.what());
        // Before detaching, syslog may be all a daemon-mode start has: say it on stderr too.
        if (!options.foreground && !detached.active()) std::cerr << "relay-milter: " << e.what() << "\n";
        detached.fail(e.what());
        return 1;
    }
}

}  // namespace relay::milter
