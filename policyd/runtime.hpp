// The engine as relay-policyd runs it: a snapshot cache over the store and a Policy over the cache,
// held together as one bundle. SIGHUP may change [cache] settings; a new bundle is then built, loaded
// and swapped in, while requests in flight finish with the bundle they started with.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/snapshot_cache.hpp"
#include "core/store.hpp"
#include "policyd/handler.hpp"

namespace relay {

class EventWriter;

CacheOptions cache_options(const CacheConfig& config);

class PolicyDecider final : public Decider {
public:
    // limiter: the rate-limit gate handed to every Policy built here (may be null: no rate limits).
    PolicyDecider(Store& store, const Clock& clock, PolicyOptions options, EventWriter* events,
                  RateGate* limiter = nullptr);
    ~PolicyDecider() override;

    // Builds a cache with these settings, loads it once and starts its polling.
    // First call: installs it even if the database did not answer (requests get a temporary failure
    // until it does). Later calls (SIGHUP): installs it only if the database answered, else keeps the
    // running one and returns false. StorePermanentError propagates (first call) or is logged (later).
    bool install(const CacheConfig& config);

    Decision evaluate(const Request& request) override;
    bool may_block(const Request& request) const override;
    std::optional<Decision> evaluate_without_waiting(const Request& request) override;

    // Whether the running cache currently has usable rules (for the start-up message).
    bool has_rules() const;
    std::size_t account_count() const;

private:
    struct Bundle;
    std::shared_ptr<Bundle> current() const;

    Store& store_;
    const Clock& clock_;
    PolicyOptions options_;
    EventWriter* events_;
    RateGate* limiter_;
    std::mutex install_mutex_;
    std::shared_ptr<Bundle> bundle_;
};

}  // namespace relay
