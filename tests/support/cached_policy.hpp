// A Decider over a cache and a Policy the test builds and refreshes itself: what core/runtime's Runtime
// does in the daemons, without its threads, its MariaDB rate gate or its life cycle.
#pragma once

#include "core/policy/decider.hpp"
#include "core/policy/policy.hpp"
#include "core/policy/snapshot_cache.hpp"

namespace relay {

class CachedPolicy final : public Decider {
public:
    CachedPolicy(SnapshotCache& cache, Policy& policy) : cache_(cache), policy_(policy) {}
    Decision evaluate(const Request& request) override { return policy_.evaluate(request); }
    Decision evaluate(const Request& request, const SnapshotPtr& pinned) override {
        return policy_.evaluate(request, pinned);
    }
    bool may_block(const Request& request) const override { return policy_.may_block(request); }
    std::optional<Decision> evaluate_without_waiting(const Request& request) override {
        return policy_.evaluate_without_waiting(request);
    }
    SnapshotPtr rules() const override { return cache_.current(); }

private:
    SnapshotCache& cache_;
    Policy& policy_;
};

}  // namespace relay
