// policy-bench: a latency histogram with constant memory and ~1.6 % resolution (log-linear buckets,
// as HdrHistogram does), so a long run at 100,000 requests/s costs no more memory than a short one.
// Header-only so that the unit tests can use it without linking the tool.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace relay::bench {

class LatencyHistogram {
public:
    // Values below 2 * kSub nanoseconds are exact; above, each power of two is split into kSub buckets.
    static constexpr int kSubBits = 6;
    static constexpr std::uint64_t kSub = 1ULL << kSubBits;       // 64 buckets per power of two
    static constexpr int kMaxExp = 40;                            // 2^46 ns (~19 hours) and above: last bucket
    static constexpr std::size_t kBuckets = static_cast<std::size_t>(2 * kSub + kMaxExp * kSub);

    static std::size_t bucket_of(std::uint64_t ns) {
        if (ns < 2 * kSub) return static_cast<std::size_t>(ns);
        const int top = 63 - __builtin_clzll(ns);                 // >= kSubBits + 1
        const int shift = top - kSubBits;                         // >= 1
        if (shift > kMaxExp) return kBuckets - 1;
        const std::uint64_t sub = (ns >> shift) - kSub;           // 0 .. kSub-1
        return static_cast<std::size_t>(kSub + shift * kSub + sub);
    }

    // The middle of a bucket: what a percentile falling into it reports.
    static std::uint64_t value_of(std::size_t bucket) {
        if (bucket < 2 * kSub) return bucket;
        const std::uint64_t shift = (bucket - kSub) / kSub;
        const std::uint64_t sub = (bucket - kSub) % kSub;
        const std::uint64_t low = (kSub + sub) << shift;
        return low + ((1ULL << shift) >> 1);
    }

    void record(std::uint64_t ns) {
        ++counts_[bucket_of(ns)];
        ++total_;
        sum_ns_ += ns;
        max_ns_ = std::max(max_ns_, ns);
        min_ns_ = std::min(min_ns_, ns);
    }

    void merge(const LatencyHistogram& other) {
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
        sum_ns_ += other.sum_ns_;
        max_ns_ = std::max(max_ns_, other.max_ns_);
        min_ns_ = std::min(min_ns_, other.min_ns_);
    }

    // The smallest recorded value v such that at least q (0..1) of all values are <= v (bucket precision;
    // the maximum is exact). 0 when nothing was recorded.
    std::uint64_t percentile(double q) const {
        if (total_ == 0) return 0;
        q = std::clamp(q, 0.0, 1.0);
        std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(value_of(i), max_ns_);
        }
        return max_ns_;
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return total_ ? max_ns_ : 0; }
    std::uint64_t min() const { return total_ ? min_ns_ : 0; }
    double mean() const { return total_ ? static_cast<double>(sum_ns_) / static_cast<double>(total_) : 0.0; }

private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t sum_ns_ = 0;
    std::uint64_t max_ns_ = 0;
    std::uint64_t min_ns_ = UINT64_MAX;
};

}  // namespace relay::bench
