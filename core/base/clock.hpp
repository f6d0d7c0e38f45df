// The clock is injected everywhere time matters (suspensions, expiry, rate-limit windows), so tests
// never sleep: they hold a ManualClock and move it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace relay {

using SystemClock = std::chrono::system_clock;
using TimePoint = SystemClock::time_point;

inline std::int64_t to_unix(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix(std::int64_t seconds) {
    return TimePoint(std::chrono::seconds(seconds));
}

class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
};

class RealClock final : public Clock {
public:
    TimePoint now() const override { return SystemClock::now(); }
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(TimePoint start = from_unix(1767225600)) : now_(start.time_since_epoch().count()) {}
    TimePoint now() const override { return TimePoint(TimePoint::duration(now_.load())); }
    void set(TimePoint t) { now_.store(t.time_since_epoch().count()); }
    void advance(SystemClock::duration d) { now_.fetch_add(d.count()); }

private:
    std::atomic<TimePoint::rep> now_;
};

}  // namespace relay
