#include "tools/relayctl/cli.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/mail/address.hpp"
#include "core/mail/cidr.hpp"
#include "core/admin/password.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/terminal_text.hpp"

namespace relay::ctl {

// ---- Context

const Config& Context::config() {
    if (!config_) config_ = load_config(config_path);
    return *config_;
}

AdminStore& Context::store() {
    if (!store_) store_ = std::make_unique<AdminStore>(config().database);
    return *store_;
}

bool Context::stdin_is_terminal() const { return isatty(STDIN_FILENO) == 1; }

// ---- Command

Command::Command(std::string usage_line, std::string about_text)
    : usage(std::move(usage_line)), about(std::move(about_text)) {}

namespace {
// Word-wraps text at width columns (help paragraphs).
std::string wrap(const std::string& text, std::size_t width = 100) {
    std::istringstream words(text);
    std::string word, out, line;
    while (words >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    return out + line;
}
}  // namespace

std::string Command::help() const {
    std::ostringstream out;
    out << "Usage: relayctl " << usage << "\n\n" << wrap(about) << "\n\n" << options;
    return out.str();
}

namespace {
// "account add LOGIN [options]" -> "account add": the leading lower-case words of a usage line.
std::string command_words(const std::string& usage) {
    std::istringstream in(usage);
    std::string word, out;
    while (in >> word && std::all_of(word.begin(), word.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; }))
        out += (out.empty() ? "" : " ") + word;
    return out;
}
}  // namespace

po::variables_map Command::parse(Context& ctx, const Args& args) {
    po::options_description common("Common options");
    common.add_options()("help,h", "show this help")("json", "machine-readable output (JSON on stdout)");
    if (destructive) common.add_options()("yes,y", "do not ask for confirmation on a terminal");
    po::options_description hidden;
    po::positional_options_description pos;
    for (std::size_t i = 0; i < positional.size(); ++i) {
        const bool last = i + 1 == positional.size();
        if (last && repeat_last) {
            hidden.add_options()(positional[i].c_str(), po::value<std::vector<std::string>>());
            pos.add(positional[i].c_str(), -1);
        } else {
            hidden.add_options()(positional[i].c_str(), po::value<std::string>());
            pos.add(positional[i].c_str(), 1);
        }
    }
    po::options_description all;
    all.add(options).add(common).add(hidden);
    po::variables_map vm;
    try {
        // No guessing of abbreviated option names: a typo must not silently pick another option.
        const int style = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;
        po::store(po::command_line_parser(args).options(all).positional(pos).style(style).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(std::string(e.what()) + " (see relayctl " + command_words(usage) + " --help)");
    }
    if (vm.count("help")) {
        std::cout << help();
        throw HelpShown{};
    }
    if (vm.count("json")) ctx.json = true;
    if (vm.count("yes")) ctx.yes = true;
    for (std::size_t i = 0; i < positional.size(); ++i) {
        const bool last = i + 1 == positional.size();
        if (!vm.count(positional[i]) && !(last && repeat_last))
            throw UsageError("missing " + positional[i] + " (usage: relayctl " + usage + ")");
    }
    return vm;
}

// ---- parsers

Login parse_login(const std::string& text) {
    AddressResult r = parse_address(text);
    if (r.null_sender || !r.ok || text.find('<') != std::string::npos)
        throw UsageError("malformed login '" + printable(text, 200) + "'" + (r.error.empty() ? "" : ": " + r.error) +
                         " (a login is the full address, e.g. printer@example.com)");
    return Login{r.address.local_part, r.address.domain};
}

std::string parse_domain_name(const std::string& text) {
    std::string error;
    auto name = normalize_domain(text, &error);
    if (!name) throw UsageError("malformed domain '" + printable(text, 200) + "': " + error);
    return *name;
}

std::string parse_cidr(const std::string& text) {
    std::string error;
    auto cidr = Cidr::parse(text, &error);
    if (!cidr)
        throw UsageError("malformed network '" + printable(text, 100) + "': " + error +
                         " (write 192.0.2.0/24, 192.0.2.10 or 2001:db8::/48)");
    return cidr->str();
}

std::string parse_pattern(const std::string& text) {
    std::string error;
    auto pattern = parse_sender_pattern(text, &error);
    if (!pattern)
        throw UsageError("malformed sender pattern '" + printable(text, 200) + "': " + error +
                         " (write user@example.com or @example.com)");
    return pattern->str();
}

namespace {

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// "30m" -> 1800; unit required unless allow_bare. 0 on failure.
std::uint64_t duration_seconds(const std::string& text, bool allow_bare) {
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return 0;
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(text, &used);
    } catch (const std::exception&) {
        return 0;
    }
    const std::string unit = lower(text.substr(used));
    std::uint64_t mult = 0;
    if (unit.empty()) mult = allow_bare ? 1 : 0;
    else if (unit == "s") mult = 1;
    else if (unit == "m" || unit == "min") mult = 60;
    else if (unit == "h") mult = 3600;
    else if (unit == "d") mult = 86400;
    else if (unit == "w") mult = 7 * 86400;
    if (mult == 0 || n > 100ULL * 365 * 86400 / mult) return 0;
    return n * mult;
}

// MariaDB 10.11's FROM_UNIXTIME() stops at 2038-01-19 03:14:07 UTC.
constexpr std::int64_t kMaxStorableTime = 2147483647;

}  // namespace

std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now, const char* option) {
    const std::string t = lower(text);
    if (t == "never" || t == "none") return std::nullopt;
    std::int64_t result = 0;
    if (!t.empty() && t[0] == '+') {
        std::uint64_t seconds = duration_seconds(t.substr(1), false);
        if (seconds == 0)
            throw UsageError(std::string(option) + ": cannot read '" + printable(text, 60) +
                             "' (write +30m, +12h, +7d, +2w, a date YYYY-MM-DD [HH:MM], or never)");
        result = now + static_cast<std::int64_t>(seconds);
    } else if (!t.empty() && t[0] == '@' && all_digits(t.substr(1))) {
        result = std::stoll(t.substr(1));
    } else {
        std::tm tm{};
        const char* formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                                 "%Y-%m-%d"};
        bool ok = false;
        for (const char* f : formats) {
            tm = std::tm{};
            const char* end = strptime(text.c_str(), f, &tm);
            if (end != nullptr && *end == '\0') {
                ok = true;
                break;
            }
        }
        if (!ok)
            throw UsageError(std::string(option) + ": cannot read '" + printable(text, 60) +
                             "' (write YYYY-MM-DD, 'YYYY-MM-DD HH:MM', +7d, or never)");
        tm.tm_isdst = -1;  // local time, whatever daylight saving says
        result = static_cast<std::int64_t>(std::mktime(&tm));
    }
    if (result > kMaxStorableTime)
        throw UsageError(std::string(option) + ": " + printable(text, 60) +
                         " is after 2038-01-19, which MariaDB cannot store here; use never");
    return result;
}

