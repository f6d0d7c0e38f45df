// relayctl prune [--older-than 90d]: keeps the audit trail and the rate-limit bookkeeping in bounds. The
// deleting is in core/admin/admin_store_prune.cpp (small batches that never hold a lock the daemons wait on);
// contrib/systemd/relay-authority-prune.timer runs it daily.
#include <iostream>

#include "core/config/config_checks.hpp"
#include "core/ratelimit/abuse.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {

int cmd_prune(Context& ctx, const Args& args) {
    Command cmd("prune [--older-than AGE] [--batch N] [--pause MS] [--dry-run]",
                "Deletes audit events (relay_events) older than AGE, abuse-detection rows (abuse_client_networks, "
                "abuse_rate_refusals) older than AGE, rate counters (rate_counters) idle since then whose "
                "allowance is complete again, and rate-limit charge keys (rate_charge_keys) older than an hour "
                "(the daemons delete those too; a key is only needed while its charge may be retried). AGE is 90d, 12w or 2160h, at least 1d; default [relayctl] retention "
                "(90d). Rows go in batches of N (default [relayctl] prune_batch_size, 1000), each its own short "
                "statement in primary-key order, with a pause of MS milliseconds between two batches (default "
                "[relayctl] prune_pause, 50): the daemons keep answering while it runs.");
    cmd.options.add_options()("older-than", po::value<std::string>(), "age of the rows to delete (90d, 12w, 2160h)")(
        "batch", po::value<unsigned>(), "rows per DELETE (1 - 100000; default [relayctl] prune_batch_size)")(
        "pause", po::value<unsigned>(), "milliseconds between two batches (0 - 60000; default [relayctl] prune_pause)")(
        "dry-run", "count what would be deleted; delete nothing");
    auto vm = cmd.parse(ctx, args);
    const std::string age = vm.count("older-than") ? vm["older-than"].as<std::string>() : ctx.config().relayctl.retention;
    if (auto problem = check_retention(age); !problem.empty())
        throw UsageError("--older-than: '" + printable(age, 40) + "': " + problem);
    const RelayctlConfig& rc = ctx.config().relayctl;
    const unsigned batch = vm.count("batch") ? vm["batch"].as<unsigned>() : rc.prune_batch_size;
    if (batch == 0 || batch > 100000) throw UsageError("--batch: want 1 to 100000 rows");
    const unsigned pause_ms = vm.count("pause") ? vm["pause"].as<unsigned>() : rc.prune_pause_ms;
    if (pause_ms > 60000) throw UsageError("--pause: want 0 to 60000 milliseconds");
    const bool dry_run = vm.count("dry-run") > 0;
    AdminStore& store = ctx.store();
    const std::int64_t now = store.now();
    const std::int64_t cutoff = now - static_cast<std::int64_t>(parse_age_seconds(age));
    const std::int64_t keys_cutoff =
        now - std::chrono::duration_cast<std::chrono::seconds>(kChargeKeyLifetime).count();
    const AdminStore::PruneCounts n =
        store.prune(cutoff, keys_cutoff, batch, std::chrono::milliseconds(pause_ms), dry_run);
    if (ctx.json) {
        emit(Json::object().set("dry_run", dry_run).set("older_than", age).set("cutoff", format_time_iso(cutoff))
                 .set("relay_events", n.events).set("abuse_client_networks", n.client_networks)
                 .set("abuse_rate_refusals", n.rate_refusals).set("rate_counters", n.rate_counters)
                 .set("rate_charge_keys", n.charge_keys).set("charge_keys_cutoff", format_time_iso(keys_cutoff))
                 .set("batches", n.batches).set("batch_size", static_cast<std::int64_t>(batch))
                 .set("pause_ms", static_cast<std::int64_t>(pause_ms)));
        return kExitOk;
    }
    std::cout << (dry_run ? "would delete" : "deleted") << " rows older than " << format_time(cutoff) << " (" << age
              << "):\n";
    print_fields(std::cout, {{"  relay_events", std::to_string(n.events)},
                             {"  abuse_client_networks", std::to_string(n.client_networks)},
                             {"  abuse_rate_refusals", std::to_string(n.rate_refusals)},
                             {"  rate_counters (idle)", std::to_string(n.rate_counters)},
                             {"  rate_charge_keys (over 1 h)", std::to_string(n.charge_keys)}});
    if (!dry_run)
        std::cout << "in " << n.batches << " batch(es) of at most " << batch << " rows, " << pause_ms
                  << " ms apart\n";
    return kExitOk;
}

}  // namespace relay::ctl
