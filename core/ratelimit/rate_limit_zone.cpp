// TZif reader (RFC 8536, versions 1 to 4) and POSIX TZ rules (the footer used after the last transition).
#include "core/ratelimit/rate_limit_zone.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "core/base/errors.hpp"
#include "core/base/text.hpp"

namespace relay {

namespace {

constexpr std::int64_t kDay = 86400;

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
std::int64_t floor_mod(std::int64_t a, std::int64_t b) { return a - floor_div(a, b) * b; }

bool leap_year(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

// Big-endian reader over TZif bytes; any read past the end sets ok = false and yields 0.
struct Reader {
    const std::string& bytes;
    std::size_t pos = 0;
    bool ok = true;

    bool need(std::size_t n) {
        if (!ok || bytes.size() - pos < n || pos > bytes.size()) ok = false;
        return ok;
    }
    std::uint64_t uint(std::size_t n) {
        if (!need(n)) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[pos + i]);
        pos += n;
        return v;
    }
    std::int64_t int32() { return static_cast<std::int32_t>(static_cast<std::uint32_t>(uint(4))); }
    std::int64_t int64() { return static_cast<std::int64_t>(uint(8)); }
    void skip(std::size_t n) {
        if (need(n)) pos += n;
    }
};

struct Header {
    char version = 0;
    std::uint64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

Header read_header(Reader& r) {
    Header h;
    if (!r.need(44) || r.bytes.compare(r.pos, 4, "TZif") != 0) {
        r.ok = false;
        return h;
    }
    r.skip(4);
    h.version = static_cast<char>(r.uint(1));
    r.skip(15);
    h.isut = r.uint(4);
    h.isstd = r.uint(4);
    h.leap = r.uint(4);
    h.time = r.uint(4);
    h.type = r.uint(4);
    h.chars = r.uint(4);
    // Bounds that no real zone comes near; they keep a corrupt file from asking for gigabytes.
    if (h.time > 100000 || h.type == 0 || h.type > 256 || h.chars > 10000 || h.leap > 10000 ||
        (h.isut != 0 && h.isut != h.type) || (h.isstd != 0 && h.isstd != h.type))
        r.ok = false;
    return h;
}

std::size_t v1_block_size(const Header& h) {
    return h.time * 5 + h.type * 6 + h.chars + h.leap * 8 + h.isstd + h.isut;
}

// [+-]hh[:mm[:ss]] starting at pos; hours up to 167 (RFC 8536 extension). Returns seconds.
std::optional<std::int32_t> parse_hms(const std::string& s, std::size_t& pos, bool allow_sign) {
    int sign = 1;
    if (allow_sign && pos < s.size() && (s[pos] == '+' || s[pos] == '-')) sign = s[pos++] == '-' ? -1 : 1;
    std::int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
        if (i > 0) {
            if (pos >= s.size() || s[pos] != ':') break;
            ++pos;
        }
        std::size_t digits = 0;
        std::int32_t v = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && digits < 3) v = v * 10 + (s[pos++] - '0'), ++digits;
        if (digits == 0) return std::nullopt;
        parts[i] = v;
    }
    if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return std::nullopt;
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
}

std::optional<std::string> parse_abbreviation(const std::string& s, std::size_t& pos) {
    std::string out;
    if (pos < s.size() && s[pos] == '<') {
        const std::size_t close = s.find('>', pos);
        if (close == std::string::npos) return std::nullopt;
        out = s.substr(pos + 1, close - pos - 1);
        pos = close + 1;
        return out.size() >= 3 ? std::optional<std::string>(out) : std::nullopt;
    }
    while (pos < s.size() && ((s[pos] >= 'A' && s[pos] <= 'Z') || (s[pos] >= 'a' && s[pos] <= 'z'))) out += s[pos++];
    return out.size() >= 3 ? std::optional<std::string>(out) : std::nullopt;
}

ConfigError zone_error(const std::string& name, const std::string& why) {
    return ConfigError("[rate_limits] time_zone: zone '" + printable(name, 64) + "': " + why);
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    // Howard Hinnant's algorithm (public domain description of the proleptic Gregorian calendar).
    y -= m <= 2;
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

CivilTime civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = floor_div(z, 146097);
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    CivilTime c;
    c.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
    c.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
    c.year = yoe + era * 400 + (c.month <= 2);
    return c;
}

TimeZone::TimeZone() = default;

TimeZone TimeZone::load(const std::string& name, const std::string& directory) {
    const bool syntax = !name.empty() && name.size() <= 64 && name.front() != '/' &&
                        name.find("..") == std::string::npos &&
                        std::all_of(name.begin(), name.end(), [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                   c == '/' || c == '_' || c == '-' || c == '+';
                        });
    if (!syntax) throw zone_error(name, "not an IANA zone name such as UTC or Europe/Berlin");
    std::ifstream in(directory + "/" + name, std::ios::binary);
    if (!in) {
        if (name == "UTC" || name == "Etc/UTC") return TimeZone();
        throw zone_error(name, "cannot read " + directory + "/" + name + " (" + std::strerror(errno) +
                                   "; is the tzdata package installed?)");
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() > 1000000) throw zone_error(name, "file too large for a TZif file");
    return from_tzif(name, bytes);
}

TimeZone TimeZone::from_tzif(const std::string& name, const std::string& bytes) {
    Reader r{bytes};
    Header h = read_header(r);
    if (!r.ok) throw zone_error(name, "not a TZif file");
    const bool v2 = h.version >= '2';
    if (v2) {
        r.skip(v1_block_size(h));  // the 32-bit data, superseded by the 64-bit block that follows
        h = read_header(r);
        if (!r.ok) throw zone_error(name, "damaged TZif file (second header)");
    }
    TimeZone zone;
    zone.name_ = name;
    zone.types_.clear();
    for (std::uint64_t i = 0; i < h.time; ++i) zone.transitions_.push_back(v2 ? r.int64() : r.int32());
    for (std::uint64_t i = 0; i < h.time; ++i) zone.transition_types_.push_back(static_cast<std::uint8_t>(r.uint(1)));
    std::vector<std::pair<Type, std::uint64_t>> types;
    for (std::uint64_t i = 0; i < h.type; ++i) {
        Type t;
        t.offset = static_cast<std::int32_t>(r.int32());
        t.dst = r.uint(1) != 0;
        types.emplace_back(t, r.uint(1));
    }
    if (!r.need(h.chars)) throw zone_error(name, "damaged TZif file (truncated)");
    const std::string chars = bytes.substr(r.pos, h.chars);
    r.skip(h.chars);
    r.skip(h.leap * (v2 ? 12 : 8) + h.isstd + h.isut);
    if (!r.ok) throw zone_error(name, "damaged TZif file (truncated)");
    for (auto& [t, index] : types) {
        if (index >= chars.size()) throw zone_error(name, "damaged TZif file (abbreviation index)");
        t.abbreviation = chars.substr(index, chars.find('\0', index) - index);
        zone.types_.push_back(t);
    }
    for (std::size_t i = 0; i < zone.transitions_.size(); ++i) {
        if (zone.transition_types_[i] >= zone.types_.size() || (i > 0 && zone.transitions_[i] <= zone.transitions_[i - 1]))
            throw zone_error(name, "damaged TZif file (transitions)");
    }
    if (v2 && r.pos < bytes.size() && bytes[r.pos] == '\n') {
        const std::size_t end = bytes.find('\n', r.pos + 1);
        const std::string footer = bytes.substr(r.pos + 1, end == std::string::npos ? std::string::npos : end - r.pos - 1);
        if (!footer.empty()) {
            std::string error;
            zone.rule_ = parse_rule(footer, &error);
            if (!zone.rule_) throw zone_error(name, "cannot read its rule '" + printable(footer, 80) + "': " + error);
        }
    }
    return zone;
}

TimeZone TimeZone::from_posix(const std::string& text) {
    std::string error;
    auto rule = parse_rule(text, &error);
    if (!rule) throw zone_error(text, error);
    TimeZone zone;
    zone.name_ = text;
    zone.types_ = {rule->standard};
    zone.rule_ = std::move(rule);
    return zone;
}

// ",start[/time]" after the comma: Mm.w.d, Jn or n, optionally /[+-]hh[:mm[:ss]]. nullptr when fine.
const char* TimeZone::parse_rule_date(const std::string& dates, std::size_t& p, RuleDate& date) {
    if (p < dates.size() && dates[p] == 'M') {
        ++p;
        unsigned v[3] = {0, 0, 0};
        for (int i = 0; i < 3; ++i) {
            if (i > 0) {
                if (p >= dates.size() || dates[p] != '.') return "bad Mm.w.d date";
                ++p;
            }
            std::size_t digits = 0;
            while (p < dates.size() && dates[p] >= '0' && dates[p] <= '9' && digits < 2)
                v[i] = v[i] * 10 + static_cast<unsigned>(dates[p++] - '0'), ++digits;
            if (digits == 0) return "bad Mm.w.d date";
        }
        if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6) return "Mm.w.d date out of range";
        date.form = RuleDate::Form::month_week_day;
        date.month = v[0];
        date.week = v[1];
        date.day = v[2];
    } else {
        const bool julian = p < dates.size() && dates[p] == 'J';
        if (julian) ++p;
        std::size_t digits = 0;
        unsigned n = 0;
        while (p < dates.size() && dates[p] >= '0' && dates[p] <= '9' && digits < 3)
            n = n * 10 + static_cast<unsigned>(dates[p++] - '0'), ++digits;
        if (digits == 0 || (julian && (n < 1 || n > 365)) || (!julian && n > 365)) return "bad day number";
        date.form = julian ? RuleDate::Form::julian_no_leap : RuleDate::Form::julian_zero;
        date.day = n;
    }
    if (p < dates.size() && dates[p] == '/') {
        ++p;
        auto t = parse_hms(dates, p, true);
        if (!t) return "bad transition time";
        date.time = *t;
    }
    return nullptr;
}

