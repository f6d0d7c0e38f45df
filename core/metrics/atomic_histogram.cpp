#include "core/metrics/atomic_histogram.hpp"

#include <algorithm>
#include <limits>

namespace relay::metrics {

AtomicHistogram::AtomicHistogram(prometheus::ClientMetric::Label label, const std::vector<double>& bounds)
    : label_(std::move(label)), bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void AtomicHistogram::observe(double value) {
    const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    double sum = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
    }
}

// A scrape reads the buckets one after the other while requests go on: the cumulative counts are made
// monotonic, and the count is their total, so the exposition is always self-consistent.
prometheus::ClientMetric AtomicHistogram::collect() const {
    prometheus::ClientMetric metric;
    if (!label_.name.empty()) metric.label.push_back(label_);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        prometheus::ClientMetric::Bucket bucket;
        bucket.cumulative_count = cumulative;
        bucket.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
        metric.histogram.bucket.push_back(bucket);
    }
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = sum_.load(std::memory_order_relaxed);
    return metric;
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<prometheus::ClientMetric::Label> constant, std::string label_name,
                                 const std::vector<std::string>& label_values, const std::vector<double>& bounds)
    : name_(std::move(name)), help_(std::move(help)), constant_(std::move(constant)) {
    if (label_values.empty()) histograms_.push_back(std::make_unique<AtomicHistogram>(
                                  prometheus::ClientMetric::Label{}, bounds));
    for (const auto& value : label_values)
        histograms_.push_back(std::make_unique<AtomicHistogram>(
            prometheus::ClientMetric::Label{label_name, value}, bounds));
}

std::vector<prometheus::MetricFamily> HistogramFamily::Collect() const {
    prometheus::MetricFamily family{name_, help_, prometheus::MetricType::Histogram, {}};
    for (const auto& histogram : histograms_) {
        auto metric = histogram->collect();
        metric.label.insert(metric.label.begin(), constant_.begin(), constant_.end());
        family.metric.push_back(std::move(metric));
    }
    return {family};
}

}  // namespace relay::metrics
