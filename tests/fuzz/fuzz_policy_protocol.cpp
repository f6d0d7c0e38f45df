// libFuzzer target for the Postfix policy protocol parser, the attribute mapping and the answer
// formatting of relay-policyd (ctest `fuzz` builds and runs it: tests/fuzz/run.sh).
//
// Build and run (from the repository root; needs clang):
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_policy_protocol.cpp \
//       policyd/protocol.cpp policyd/action.cpp core/rules/decision.cpp core/rules/request.cpp -o build-fuzz-policy
//   ./build-fuzz-policy -max_total_time=60 -max_len=2048
//
// Besides "no crash, no sanitizer report" it checks what the server relies on: a complete request ends
// with its empty line inside the input and within the caps; every shorter prefix of it still needs more
// bytes (a read may end anywhere, and must never be judged malformed or complete too early); a malformed
// result has a reason; the answer built from anything is exactly one "action=" line and an empty line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/rules/decision.hpp"
#include "policyd/action.hpp"
#include "policyd/protocol.hpp"

namespace {

void check(bool condition) {
    if (!condition) std::abort();
}

void check_answer(const relay::Decision& d) {
    const std::string answer = relay::policyd::policy_answer(d);
    check(answer.rfind("action=", 0) == 0);
    check(answer.size() >= 9 && answer.compare(answer.size() - 2, 2, "\n\n") == 0);
    check(answer.find('\n') == answer.size() - 2);  // one line, then the empty line
    check(answer.find('\r') == std::string::npos && answer.find('\0') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    relay::policyd::ParseLimits limits;
    limits.max_line_length = 256;
    limits.max_attributes = 16;
    limits.max_request_bytes = 1024;

    const relay::policyd::ParseResult r = relay::policyd::parse_policy_request(input, limits);
    switch (r.status) {
        case relay::policyd::ParseStatus::malformed:
            check(!r.error.empty());
            break;
        case relay::policyd::ParseStatus::need_more:
            check(input.size() <= limits.max_request_bytes);
            break;
        case relay::policyd::ParseStatus::complete: {
            check(r.consumed >= 2 && r.consumed <= input.size() && r.consumed <= limits.max_request_bytes);
            check(input[r.consumed - 1] == '\n');
            check(r.attributes.request == "smtpd_access_policy");
            for (std::size_t cut : {r.consumed - 1, r.consumed / 2, std::size_t(1)}) {
                const auto prefix = relay::policyd::parse_policy_request(input.substr(0, cut), limits);
                check(prefix.status == relay::policyd::ParseStatus::need_more);
            }
            const relay::policyd::MapResult m = relay::policyd::map_policy_request(r.attributes);
            if (m.status != relay::policyd::MapStatus::ok) check(!m.error.empty());
            break;
        }
    }

    // The answer side, with the fuzz input as the decision's text and code.
    relay::Decision d;
    d.text = std::string(input.substr(0, 600));
    d.smtp_code = size > 1 ? (data[0] * 256 + data[1]) % 700 : 0;
    d.enhanced = size > 2 ? std::string(input.substr(2, 12)) : std::string();
    for (auto v : {relay::Verdict::cont, relay::Verdict::permit, relay::Verdict::reject, relay::Verdict::defer,
                   relay::Verdict::hold}) {
        d.verdict = v;
        d.reason = size % 2 ? relay::Reason::rules_unavailable : relay::Reason::rate_limited;
        check_answer(d);
    }
    return 0;
}