std::optional<TimeZone::Rule> TimeZone::parse_rule(const std::string& s, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<Rule> {
        if (error) *error = why;
        return std::nullopt;
    };
    Rule rule;
    std::size_t pos = 0;
    auto name = parse_abbreviation(s, pos);
    if (!name) return fail("missing standard time name");
    auto offset = parse_hms(s, pos, true);
    if (!offset) return fail("missing or bad UTC offset");
    rule.standard = Type{-*offset, false, *name};  // POSIX offsets count west of Greenwich
    if (pos == s.size()) return rule;
    auto dst_name = parse_abbreviation(s, pos);
    if (!dst_name) return fail("bad daylight saving time name");
    rule.has_dst = true;
    rule.daylight = Type{rule.standard.offset + 3600, true, *dst_name};
    if (pos < s.size() && s[pos] != ',') {
        auto dst_offset = parse_hms(s, pos, true);
        if (!dst_offset) return fail("bad daylight saving time offset");
        rule.daylight.offset = -*dst_offset;
    }
    std::string dates = pos < s.size() ? s.substr(pos) : ",M3.2.0,M11.1.0";  // POSIX's default (US rules)
    std::size_t p = 0;
    for (RuleDate* date : {&rule.start, &rule.end}) {
        if (p >= dates.size() || dates[p] != ',') return fail("expected ',' before a transition date");
        ++p;
        if (const char* why = parse_rule_date(dates, p, *date)) return fail(why);
    }
    if (p != dates.size()) return fail("unexpected text after the rule");
    return rule;
}

