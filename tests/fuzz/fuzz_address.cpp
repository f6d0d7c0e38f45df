// libFuzzer target for the address and network parsers (ctest `fuzz` builds and runs it: tests/fuzz/run.sh).
//
// Build and run (from the repository root; needs clang and libidn2-dev):
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_address.cpp \
//       core/mail/address.cpp core/mail/cidr.cpp core/base/text.cpp -lidn2 -o build-fuzz-address
//   ./build-fuzz-address -max_total_time=60 -max_len=600
//
// Besides "no crash, no sanitizer report" it checks the properties the engine relies on: a parsed address
// is printable-safe, within the length limits, and parses again to itself (normalisation is idempotent,
// so the same mailbox can never compare unequal to itself or equal to something else by re-parsing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/mail/address.hpp"
#include "core/mail/cidr.hpp"

namespace {

void check(bool condition) {
    if (!condition) std::abort();
}

void check_address(std::string_view input) {
    const relay::AddressResult r = relay::parse_address(input);
    check(!(r.ok && r.null_sender));
    if (!r.ok) {
        check(!r.error.empty());
        return;
    }
    const std::string text = r.address.str();
    check(text.size() <= 254 && !r.address.domain.empty() && !r.address.local_part.empty());
    for (char c : text) check(c != '\r' && c != '\n' && c != '\0');
    const relay::AddressResult again = relay::parse_address(text);
    check(again.ok && again.address.str() == text);
    check(r.address.base_local_part().size() <= r.address.local_part.size());
    // Routing is a property of the local part (kept by normalisation) or of a source route (dropped).
    const bool operators = r.address.local_part.find_first_of("%!@") != std::string::npos;
    check(!operators || r.routed());
    check(again.routed() == operators);
    check(r.routing.find('%') == std::string::npos);
}

// A canonical login is the input itself up to ASCII case (or its U-label domain), and its key is canonical.
void check_login(std::string_view input) {
    const auto key = relay::canonical_login(input);
    if (!key) return;
    const relay::AddressResult r = relay::parse_address(input);
    check(r.ok && r.address.str() == *key);
    check(relay::canonical_login(*key) == key);
    check(!input.empty() && input.front() != '<' && input.front() != ' ' && input.back() != ' ' &&
          input.front() != '@');
}

void check_networks(std::string_view input) {
    if (auto ip = relay::IpAddress::parse(input)) {
        const auto back = relay::IpAddress::parse(ip->str());
        check(back && *back == *ip);
    }
    if (auto net = relay::Cidr::parse(input)) {
        const auto back = relay::Cidr::parse(net->str());
        check(back && back->str() == net->str() && back->contains(net->network));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_address(input);
    check_login(input);
    if (auto p = relay::parse_sender_pattern(input)) {
        const auto again = relay::parse_sender_pattern(p->str());
        check(again && again->str() == p->str());
    }
    if (auto d = relay::normalize_domain(input)) check(relay::normalize_domain(*d) == d);
    check_networks(input);
    return 0;
}
