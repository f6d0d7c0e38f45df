#include "policyd/runtime.hpp"

#include "core/errors.hpp"
#include "core/log.hpp"
#include "policyd/action.hpp"

namespace relay {

struct PolicyDecider::Bundle {
    // cache before policy: the policy holds a reference to the cache and is destroyed first
    std::unique_ptr<SnapshotCache> cache;
    std::unique_ptr<Policy> policy;
    ~Bundle() {
        policy.reset();
        if (cache) cache->stop_polling();
    }
};

CacheOptions cache_options(const CacheConfig& config) {
    CacheOptions o;
    o.poll_interval = std::chrono::milliseconds(config.poll_interval_ms);
    o.max_stale = std::chrono::seconds(config.max_stale_seconds);
    return o;
}

PolicyDecider::PolicyDecider(Store& store, const Clock& clock, PolicyOptions options, EventWriter* events,
                             RateGate* limiter)
    : store_(store), clock_(clock), options_(std::move(options)), events_(events), limiter_(limiter) {}

PolicyDecider::~PolicyDecider() {
    std::atomic_store(&bundle_, std::shared_ptr<Bundle>());
}

std::shared_ptr<PolicyDecider::Bundle> PolicyDecider::current() const {
    return std::atomic_load(&bundle_);
}

bool PolicyDecider::install(const CacheConfig& config) {
    std::lock_guard<std::mutex> lock(install_mutex_);
    const bool first = current() == nullptr;
    auto bundle = std::make_shared<Bundle>();
    bundle->cache = std::make_unique<SnapshotCache>(store_, cache_options(config), clock_);
    bool answered = false;
    try {
        answered = bundle->cache->refresh();
    } catch (const StorePermanentError& e) {
        if (first) throw;
        log_error(std::string("cache settings not applied: ") + sanitize(e.what()));
        return false;
    }
    if (!answered && !first) {
        log_warning("cache settings not applied: the database did not answer; send SIGHUP again later");
        return false;
    }
    bundle->policy = std::make_unique<Policy>(*bundle->cache, clock_, options_, limiter_, events_);
    bundle->cache->start_polling();
    std::atomic_store(&bundle_, bundle);
    return answered;
}

Decision PolicyDecider::evaluate(const Request& request) {
    const auto bundle = current();
    if (!bundle) return internal_error_decision();
    return bundle->policy->evaluate(request);
}

std::optional<Decision> PolicyDecider::evaluate_without_waiting(const Request& request) {
    const auto bundle = current();
    if (!bundle) return internal_error_decision();
    return bundle->policy->evaluate_without_waiting(request);
}

bool PolicyDecider::may_block(const Request& request) const {
    return Policy::may_block(request, limiter_);
}

bool PolicyDecider::has_rules() const {
    const auto bundle = current();
    return bundle && bundle->cache->current() != nullptr;
}

std::size_t PolicyDecider::account_count() const {
    const auto bundle = current();
    if (!bundle) return 0;
    const auto snapshot = bundle->cache->current();
    return snapshot ? snapshot->account_count() : 0;
}

}  // namespace relay