std::int64_t TimeZone::rule_date_start(const RuleDate& date, std::int64_t year) {
    const std::int64_t jan1 = days_from_civil(year, 1, 1);
    std::int64_t days = 0;
    switch (date.form) {
        case RuleDate::Form::julian_no_leap:
            days = jan1 + date.day - 1 + (leap_year(year) && date.day >= 60 ? 1 : 0);
            break;
        case RuleDate::Form::julian_zero:
            days = jan1 + date.day;
            break;
        case RuleDate::Form::month_week_day: {
            const std::int64_t first = days_from_civil(year, date.month, 1);
            const std::int64_t weekday_first = floor_mod(first + 4, 7);  // 1970-01-01 was a Thursday (4)
            std::int64_t day = floor_mod(static_cast<std::int64_t>(date.day) - weekday_first, 7) + (date.week - 1) * 7;
            while (day >= days_in_month(year, date.month)) day -= 7;
            days = first + day;
            break;
        }
    }
    return days * kDay;
}

const TimeZone::Type& TimeZone::rule_type_at(const Rule& rule, std::int64_t utc) const {
    if (!rule.has_dst) return rule.standard;
    const std::int64_t year = civil_from_days(floor_div(utc + rule.standard.offset, kDay)).year;
    // The transitions of the neighbouring years too: a rule may start in one year and end in the next
    // (southern hemisphere), and the latest transition at or before utc says what is in effect.
    std::int64_t best = INT64_MIN;
    bool dst = false;
    for (std::int64_t y = year - 1; y <= year + 1; ++y) {
        const std::int64_t on = rule_date_start(rule.start, y) + rule.start.time - rule.standard.offset;
        const std::int64_t off = rule_date_start(rule.end, y) + rule.end.time - rule.daylight.offset;
        if (on <= utc && on > best) best = on, dst = true;
        if (off <= utc && off >= best) best = off, dst = false;
    }
    return dst ? rule.daylight : rule.standard;
}

