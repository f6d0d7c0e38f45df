// Time zones for calendar rate-limit windows ([rate_limits] time_zone): "500 a day" resets at midnight
// where the admin lives, also on the 23- and 25-hour days of daylight saving time.
//
// We read the compiled tz database (/usr/share/zoneinfo, RFC 8536 TZif files) ourselves instead of going
// through localtime_r: that would need the process-wide TZ variable, which other code (and other
// threads) share. A TimeZone is immutable after load, so any number of threads may use one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relay {

// A local wall-clock time, broken down (proleptic Gregorian calendar).
struct CivilTime {
    std::int64_t year = 1970;
    unsigned month = 1, day = 1, hour = 0, minute = 0, second = 0;
};

// Days since 1970-01-01 of a civil date, and back (any date, negative before 1970).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);
CivilTime civil_from_days(std::int64_t days);

class TimeZone {
public:
    // UTC, always available (also without tzdata installed).
    TimeZone();

    // Loads NAME (e.g. "Europe/Berlin") from directory (default /usr/share/zoneinfo). "UTC" works even
    // when the file is missing. Throws ConfigError naming the zone and the problem.
    static TimeZone load(const std::string& name, const std::string& directory = "/usr/share/zoneinfo");
    // Parses TZif bytes (tests, and load()).
    static TimeZone from_tzif(const std::string& name, const std::string& bytes);
    // A POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" (the footer of TZif files).
    static TimeZone from_posix(const std::string& rule);

    const std::string& name() const { return name_; }

    // Seconds east of UTC in effect at the instant (seconds since the epoch, UTC).
    std::int32_t offset_at(std::int64_t utc) const;
    // Abbreviation in effect then ("CET", "CEST"); may be empty.
    std::string abbreviation_at(std::int64_t utc) const;
    // The local wall-clock time of an instant.
    CivilTime local(std::int64_t utc) const;

    // Calendar periods, as instants (seconds since the epoch, UTC), for the instant t:
    // the full local hour containing t, and the local day (midnight to midnight) containing t.
    // A day is 23 or 25 hours long on DST changes; when local midnight does not exist (a zone that moves
    // its clocks at midnight) the day starts at the first instant after the gap.
    std::int64_t hour_start(std::int64_t t) const;
    std::int64_t hour_end(std::int64_t t) const;
    std::int64_t day_start(std::int64_t t) const;
    std::int64_t day_end(std::int64_t t) const;

private:
    struct Type {
        std::int32_t offset = 0;
        bool dst = false;
        std::string abbreviation;
    };
    // A POSIX rule's transition date: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d.
    struct RuleDate {
        enum class Form { julian_no_leap, julian_zero, month_week_day } form = Form::month_week_day;
        unsigned day = 0, week = 0, month = 0;  // day: n of Jn/n, or weekday d of Mm.w.d
        std::int32_t time = 7200;               // seconds after local midnight (may be < 0 or > 24 h)
    };
    struct Rule {
        Type standard, daylight;
        bool has_dst = false;
        RuleDate start, end;
    };

    const Type& type_at(std::int64_t utc) const;
    const Type& rule_type_at(const Rule& rule, std::int64_t utc) const;
    static std::int64_t rule_date_start(const RuleDate& date, std::int64_t year);
    static std::optional<Rule> parse_rule(const std::string& text, std::string* error);
    static const char* parse_rule_date(const std::string& dates, std::size_t& pos, RuleDate& date);
    // Local seconds (wall clock as if it were UTC) of an instant.
    std::int64_t local_seconds(std::int64_t utc) const { return utc + offset_at(utc); }

    std::string name_ = "UTC";
    std::vector<std::int64_t> transitions_;
    std::vector<std::uint8_t> transition_types_;
    std::vector<Type> types_{Type{0, false, "UTC"}};
    std::optional<Rule> rule_;  // after the last transition (or instead of any)
};

}  // namespace relay
