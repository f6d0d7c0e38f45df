// Fuzz target for parse_header_addresses() (From:/Sender: values are attacker-controlled).
//
// libFuzzer:  clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//               tests/fuzz/fuzz_header_address.cpp core/mail/header_address.cpp core/mail/address.cpp core/base/text.cpp \
//               -lidn2 -o fuzz_header_address && ./fuzz_header_address -max_total_time=60
// Replay without libFuzzer (any compiler): add -DRELAY_FUZZ_REPLAY and pass input files as arguments.
//
// Beyond "does not crash", it checks the parser's promises: a success names at least one mailbox or group,
// stays within the mailbox cap, and every addr-spec it returns parses again on its own to the same address;
// an error is a non-empty printable sentence.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/mail/header_address.hpp"

namespace {

void check(bool condition) {
    if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const relay::HeaderParseLimits limits;
    const relay::HeaderAddressResult r = relay::parse_header_addresses(input, limits);
    if (!r.ok) {
        check(!r.error.empty());
        for (char c : r.error) check(c >= 0x20 && c < 0x7f);
        check(r.mailboxes.empty());
        return 0;
    }
    check(r.error.empty());
    check(!r.mailboxes.empty() || r.groups > 0);
    check(r.mailboxes.size() <= limits.max_mailboxes);
    for (const auto& box : r.mailboxes) {
        const relay::HeaderAddressResult again = relay::parse_header_addresses(box.addr_spec, limits);
        check(again.ok && again.mailboxes.size() == 1);
        check(again.mailboxes[0].address.str() == box.address.str());
    }
    return 0;
}

#ifdef RELAY_FUZZ_REPLAY
#include <fstream>
#include <iostream>
#include <iterator>

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::cout << (argc - 1) << " inputs replayed\n";
    return 0;
}
#endif