std::optional<std::uint64_t> parse_size(const std::string& text, const char* option) {
    const std::string t = lower(text);
    if (t == "none" || t == "unlimited") return std::nullopt;
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        if (t.empty() || !std::isdigit(static_cast<unsigned char>(t[0]))) throw std::invalid_argument("x");
        n = std::stoull(t, &used);
    } catch (const std::exception&) {
        throw UsageError(std::string(option) + ": cannot read '" + printable(text, 40) + "' (write 10M, 512k, or none)");
    }
    std::string unit = t.substr(used);
    if (!unit.empty() && unit.back() == 'b') unit.pop_back();
    if (!unit.empty() && unit.back() == 'i') unit.pop_back();
    std::uint64_t mult = unit.empty() ? 1 : unit == "k" ? 1024 : unit == "m" ? 1024 * 1024 : unit == "g" ? 1024ULL * 1024 * 1024 : 0;
    if (mult == 0 || n == 0 || n > (1ULL << 50) / mult)
        throw UsageError(std::string(option) + ": cannot read '" + printable(text, 40) + "' (write 10M, 512k, or none)");
    return n * mult;
}

std::optional<std::uint32_t> parse_count(const std::string& text, const char* option, bool allow_none) {
    const std::string t = lower(text);
    if (allow_none && (t == "none" || t == "unlimited")) return std::nullopt;
    if (!all_digits(t) || std::stoull(t) == 0 || std::stoull(t) > 0xffffffffULL)
        throw UsageError(std::string(option) + ": '" + printable(text, 40) + "' is not a positive number" +
                         (allow_none ? " (or none)" : ""));
    return static_cast<std::uint32_t>(std::stoull(t));
}

std::uint32_t parse_window(const std::string& text) {
    const std::string t = lower(text);
    if (t == "minute") return 60;
    if (t == "hour") return 3600;
    if (t == "day") return 86400;
    if (t == "week") return 7 * 86400;
    std::uint64_t s = duration_seconds(t, true);
    if (s == 0 || s > 366ULL * 86400)
        throw UsageError("--window: cannot read '" + printable(text, 40) +
                         "' (write 3600, 90s, 30m, 1h, 1d, hour or day; at most 366 days)");
    return static_cast<std::uint32_t>(s);
}

