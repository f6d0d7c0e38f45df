// One row of relay_events: the audit trail of decisions that are not plain "not ours".
#pragma once

#include <cstdint>
#include <string>

#include "core/base/clock.hpp"
#include "core/rules/decision.hpp"
#include "core/rules/model.hpp"
#include "core/rules/request.hpp"

namespace relay {

struct Event {
    TimePoint at{};
    std::string node;           // which daemon host wrote it ([general] node)
    Stage stage = Stage::rcpt;
    Id authority_id = 0;        // 0: no account
    std::string login;
    std::string client_address;
    std::string sender;
    std::uint32_t recipient_count = 0;
    std::uint64_t size = 0;
    Verdict verdict = Verdict::cont;
    Reason reason = Reason::ok;
    std::string queue_id;
    std::string detail;         // free text: which limit, which rule
    // Decisions this row stands for (relay_events.repeat_count): EventWriter folds repeated refusals of
    // one account, reason and stage into the first of them; the other fields are that first one's.
    std::uint32_t repeat_count = 1;
    // relay_events.event_key: 32 hex digits of a random 128-bit key, chosen when the row is queued
    // (EventWriter::submit), so that writing the row again (after a lost COMMIT, an interrupted replay of
    // the audit spool) stores it once. Empty: no key (NULL).
    std::string key;
};

// A fresh random event key: random_key() (core/base/random_key.hpp). Thread-safe.
std::string new_event_key();

Event make_event(const Request& request, const Decision& decision, TimePoint at, const std::string& node);

}  // namespace relay
