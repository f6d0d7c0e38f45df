// Time zones of calendar rate-limit windows: TZif files, POSIX rules, and the local hour and day around
// the daylight saving changes in Europe/Berlin.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <sys/stat.h>

#include "core/base/errors.hpp"
#include "core/ratelimit/rate_limit_zone.hpp"

using namespace relay;

namespace {

std::int64_t utc(std::int64_t y, unsigned mo, unsigned d, unsigned h = 0, unsigned mi = 0, unsigned s = 0) {
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

std::string civil_text(const CivilTime& c) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02u:%02u:%02u", static_cast<long long>(c.year), c.month, c.day,
                  c.hour, c.minute, c.second);
    return buf;
}

bool have_zoneinfo(const char* name) {
    struct stat st{};
    return stat((std::string("/usr/share/zoneinfo/") + name).c_str(), &st) == 0;
}

const char* const kBerlinRule = "CET-1CEST,M3.5.0,M10.5.0/3";

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limit_zone)

BOOST_AUTO_TEST_CASE(civil_dates_round_trip) {
    struct Case {
        const char* name;
        std::int64_t y;
        unsigned m, d;
        std::int64_t days;
    } const cases[] = {
        {"epoch", 1970, 1, 1, 0},          {"day before epoch", 1969, 12, 31, -1},
        {"leap day 2000", 2000, 2, 29, 11016}, {"2026 new year", 2026, 1, 1, 20454},
        {"end of 2038", 2038, 12, 31, 25201},   {"1900 not leap", 1900, 3, 1, -25508},
    };
    for (const auto& c : cases) {
        const std::int64_t got = days_from_civil(c.y, c.m, c.d);
        BOOST_CHECK_MESSAGE(got == c.days, "case " << c.name << ": got " << got << ", want " << c.days);
        const CivilTime back = civil_from_days(c.days);
        BOOST_CHECK_MESSAGE(back.year == c.y && back.month == c.m && back.day == c.d,
                            "case " << c.name << ": back to " << civil_text(back));
    }
}

BOOST_AUTO_TEST_CASE(posix_rule_offsets) {
    const TimeZone berlin = TimeZone::from_posix(kBerlinRule);
    const TimeZone sydney = TimeZone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
    const TimeZone fixed = TimeZone::from_posix("<+0530>-5:30");
    struct Case {
        const char* name;
        const TimeZone& zone;
        std::int64_t at;
        std::int32_t offset;
        const char* abbreviation;
    } const cases[] = {
        {"berlin winter", berlin, utc(2026, 1, 15, 12), 3600, "CET"},
        {"berlin summer", berlin, utc(2026, 7, 15, 12), 7200, "CEST"},
        {"berlin last second of CET", berlin, utc(2026, 3, 29, 0, 59, 59), 3600, "CET"},
        {"berlin first second of CEST", berlin, utc(2026, 3, 29, 1), 7200, "CEST"},
        {"berlin last second of CEST", berlin, utc(2026, 10, 25, 0, 59, 59), 7200, "CEST"},
        {"berlin first second of CET again", berlin, utc(2026, 10, 25, 1), 3600, "CET"},
        {"berlin 2100 summer", berlin, utc(2100, 7, 1), 7200, "CEST"},
        {"sydney january is summer", sydney, utc(2026, 1, 15), 39600, "AEDT"},
        {"sydney july is winter", sydney, utc(2026, 7, 15), 36000, "AEST"},
        {"sydney new year's eve", sydney, utc(2026, 12, 31, 20), 39600, "AEDT"},
        {"fixed half hour", fixed, utc(2026, 5, 1), 19800, "+0530"},
    };
    for (const auto& c : cases) {
        const std::int32_t got = c.zone.offset_at(c.at);
        BOOST_CHECK_MESSAGE(got == c.offset, "case " << c.name << ": got " << got << ", want " << c.offset);
        BOOST_CHECK_MESSAGE(c.zone.abbreviation_at(c.at) == c.abbreviation,
                            "case " << c.name << ": got " << c.zone.abbreviation_at(c.at) << ", want " << c.abbreviation);
    }
}

BOOST_AUTO_TEST_CASE(bad_rules_and_names_are_config_errors) {
    for (const char* rule : {"", "C-1", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0", "CET-1CEST,J0,J10",
                             "CET-1CEST,M3.5.0,M10.5.0/3x"}) {
        BOOST_CHECK_THROW(TimeZone::from_posix(rule), ConfigError);
    }
    for (const char* name : {"../etc/passwd", "/etc/localtime", "Europe/No_Such_Place", "Europe/Berlin;rm", ""}) {
        BOOST_CHECK_THROW(TimeZone::load(name), ConfigError);
    }
    BOOST_CHECK_THROW(TimeZone::from_tzif("broken", "TZif2 but nothing else"), ConfigError);
    BOOST_CHECK_THROW(TimeZone::from_tzif("broken", "not a tz file at all, long enough to hold a header ........"),
                      ConfigError);
    BOOST_CHECK_EQUAL(TimeZone::load("UTC", "/nonexistent").offset_at(utc(2026, 7, 1)), 0);
}

