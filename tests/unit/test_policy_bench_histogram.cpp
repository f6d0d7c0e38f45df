#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "tests/bench/policy-bench/histogram.hpp"

using namespace relay::bench;

BOOST_AUTO_TEST_SUITE(policy_bench_histogram)

BOOST_AUTO_TEST_CASE(bucket_value_round_trip_within_resolution) {
    // Every value maps to a bucket whose reported value is within 1/64 (the sub-bucket resolution).
    const std::uint64_t values[] = {0, 1, 127, 128, 129, 255, 256, 1000, 4095, 4096, 123456, 999999999,
                                    1ULL << 40, (1ULL << 46) - 1};
    for (std::uint64_t v : values) {
        const std::uint64_t got = LatencyHistogram::value_of(LatencyHistogram::bucket_of(v));
        const double err = v ? static_cast<double>(got > v ? got - v : v - got) / static_cast<double>(v) : 0.0;
        BOOST_CHECK_MESSAGE(err <= 1.0 / 64, "case " << v << ": got " << got << ", want within 1/64");
    }
}

BOOST_AUTO_TEST_CASE(buckets_are_monotonic) {
    std::size_t last = 0;
    std::uint64_t first_bad = 0;
    bool bad = false;
    for (std::uint64_t v = 0; v < 1000000 && !bad; v += 7) {
        const std::size_t b = LatencyHistogram::bucket_of(v);
        bad = b < last;
        first_bad = v;
        last = b;
    }
    BOOST_CHECK_MESSAGE(!bad, "case " << first_bad << ": bucket smaller than the one of a smaller value");
    BOOST_CHECK(LatencyHistogram::bucket_of(UINT64_MAX) == LatencyHistogram::kBuckets - 1);
}

BOOST_AUTO_TEST_CASE(percentiles_table) {
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1 µs .. 1 ms
    struct Case {
        const char* name;
        double q;
        std::uint64_t want;
    } const cases[] = {
        {"p50", 0.50, 500000}, {"p90", 0.90, 900000}, {"p99", 0.99, 990000},
        {"p99.9", 0.999, 999000}, {"p100", 1.0, 1000000}, {"p0", 0.0, 1000},
    };
    for (const auto& c : cases) {
        const std::uint64_t got = h.percentile(c.q);
        const double err = static_cast<double>(got > c.want ? got - c.want : c.want - got) / static_cast<double>(c.want);
        BOOST_CHECK_MESSAGE(err <= 0.02, "case " << c.name << ": got " << got << ", want " << c.want << " (±2 %)");
    }
    BOOST_CHECK_EQUAL(h.count(), 1000u);
    BOOST_CHECK_EQUAL(h.max(), 1000000u);
    BOOST_CHECK_EQUAL(h.min(), 1000u);
}

BOOST_AUTO_TEST_CASE(merge_adds_counts_and_extremes) {
    LatencyHistogram a;
    LatencyHistogram b;
    a.record(10);
    b.record(5000);
    b.record(7);
    a.merge(b);
    BOOST_CHECK_EQUAL(a.count(), 3u);
    BOOST_CHECK_EQUAL(a.min(), 7u);
    BOOST_CHECK_EQUAL(a.max(), 5000u);
    BOOST_CHECK_EQUAL(a.percentile(1.0), 5000u);
}

BOOST_AUTO_TEST_CASE(empty_histogram_reports_zero) {
    const LatencyHistogram h;
    BOOST_CHECK_EQUAL(h.percentile(0.5), 0u);
    BOOST_CHECK_EQUAL(h.max(), 0u);
    BOOST_CHECK_EQUAL(h.min(), 0u);
    BOOST_CHECK_EQUAL(h.mean(), 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
