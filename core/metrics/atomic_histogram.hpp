// A histogram whose Observe() is lock-free (relaxed atomics only), exposed through prometheus-cpp's own
// data model and serializer. prometheus-cpp 1.0's Histogram takes a mutex on every Observe(), and the
// decision latency is observed on every request of every worker thread: a lock there is what the
// metrics must not add to the request path. The text format is still written by prometheus-cpp.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace relay::metrics {

class AtomicHistogram {
public:
    AtomicHistogram(prometheus::ClientMetric::Label label, const std::vector<double>& bounds);
    void observe(double value);
    prometheus::ClientMetric collect() const;

private:
    prometheus::ClientMetric::Label label_;
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
    std::atomic<std::uint64_t> count_{0};
    std::atomic<double> sum_{0.0};
};

// One histogram family: a fixed set of histograms, one per value of one label, created at start.
class HistogramFamily final : public prometheus::Collectable {
public:
    HistogramFamily(std::string name, std::string help, std::vector<prometheus::ClientMetric::Label> constant,
                    std::string label_name, const std::vector<std::string>& label_values,
                    const std::vector<double>& bounds);
    // index: position of the label value given at construction; out of range is ignored.
    void observe(std::size_t index, double value) {
        if (index < histograms_.size()) histograms_[index]->observe(value);
    }
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::string name_, help_;
    std::vector<prometheus::ClientMetric::Label> constant_;
    std::vector<std::unique_ptr<AtomicHistogram>> histograms_;
};

}  // namespace relay::metrics
