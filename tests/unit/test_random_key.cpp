// random_key(): the shape HEX() gives a BINARY(16), and no repeats within a thread or across threads (each
// thread seeds its own generator; a shared or narrow seed would repeat another thread's keys).
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/base/random_key.hpp"

using namespace relay;

BOOST_AUTO_TEST_SUITE(random_key_suite)

BOOST_AUTO_TEST_CASE(a_key_is_32_upper_case_hex_digits) {
    const std::string key = random_key();
    BOOST_TEST(key.size() == 32u);
    BOOST_TEST(key.find_first_not_of("0123456789ABCDEF") == std::string::npos, key);
}

BOOST_AUTO_TEST_CASE(keys_of_several_threads_never_repeat) {
    constexpr int kThreads = 8, kPerThread = 2000;
    std::vector<std::vector<std::string>> drawn(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&drawn, t] {
            for (int i = 0; i < kPerThread; ++i) drawn[t].push_back(random_key());
        });
    for (auto& thread : threads) thread.join();
    std::set<std::string> all;
    for (const auto& keys : drawn) all.insert(keys.begin(), keys.end());
    BOOST_TEST(all.size() == static_cast<std::size_t>(kThreads * kPerThread));
}

BOOST_AUTO_TEST_SUITE_END()