// ---- output

std::string format_time(const std::optional<std::int64_t>& t, const char* none) {
    if (!t) return none;
    if (*t >= 253402300799) return "9999-12-31 (far future)";
    std::time_t tt = static_cast<std::time_t>(*t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string format_time_iso(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Json json_time(const std::optional<std::int64_t>& t) {
    if (!t) return Json();
    return Json(format_time_iso(*t));
}

std::string format_size(const std::optional<std::uint64_t>& bytes) {
    if (!bytes) return "-";
    const std::uint64_t b = *bytes;
    if (b % (1024 * 1024) == 0) return std::to_string(b / (1024 * 1024)) + "M";
    if (b % 1024 == 0) return std::to_string(b / 1024) + "k";
    return std::to_string(b);
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

void Table::print(std::ostream& out) const {
    // Sanitised first, so that the widths are those of what is printed.
    auto safe = [](const std::vector<std::string>& cells) {
        std::vector<std::string> shown;
        for (const auto& cell : cells) shown.push_back(terminal_text(cell, 500));
        return shown;
    };
    std::vector<std::vector<std::string>> lines{safe(headers)};
    for (const auto& row : rows) lines.push_back(safe(row));
    std::vector<std::size_t> w(headers.size(), 0);
    for (const auto& cells : lines)
        for (std::size_t i = 0; i < cells.size() && i < w.size(); ++i) w[i] = std::max(w[i], display_width(cells[i]));
    for (const auto& cells : lines) {
        std::string text;
        for (std::size_t i = 0; i < cells.size() && i < w.size(); ++i) {
            text += cells[i];
            if (i + 1 < cells.size()) text.append(w[i] - std::min(w[i], display_width(cells[i])) + 2, ' ');
        }
        out << text << "\n";
    }
}

void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields) {
    std::size_t w = 0;
    for (const auto& f : fields) w = std::max(w, display_width(terminal_text(f.first, 100)));
    for (const auto& [key, value] : fields) {
        const std::string shown_key = terminal_text(key, 100);
        out << shown_key << ":" << std::string(w - display_width(shown_key) + 1, ' ') << terminal_text(value, 1000)
            << "\n";
    }
}

// ---- the terminal

void confirm(Context& ctx, const std::string& question) {
    if (ctx.yes || !ctx.stdin_is_terminal()) return;
    std::cerr << question << " [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    answer = lower(answer);
    if (answer == "y" || answer == "yes") return;
    std::cerr << "nothing changed\n";
    throw ExitWith{kExitUsage};
}

namespace {

termios g_saved_termios;
volatile sig_atomic_t g_echo_off = 0;

void restore_echo_and_die(int sig) {
    if (g_echo_off) tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
    signal(sig, SIG_DFL);
    raise(sig);
}

// One line from the terminal with echo off; the terminal is restored even on Ctrl-C.
std::string ask_hidden(const std::string& prompt) {
    std::cerr << prompt << std::flush;
    termios t{};
    if (tcgetattr(STDIN_FILENO, &t) != 0) throw UsageError("cannot read the terminal settings");
    g_saved_termios = t;
    struct sigaction sa {};
    sa.sa_handler = restore_echo_and_die;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {}, old_term {}, old_hup {};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    g_echo_off = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
    std::string line;
    std::getline(std::cin, line);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
    g_echo_off = 0;
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

std::string read_password(Context& ctx, const std::string& prompt, bool twice) {
    std::string password;
    if (ctx.stdin_is_terminal()) {
        password = ask_hidden(prompt + ": ");
        if (auto problem = password_problem(password); !problem.empty()) throw UsageError(problem);
        if (twice) {
            std::string again = ask_hidden("Retype the password: ");
            const bool same = again == password;
            std::fill(again.begin(), again.end(), '\0');
            if (!same) throw UsageError("the passwords do not match; nothing changed");
        }
    } else {
        if (!std::getline(std::cin, password)) throw UsageError("no password on stdin");
        if (!password.empty() && password.back() == '\r') password.pop_back();
        if (auto problem = password_problem(password); !problem.empty())
            throw UsageError(problem + " (read from stdin)");
    }
    return password;
}

void say(Context& ctx, const std::string& msg) {
    if (!ctx.json) std::cout << msg << "\n";
}

void emit(const Json& value) { std::cout << value.dump() << "\n"; }

}  // namespace relay::ctl
