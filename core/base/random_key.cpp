#include "core/base/random_key.hpp"

#include <cstdint>
#include <random>

namespace relay {

std::string random_key() {
    // One 32-bit seed (std::random_device{}() alone) would give only 2^32 streams, and two threads
    // anywhere that drew the same seed would hand out the same keys: eight draws fill the seed.
    thread_local std::mt19937_64 generator = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();
    static const char digits[] = "0123456789ABCDEF";
    std::string key;
    key.reserve(32);
    for (int half = 0; half < 2; ++half) {
        std::uint64_t bits = generator();
        for (int i = 0; i < 16; ++i, bits >>= 4) key += digits[bits & 15];
    }
    return key;
}

}  // namespace relay