const TimeZone::Type& TimeZone::type_at(std::int64_t utc) const {
    if (transitions_.empty()) return rule_ ? rule_type_at(*rule_, utc) : types_.front();
    if (utc < transitions_.front()) return types_.front();
    if (utc >= transitions_.back() && rule_) return rule_type_at(*rule_, utc);
    const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
    return types_[transition_types_[static_cast<std::size_t>(it - transitions_.begin()) - 1]];
}

std::int32_t TimeZone::offset_at(std::int64_t utc) const { return type_at(utc).offset; }

std::string TimeZone::abbreviation_at(std::int64_t utc) const { return type_at(utc).abbreviation; }

CivilTime TimeZone::local(std::int64_t utc) const {
    const std::int64_t l = local_seconds(utc);
    CivilTime c = civil_from_days(floor_div(l, kDay));
    const std::int64_t s = floor_mod(l, kDay);
    c.hour = static_cast<unsigned>(s / 3600);
    c.minute = static_cast<unsigned>(s / 60 % 60);
    c.second = static_cast<unsigned>(s % 60);
    return c;
}

std::int64_t TimeZone::hour_start(std::int64_t t) const { return t - floor_mod(local_seconds(t), 3600); }

std::int64_t TimeZone::hour_end(std::int64_t t) const {
    const std::int64_t s = hour_start(t);
    const std::int64_t next = hour_start(s + 3600);
    // Only a zone whose offset changes by a fraction of an hour moves the next boundary.
    return next > t ? next : s + 3600;
}

std::int64_t TimeZone::day_start(std::int64_t t) const {
    // The earliest instant of t's local date: the local date only moves forward, except where a zone
    // turns its clocks back across midnight; there any consistent boundary will do.
    const std::int64_t date = floor_div(local_seconds(t), kDay);
    std::int64_t lo = t - 2 * kDay, hi = t;  // date(lo) < date <= date(hi)
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (floor_div(local_seconds(mid), kDay) >= date) hi = mid;
        else lo = mid;
    }
    return hi;
}

std::int64_t TimeZone::day_end(std::int64_t t) const {
    const std::int64_t date = floor_div(local_seconds(t), kDay);
    std::int64_t lo = t, hi = t + 2 * kDay;  // date(lo) <= date < date(hi)
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (floor_div(local_seconds(mid), kDay) > date) hi = mid;
        else lo = mid;
    }
    return hi;
}

}  // namespace relay
