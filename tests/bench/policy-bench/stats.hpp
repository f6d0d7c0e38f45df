// policy-bench: what a run measured. Each I/O thread fills its own RunStats; they are merged at the end.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/bench/policy-bench/generator.hpp"
#include "tests/bench/policy-bench/histogram.hpp"

namespace relay::bench {

struct ErrorCounts {
    std::uint64_t connect = 0;   // connect refused / failed / timed out
    std::uint64_t closed = 0;    // the server closed the connection while we waited for an answer
    std::uint64_t io = 0;        // read or write failed
    std::uint64_t timeout = 0;   // no complete answer within --timeout
    std::uint64_t protocol = 0;  // an answer without action=, or bytes nobody asked for
    std::uint64_t total() const { return connect + closed + io + timeout + protocol; }
};

struct MessageCounts {
    std::uint64_t finished = 0;         // messages whose last request was answered
    std::uint64_t delivered = 0;        // END-OF-MESSAGE asked and not refused
    std::uint64_t limited = 0;          // some answer refused or held it
    std::uint64_t refused_at_rcpt = 0;
    std::uint64_t refused_at_eom = 0;
    std::uint64_t held = 0;
    std::uint64_t first_limited = 0;    // smallest sequence number of a limited message, 0: none
    std::uint64_t last_unlimited = 0;   // largest sequence number of a message nothing limited, 0: none
};

class RunStats {
public:
    LatencyHistogram all;
    std::map<std::string, std::uint64_t> actions;
    ErrorCounts errors;
    std::uint64_t connects = 0;    // connections established
    std::uint64_t reconnects = 0;  // connection attempts after an error
    MessageCounts messages;

    LatencyHistogram& state(const std::string& name) {
        for (auto& [n, h] : by_state_)
            if (n == name) return *h;
        by_state_.emplace_back(name, std::make_unique<LatencyHistogram>());
        return *by_state_.back().second;
    }
    const std::vector<std::pair<std::string, std::unique_ptr<LatencyHistogram>>>& by_state() const {
        return by_state_;
    }

    void add_message(const MessageResult& r) {
        MessageCounts& m = messages;
        ++m.finished;
        if (r.delivered()) ++m.delivered;
        if (r.refused_at_rcpt) ++m.refused_at_rcpt;
        if (r.refused_at_eom) ++m.refused_at_eom;
        if (r.held) ++m.held;
        if (r.limited()) {
            ++m.limited;
            if (m.first_limited == 0 || r.seq < m.first_limited) m.first_limited = r.seq;
        } else if (r.seq > m.last_unlimited) {
            m.last_unlimited = r.seq;
        }
    }

    void merge(const RunStats& o) {
        all.merge(o.all);
        for (const auto& [name, h] : o.by_state_) state(name).merge(*h);
        for (const auto& [k, v] : o.actions) actions[k] += v;
        errors.connect += o.errors.connect;
        errors.closed += o.errors.closed;
        errors.io += o.errors.io;
        errors.timeout += o.errors.timeout;
        errors.protocol += o.errors.protocol;
        connects += o.connects;
        reconnects += o.reconnects;
        MessageCounts& m = messages;
        const MessageCounts& x = o.messages;
        m.finished += x.finished;
        m.delivered += x.delivered;
        m.limited += x.limited;
        m.refused_at_rcpt += x.refused_at_rcpt;
        m.refused_at_eom += x.refused_at_eom;
        m.held += x.held;
        if (x.first_limited && (!m.first_limited || x.first_limited < m.first_limited)) m.first_limited = x.first_limited;
        if (x.last_unlimited > m.last_unlimited) m.last_unlimited = x.last_unlimited;
    }

private:
    std::vector<std::pair<std::string, std::unique_ptr<LatencyHistogram>>> by_state_;
};

// A finished client run, for the report.
struct Report {
    std::string target;
    std::string mix;
    unsigned connections = 0;
    unsigned threads = 0;
    std::uint32_t accounts = 0;
    double warmup_s = 0;
    double measured_s = 0;  // the window the rates are computed over
    double rate = 0;        // --rate offered, 0: unpaced
    long fd_limit = 0;
    RunStats stats;
};

}  // namespace relay::bench
