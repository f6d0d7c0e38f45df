#include "tests/bench/policy-bench/report.hpp"

#include <cstdio>
#include <sstream>
#include <string>

namespace relay::bench {

namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

double rate(std::uint64_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; }

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    return buf;
}

std::string json_latency(const LatencyHistogram& h) {
    std::ostringstream o;
    o << "{\"count\":" << h.count() << ",\"mean\":" << fixed(h.mean() / 1000.0, 1)
      << ",\"p50\":" << fixed(us(h.percentile(0.50)), 1) << ",\"p90\":" << fixed(us(h.percentile(0.90)), 1)
      << ",\"p99\":" << fixed(us(h.percentile(0.99)), 1) << ",\"p99_9\":" << fixed(us(h.percentile(0.999)), 1)
      << ",\"max\":" << fixed(us(h.max()), 1) << "}";
    return o.str();
}

void print_json(const Report& r) {
    const RunStats& s = r.stats;
    std::ostringstream o;
    o << "{\"target\":" << json_string(r.target) << ",\"mix\":" << json_string(r.mix)
      << ",\"connections\":" << r.connections << ",\"threads\":" << r.threads << ",\"accounts\":" << r.accounts
      << ",\"offered_rate\":" << fixed(r.rate, 1) << ",\"warmup_s\":" << fixed(r.warmup_s, 3) << ",\"measured_s\":" << fixed(r.measured_s, 3)
      << ",\"requests\":" << s.all.count() << ",\"requests_per_s\":" << fixed(rate(s.all.count(), r.measured_s), 1)
      << ",\"messages_per_s\":" << fixed(rate(s.messages.finished, r.measured_s), 1);
    o << ",\"latency_us\":{\"all\":" << json_latency(s.all) << ",\"by_state\":{";
    bool first = true;
    for (const auto& [name, h] : s.by_state()) {
        o << (first ? "" : ",") << json_string(name) << ":" << json_latency(*h);
        first = false;
    }
    o << "}},\"actions\":{";
    first = true;
    for (const auto& [key, n] : s.actions) {
        o << (first ? "" : ",") << json_string(key) << ":" << n;
        first = false;
    }
    const MessageCounts& m = s.messages;
    o << "},\"messages\":{\"finished\":" << m.finished << ",\"delivered\":" << m.delivered
      << ",\"limited\":" << m.limited << ",\"refused_at_rcpt\":" << m.refused_at_rcpt
      << ",\"refused_at_eom\":" << m.refused_at_eom << ",\"held\":" << m.held
      << ",\"first_limited\":" << m.first_limited << ",\"last_unlimited\":" << m.last_unlimited << "}";
    o << ",\"errors\":{\"total\":" << s.errors.total() << ",\"connect\":" << s.errors.connect
      << ",\"closed\":" << s.errors.closed << ",\"io\":" << s.errors.io << ",\"timeout\":" << s.errors.timeout
      << ",\"protocol\":" << s.errors.protocol << "},\"connects\":" << s.connects
      << ",\"reconnects\":" << s.reconnects << ",\"fd_limit\":" << r.fd_limit << "}\n";
    std::fputs(o.str().c_str(), stdout);
}

void latency_row(const char* name, const LatencyHistogram& h) {
    std::printf("  %-16s %10llu %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, static_cast<unsigned long long>(h.count()),
                us(h.percentile(0.50)), us(h.percentile(0.90)), us(h.percentile(0.99)), us(h.percentile(0.999)),
                us(h.max()));
}

void print_text(const Report& r) {
    const RunStats& s = r.stats;
    std::printf("target       %s\n", r.target.c_str());
    std::printf("load         %u connections, %u thread(s), mix %s, %u accounts\n", r.connections, r.threads,
                r.mix.c_str(), r.accounts);
    std::printf("measured     %.2f s (after %.2f s warm-up)\n", r.measured_s, r.warmup_s);
    if (r.rate > 0) std::printf("offered      %.1f requests/s (--rate)\n", r.rate);
    std::printf("requests/s   %.1f  (%llu requests)\n", rate(s.all.count(), r.measured_s),
                static_cast<unsigned long long>(s.all.count()));
    if (s.messages.finished)
        std::printf("messages/s   %.1f  (%llu messages)\n", rate(s.messages.finished, r.measured_s),
                    static_cast<unsigned long long>(s.messages.finished));
    std::printf("\nlatency (microseconds)\n  %-16s %10s %9s %9s %9s %9s %9s\n", "state", "count", "p50", "p90", "p99",
                "p99.9", "max");
    latency_row("all", s.all);
    for (const auto& [name, h] : s.by_state()) latency_row(name.c_str(), *h);
    std::printf("\nactions\n");
    for (const auto& [key, n] : s.actions)
        std::printf("  %-24s %10llu  %5.1f %%\n", key.c_str(), static_cast<unsigned long long>(n),
                    s.all.count() ? 100.0 * static_cast<double>(n) / static_cast<double>(s.all.count()) : 0.0);
    const MessageCounts& m = s.messages;
    if (m.finished) {
        std::printf("\nmessages     %llu finished, %llu delivered, %llu limited (refused at RCPT %llu, at "
                    "END-OF-MESSAGE %llu, held %llu)\n",
                    static_cast<unsigned long long>(m.finished), static_cast<unsigned long long>(m.delivered),
                    static_cast<unsigned long long>(m.limited), static_cast<unsigned long long>(m.refused_at_rcpt),
                    static_cast<unsigned long long>(m.refused_at_eom), static_cast<unsigned long long>(m.held));
        if (m.limited)
            std::printf("             first limited message: #%llu, last one not limited: #%llu\n",
                        static_cast<unsigned long long>(m.first_limited),
                        static_cast<unsigned long long>(m.last_unlimited));
    }
    std::printf("\nerrors       %llu (connect %llu, closed by server %llu, i/o %llu, timeout %llu, protocol %llu)\n",
                static_cast<unsigned long long>(s.errors.total()), static_cast<unsigned long long>(s.errors.connect),
                static_cast<unsigned long long>(s.errors.closed), static_cast<unsigned long long>(s.errors.io),
                static_cast<unsigned long long>(s.errors.timeout), static_cast<unsigned long long>(s.errors.protocol));
    std::printf("connections  %llu opened, %llu re-opened after errors\n",
                static_cast<unsigned long long>(s.connects), static_cast<unsigned long long>(s.reconnects));
}

}  // namespace

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

void print_report(const Report& report, bool json) {
    if (json) {
        print_json(report);
    } else {
        print_text(report);
    }
    std::fflush(stdout);
}

}  // namespace relay::bench