BOOST_AUTO_TEST_CASE(tzif_file_agrees_with_its_rule) {
    if (!have_zoneinfo("Europe/Berlin")) {
        BOOST_TEST_MESSAGE("tzdata not installed: Europe/Berlin TZif file not checked");
        BOOST_CHECK_EQUAL(TimeZone::from_posix(kBerlinRule).offset_at(utc(2026, 7, 1)), 7200);
        return;
    }
    const TimeZone file = TimeZone::load("Europe/Berlin");
    const TimeZone rule = TimeZone::from_posix(kBerlinRule);
    BOOST_CHECK_EQUAL(file.name(), "Europe/Berlin");
    // Every hour of 2026 and of 2045 (past the file's transition table, where its footer rule takes over).
    int mismatches = 0;
    for (std::int64_t year : {2026, 2045}) {
        for (std::int64_t t = utc(year, 1, 1); t < utc(year + 1, 1, 1); t += 3600) {
            if (file.offset_at(t) != rule.offset_at(t) && ++mismatches <= 5)
                BOOST_ERROR("at " << t << ": file says " << file.offset_at(t) << ", rule says " << rule.offset_at(t));
        }
    }
    BOOST_CHECK_EQUAL(mismatches, 0);
    BOOST_CHECK_EQUAL(file.offset_at(utc(1950, 1, 1)), 3600);
    BOOST_CHECK_EQUAL(civil_text(file.local(utc(2026, 3, 29, 1, 30))), "2026-03-29 03:30:00");
}

BOOST_AUTO_TEST_CASE(berlin_days_and_hours_around_dst) {
    const TimeZone berlin = have_zoneinfo("Europe/Berlin") ? TimeZone::load("Europe/Berlin") : TimeZone::from_posix(kBerlinRule);
    struct Case {
        const char* name;
        std::int64_t at;
        std::int64_t day_start, day_end, hour_start, hour_end;
    } const cases[] = {
        {"ordinary day", utc(2026, 1, 15, 12, 30), utc(2026, 1, 14, 23), utc(2026, 1, 15, 23), utc(2026, 1, 15, 12),
         utc(2026, 1, 15, 13)},
        {"spring day is 23 h (local 00:30)", utc(2026, 3, 28, 23, 30), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22),
         utc(2026, 3, 28, 23), utc(2026, 3, 29, 0)},
        {"spring day, local 01:59:59", utc(2026, 3, 29, 0, 59, 59), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22),
         utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)},
        {"spring day, local 03:00 follows 02:00", utc(2026, 3, 29, 1), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22),
         utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)},
        {"autumn day is 25 h", utc(2026, 10, 25, 12), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23),
         utc(2026, 10, 25, 12), utc(2026, 10, 25, 13)},
        {"autumn first 02:30 (CEST)", utc(2026, 10, 25, 0, 30), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23),
         utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)},
        {"autumn second 02:30 (CET)", utc(2026, 10, 25, 1, 30), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23),
         utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)},
        {"last second of the day", utc(2026, 7, 1, 21, 59, 59), utc(2026, 6, 30, 22), utc(2026, 7, 1, 22),
         utc(2026, 7, 1, 21), utc(2026, 7, 1, 22)},
        {"first second of the day", utc(2026, 7, 1, 22), utc(2026, 7, 1, 22), utc(2026, 7, 2, 22), utc(2026, 7, 1, 22),
         utc(2026, 7, 1, 23)},
    };
    for (const auto& c : cases) {
        const std::int64_t got[4] = {berlin.day_start(c.at), berlin.day_end(c.at), berlin.hour_start(c.at),
                                     berlin.hour_end(c.at)};
        const std::int64_t want[4] = {c.day_start, c.day_end, c.hour_start, c.hour_end};
        const char* what[4] = {"day_start", "day_end", "hour_start", "hour_end"};
        for (int i = 0; i < 4; ++i) {
            BOOST_CHECK_MESSAGE(got[i] == want[i], "case " << c.name << ": " << what[i] << " got " << got[i] << " ("
                                                           << (got[i] - want[i]) << " s off), want " << want[i]);
        }
    }
    BOOST_CHECK_EQUAL(berlin.day_end(utc(2026, 3, 29, 12)) - berlin.day_start(utc(2026, 3, 29, 12)), 23 * 3600);
    BOOST_CHECK_EQUAL(berlin.day_end(utc(2026, 10, 25, 12)) - berlin.day_start(utc(2026, 10, 25, 12)), 25 * 3600);
}

BOOST_AUTO_TEST_CASE(half_hour_zone_hours_follow_the_local_clock) {
    const TimeZone india = TimeZone::from_posix("IST-5:30");
    const std::int64_t t = utc(2026, 5, 1, 10, 10);  // 15:40 local
    BOOST_CHECK_EQUAL(india.hour_start(t), utc(2026, 5, 1, 9, 30));
    BOOST_CHECK_EQUAL(india.hour_end(t), utc(2026, 5, 1, 10, 30));
    BOOST_CHECK_EQUAL(india.day_start(t), utc(2026, 4, 30, 18, 30));
    BOOST_CHECK_EQUAL(india.day_end(t), utc(2026, 5, 1, 18, 30));
}

BOOST_AUTO_TEST_CASE(midnight_in_a_gap_starts_the_day_after_the_gap) {
    // A zone that springs forward at midnight (as some have): 00:00-00:59 do not exist that day.
    const TimeZone zone = TimeZone::from_posix("XST3XDT,M3.2.0/0,M11.1.0/1");
    const std::int64_t spring = utc(2026, 3, 8, 3);  // 2026-03-08 00:00 local standard = 03:00 UTC: the jump
    BOOST_CHECK_EQUAL(zone.offset_at(spring - 1), -3 * 3600);
    BOOST_CHECK_EQUAL(zone.offset_at(spring), -2 * 3600);
    BOOST_CHECK_EQUAL(zone.day_start(spring + 3600), spring);
    BOOST_CHECK_EQUAL(zone.day_end(spring - 60), spring);
}

BOOST_AUTO_TEST_SUITE_END()
