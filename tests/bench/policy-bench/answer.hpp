// policy-bench: reading a policy server's answer ("action=...\n\n", SMTPD_POLICY_README) and sorting it
// into what Postfix would make of it. Header-only, pure functions: the unit tests use them directly.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace relay::bench {

// What the answer means for the message, as Postfix's smtpd acts on it.
enum class Outcome {
    accepted,  // DUNNO, OK, PREPEND, WARN, ... : the recipient / message goes on
    refused,   // REJECT, DEFER, DEFER_IF_PERMIT, 4NN, 5NN, ... : the recipient / message is refused
    held,      // HOLD: accepted into the hold queue (a rate limit may do this)
};

enum class AnswerScan { complete, need_more, malformed };

// Looks for one complete answer at the start of buf: lines up to an empty line. On complete, *action is
// the value of the first "action=" line (without the name) and *consumed the bytes of the answer.
// An answer without an action line, or bigger than max_bytes, is malformed.
inline AnswerScan scan_answer(std::string_view buf, std::string* action, std::size_t* consumed,
                              std::size_t max_bytes = 65536) {
    std::size_t pos = 0;
    bool have_action = false;
    while (true) {
        const std::size_t nl = buf.find('\n', pos);
        if (nl == std::string_view::npos) return buf.size() > max_bytes ? AnswerScan::malformed : AnswerScan::need_more;
        std::string_view line = buf.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (line.empty()) {
            if (!have_action) return AnswerScan::malformed;
            *consumed = pos;
            return AnswerScan::complete;
        }
        if (!have_action && line.substr(0, 7) == "action=") {
            action->assign(line.substr(7));
            have_action = true;
        }
        if (pos > max_bytes) return AnswerScan::malformed;
    }
}

inline std::string upper_word(std::string_view text) {
    std::string word;
    for (char c : text) {
        if (c == ' ' || c == '\t') break;
        word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return word;
}

inline bool is_smtp_code(std::string_view word) {
    return word.size() == 3 && (word[0] == '4' || word[0] == '5') && std::isdigit(static_cast<unsigned char>(word[1])) &&
           std::isdigit(static_cast<unsigned char>(word[2]));
}

// access(5) actions that refuse the recipient or the message (the ones Postfix turns into a 4xx/5xx).
inline Outcome classify_action(std::string_view action) {
    const std::string word = upper_word(action);
    if (is_smtp_code(word)) return Outcome::refused;
    if (word == "REJECT" || word == "DEFER" || word == "DEFER_IF_PERMIT" || word == "DEFER_IF_REJECT" ||
        word == "NEED_TO_REJECT" || word.rfind("REJECT_", 0) == 0 || word.rfind("DEFER_", 0) == 0)
        return Outcome::refused;
    if (word == "HOLD") return Outcome::held;
    return Outcome::accepted;
}

// The key under which an action is counted: the action word upper-cased, or for an SMTP reply the code
// plus its enhanced status ("550 5.7.1"), so that free texts with counts or addresses in them do not
// split the histogram.
inline std::string action_key(std::string_view action) {
    const std::string word = upper_word(action);
    if (word.empty()) return "(empty)";
    if (!is_smtp_code(word)) return word;
    std::string_view rest = action.substr(3);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::size_t end = rest.find(' ');
    const std::string_view enh = rest.substr(0, end);
    const bool dotted = enh.size() >= 5 && enh.size() <= 9 && (enh[0] == '4' || enh[0] == '5') && enh[1] == '.';
    return dotted ? word + " " + std::string(enh) : word;
}

}  // namespace relay::bench
