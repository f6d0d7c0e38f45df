// The configuration file: accepted files give the right values, every kind of mistake is refused with a
// message that names the key, the password never shows, and docs/ + contrib/ list every key.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/config/config_checks.hpp"
#include "core/base/errors.hpp"

namespace {

using relay::Config;

struct GoodCase {
    const char* name;
    std::string text;
    std::function<std::string(const Config&)> field;
    std::string want;
};

struct BadCase {
    const char* name;
    std::string text;
    std::vector<std::string> message_has;  // every one must appear in the ConfigError message
};

std::string n(unsigned value) { return std::to_string(value); }
std::string b(bool value) { return value ? "yes" : "no"; }
std::string joined(const std::vector<std::string>& values) {
    std::string out;
    for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
    return out;
}

// "[section] key" of every line of an INI dump, in order.
std::vector<std::string> keys_of(const std::string& ini) {
    std::vector<std::string> out;
    std::istringstream in(ini);
    std::string line, section;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '[') {
            section = line;
            continue;
        }
        const std::string key = "[" + section.substr(1, section.size() - 2) + "] " + line.substr(0, line.find(" ="));
        if (out.empty() || out.back() != key) out.push_back(key);
    }
    return out;
}

std::string read_source_file(const std::string& relative) {
    std::ifstream in(std::string(RELAY_SOURCE_DIR) + "/" + relative);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string error_of(const std::string& text) {
    try {
        relay::parse_config(text, "test.conf");
    } catch (const relay::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(defaults_and_good_values) {
    const std::vector<GoodCase> cases = {
        {"empty file: port", "", [](const Config& c) { return n(c.database.port); }, "3306"},
        {"empty file: host", "", [](const Config& c) { return c.database.host.front(); }, "127.0.0.1"},
        {"empty file: db name", "", [](const Config& c) { return c.database.name; }, "relay_authority"},
        {"empty file: policyd listen", "", [](const Config& c) { return joined(c.policyd.listen); }, "inet:127.0.0.1:10040"},
        {"empty file: milter listen", "", [](const Config& c) { return c.milter.listen; }, "inet:10041@127.0.0.1"},
        {"empty file: log level", "", [](const Config& c) { return c.general.log_level; }, "info"},
        {"empty file: header_from_action", "", [](const Config& c) { return c.milter.header_from_action; }, "reject"},
        {"empty file: poll interval", "", [](const Config& c) { return n(c.cache.poll_interval_ms); }, "1000"},
        {"duration bare is seconds", "[policyd]\nidle_timeout = 330\n", [](const Config& c) { return n(c.policyd.idle_timeout); }, "330"},
        {"duration in minutes", "[cache]\nmax_stale = 5m\n", [](const Config& c) { return n(c.cache.max_stale_seconds); }, "300"},
        {"duration in days", "[abuse]\nsuspend_for = 2d\n", [](const Config& c) { return n(c.abuse.suspend_seconds); }, "172800"},
        {"poll interval in ms", "[cache]\npoll_interval = 250ms\n", [](const Config& c) { return n(c.cache.poll_interval_ms); }, "250"},
        {"poll interval bare is seconds", "[cache]\npoll_interval = 2\n", [](const Config& c) { return n(c.cache.poll_interval_ms); }, "2000"},
        {"empty file: threads auto", "", [](const Config& c) { return n(c.policyd.threads); }, "0"},
        {"threads number", "[policyd]\nthreads = 4\nworkers = 8\n", [](const Config& c) { return n(c.policyd.threads); }, "4"},
        {"threads auto written", "[policyd]\nthreads = auto\n", [](const Config& c) { return n(c.policyd.threads); }, "0"},
        {"empty file: allow_root", "", [](const Config& c) { return b(c.policyd.allow_root); }, "no"},
        {"empty file: path is origin", "", [](const Config& c) { return c.path; }, "test.conf"},
        {"comments and blank lines", "# hello\n\n[database]\n# port = 1\nport = 3307 # trailing comment\n",
         [](const Config& c) { return n(c.database.port); }, "3307"},
        {"spaces around =", "[database]\n   port   =   3308   \n", [](const Config& c) { return n(c.database.port); }, "3308"},
        {"socket", "[database]\nsocket = /run/mysqld/mysqld.sock\n", [](const Config& c) { return c.database.socket; }, "/run/mysqld/mysqld.sock"},
        {"socket with localhost host", "[database]\nsocket = /run/m.sock\nhost = localhost\n", [](const Config& c) { return c.database.host.front(); }, "localhost"},
        {"ipv6 database host", "[database]\nhost = ::1\n", [](const Config& c) { return c.database.host.front(); }, "::1"},
        {"several database hosts, in order", "[database]\nhost = db2.example.net\nhost = 10.0.0.5:3307\nhost = [2001:db8::5]:3308\nhost = db1\n",
         [](const Config& c) { return joined(c.database.host); }, "db2.example.net,10.0.0.5:3307,[2001:db8::5]:3308,db1"},
        {"empty file: failback_after", "", [](const Config& c) { return n(c.database.failback_after); }, "30"},
        {"failback_after 0", "[database]\nfailback_after = 0\n", [](const Config& c) { return n(c.database.failback_after); }, "0"},
        {"empty file: health_interval_ms", "", [](const Config& c) { return n(c.database.health_interval_ms); }, "500"},
        {"password", "[database]\npassword = s3cret\n", [](const Config& c) { return c.database.password; }, "s3cret"},
        {"quoted password keeps #", "[database]\npassword = \"pa#ss word \" # comment\n", [](const Config& c) { return c.database.password; }, "pa#ss word "},
        {"quoted empty", "[database]\npassword = \"\"\n", [](const Config& c) { return c.database.password; }, ""},
        {"empty password", "[database]\npassword =\n", [](const Config& c) { return c.database.password; }, ""},
        {"two policyd listens", "[policyd]\nlisten = inet:127.0.0.1:12200\nlisten = unix:/run/relay/policyd.sock\n",
         [](const Config& c) { return joined(c.policyd.listen); }, "inet:127.0.0.1:12200,unix:/run/relay/policyd.sock"},
        {"policyd ipv6 listen", "[policyd]\nlisten = inet:[::1]:10040\n", [](const Config& c) { return joined(c.policyd.listen); }, "inet:[::1]:10040"},
        {"policyd host name listen", "[policyd]\nlisten = inet:localhost:10040\n", [](const Config& c) { return joined(c.policyd.listen); }, "inet:localhost:10040"},
        {"milter inet6", "[milter]\nlisten = inet6:10041@::1\n", [](const Config& c) { return c.milter.listen; }, "inet6:10041@::1"},
        {"milter unix", "[milter]\nlisten = unix:/run/relay/milter.sock\n", [](const Config& c) { return c.milter.listen; }, "unix:/run/relay/milter.sock"},
        {"milter local", "[milter]\nlisten = local:/run/relay/milter.sock\n", [](const Config& c) { return c.milter.listen; }, "local:/run/relay/milter.sock"},
        {"socket mode 3 digits", "[policyd]\nsocket_mode = 660\n", [](const Config& c) { return c.policyd.socket_mode; }, "0660"},
        {"socket mode 4 digits", "[policyd]\nsocket_mode = 0600\n", [](const Config& c) { return c.policyd.socket_mode; }, "0600"},
        {"flag yes", "[policyd]\nallow_root = yes\n", [](const Config& c) { return b(c.policyd.allow_root); }, "yes"},
        {"flag true", "[milter]\nallow_root = True\n", [](const Config& c) { return b(c.milter.allow_root); }, "yes"},
        {"flag 0", "[abuse]\nenabled = 0\n", [](const Config& c) { return b(c.abuse.enabled); }, "no"},
        {"choice", "[milter]\nheader_from_action = off\n", [](const Config& c) { return c.milter.header_from_action; }, "off"},
        {"log level", "[general]\nlog_level = debug\n", [](const Config& c) { return c.general.log_level; }, "debug"},
        {"node", "[general]\nnode = mx1.example.net\n", [](const Config& c) { return c.general.node; }, "mx1.example.net"},
        {"time zone", "[rate_limits]\ntime_zone = Europe/Berlin\n", [](const Config& c) { return c.rate_limits.time_zone; }, "Europe/Berlin"},
        {"number at max", "[database]\nport = 65535\n", [](const Config& c) { return n(c.database.port); }, "65535"},
        {"number at min", "[database]\nport = 1\n", [](const Config& c) { return n(c.database.port); }, "1"},
        {"allowance zero", "[rate_limits]\nunavailable_allowance = 0\n", [](const Config& c) { return n(c.rate_limits.unavailable_allowance); }, "0"},
        {"notify command", "[abuse]\nnotify_command = /usr/local/bin/notify\n", [](const Config& c) { return c.abuse.notify_command; }, "/usr/local/bin/notify"},
        {"CRLF line ends", "[database]\r\nport = 3310\r\n", [](const Config& c) { return n(c.database.port); }, "3310"},
    };
    for (const auto& tc : cases) {
        try {
            const Config config = relay::parse_config(tc.text, "test.conf");
            const std::string got = tc.field(config);
            BOOST_CHECK_MESSAGE(got == tc.want, "case " << tc.name << ": got '" << got << "', want '" << tc.want << "'");
        } catch (const std::exception& e) {
            BOOST_ERROR("case " << tc.name << ": got error '" << e.what() << "', want '" << tc.want << "'");
        }
    }
}

BOOST_AUTO_TEST_CASE(node_defaults_to_host_name) {
    const Config config = relay::parse_config("", "test.conf");
    BOOST_CHECK_MESSAGE(!config.general.node.empty(), "case default node: got empty, want the host name");
}

BOOST_AUTO_TEST_CASE(bad_files_name_the_key) {
    const std::vector<BadCase> cases = {
        {"unknown key", "[database]\nhots = x\n", {"test.conf: unknown key [database] hots", "line 2"}},
        {"unknown section", "[datbase]\nhost = x\n", {"unknown key [datbase] host"}},
        {"key outside section", "port = 1\n", {"unknown key port outside any [section]"}},
        {"unknown key later in file", "[database]\nport = 3306\n[policyd]\nlisen = inet:1.2.3.4:5\n", {"unknown key [policyd] lisen", "line 4"}},
        {"garbage line", "[database]\nthis is not ini\n", {"test.conf", "this is not ini", "line 2"}},
        {"unterminated section", "[database\nport = 1\n", {"test.conf", "[database"}},
        {"control character", "[database]\nhost = a\x01" "b\n", {"control character", "line 2"}},
        {"port not a number", "[database]\nport = abc\n", {"[database] port = 'abc'", "1 to 65535", "line 2"}},
        {"port zero", "[database]\nport = 0\n", {"[database] port", "1 to 65535"}},
        {"port too big", "[database]\nport = 65536\n", {"[database] port", "1 to 65535"}},
        {"port negative", "[database]\nport = -1\n", {"[database] port"}},
        {"port huge", "[database]\nport = 99999999999999999999\n", {"[database] port"}},
        {"port with unit", "[database]\nport = 3306s\n", {"[database] port"}},
        {"port twice", "[database]\nport = 1\nport = 2\n", {"[database] port is set 2 times"}},
        {"empty number", "[cache]\npoll_interval_ms =\n", {"[cache] poll_interval_ms"}},
        {"poll interval too small", "[cache]\npoll_interval_ms = 10\n", {"[cache] poll_interval_ms", "100 to 60000"}},
        {"threads zero", "[policyd]\nthreads = 0\n", {"[policyd] threads", "1 to 64 (threads) or auto"}},
        {"threads Auto", "[policyd]\nthreads = Auto\n", {"[policyd] threads = 'Auto'"}},
        {"workers auto", "[policyd]\nworkers = auto\n", {"[policyd] workers", "1 to 256 (threads)"}},
        {"bad flag", "[policyd]\nallow_root = maybe\n", {"[policyd] allow_root = 'maybe'", "yes or no"}},
        {"bad log level", "[general]\nlog_level = verbose\n", {"[general] log_level = 'verbose'", "debug, info, notice, warning, error"}},
        {"log level case", "[general]\nlog_level = INFO\n", {"[general] log_level"}},
        {"bad facility", "[general]\nsyslog_facility = kern\n", {"[general] syslog_facility"}},
        {"bad header_from_action", "[milter]\nheader_from_action = accept\n", {"[milter] header_from_action = 'accept'", "reject, tempfail, off"}},
        {"bad milter on_store_unavailable", "[milter]\non_store_unavailable = accept\n", {"[milter] on_store_unavailable"}},
        {"bad rate on_store_unavailable", "[rate_limits]\non_store_unavailable = reject\n", {"[rate_limits] on_store_unavailable"}},
        {"bad on_rules_unavailable", "[milter]\non_rules_unavailable = allow\n", {"[milter] on_rules_unavailable = 'allow'", "tempfail, reject"}},
        {"bad on_rate_limits_unavailable", "[rate_limits]\non_rate_limits_unavailable = reject\n",
         {"[rate_limits] on_rate_limits_unavailable = 'reject'", "tempfail, allow"}},
        {"old and new name both set", "[milter]\non_store_unavailable = reject\non_rules_unavailable = tempfail\n",
         {"[milter] on_store_unavailable (line 2)", "[milter] on_rules_unavailable", "both set"}},
        {"policyd listen no family", "[policyd]\nlisten = 127.0.0.1:10040\n", {"[policyd] listen = '127.0.0.1:10040'", "inet:HOST:PORT"}},
        {"policyd listen milter syntax", "[policyd]\nlisten = inet:10040@127.0.0.1\n", {"[policyd] listen"}},
        {"policyd listen no port", "[policyd]\nlisten = inet:127.0.0.1\n", {"[policyd] listen"}},
        {"policyd listen bad port", "[policyd]\nlisten = inet:127.0.0.1:70000\n", {"[policyd] listen", "port"}},
        {"policyd listen bad ipv4", "[policyd]\nlisten = inet:127.0.0.256:10040\n", {"[policyd] listen"}},
        {"policyd listen bare ipv6", "[policyd]\nlisten = inet:::1:10040\n", {"[policyd] listen"}},
        {"policyd listen bad bracket", "[policyd]\nlisten = inet:[::1:10040\n", {"[policyd] listen"}},
        {"policyd listen relative unix", "[policyd]\nlisten = unix:relay.sock\n", {"[policyd] listen", "absolute"}},
        {"policyd listen long unix", "[policyd]\nlisten = unix:/" + std::string(120, 'a') + "\n", {"[policyd] listen"}},
        {"policyd listen twice same", "[policyd]\nlisten = inet:127.0.0.1:1\nlisten = inet:127.0.0.1:1\n", {"[policyd] listen", "twice"}},
        {"policyd listen empty", "[policyd]\nlisten =\n", {"[policyd] listen"}},
        {"milter listen policyd syntax", "[milter]\nlisten = inet:127.0.0.1:10041\n", {"[milter] listen = 'inet:127.0.0.1:10041'"}},
        {"milter listen no host", "[milter]\nlisten = inet:10041\n", {"[milter] listen", "PORT@HOST"}},
        {"milter listen ipv6 in inet", "[milter]\nlisten = inet:10041@::1\n", {"[milter] listen", "inet6"}},
        {"milter listen bracketed inet6", "[milter]\nlisten = inet6:10041@[::1]\n", {"[milter] listen"}},
        {"milter listen bad port", "[milter]\nlisten = inet:0@127.0.0.1\n", {"[milter] listen", "port"}},
        {"milter listen relative unix", "[milter]\nlisten = unix:milter.sock\n", {"[milter] listen"}},
        {"milter listen twice", "[milter]\nlisten = unix:/a\nlisten = unix:/b\n", {"[milter] listen is set 2 times"}},
        {"socket mode 8", "[policyd]\nsocket_mode = 0680\n", {"[policyd] socket_mode = '0680'", "octal"}},
        {"socket mode setuid", "[policyd]\nsocket_mode = 4755\n", {"[policyd] socket_mode"}},
        {"socket mode short", "[policyd]\nsocket_mode = 66\n", {"[policyd] socket_mode"}},
        {"relative db socket", "[database]\nsocket = mysqld.sock\n", {"[database] socket", "absolute"}},
        {"socket and remote host", "[database]\nsocket = /run/m.sock\nhost = db.example.net\n", {"[database] socket", "[database] host"}},
        {"bad db name", "[database]\nname = relay-authority\n", {"[database] name"}},
        {"empty db user", "[database]\nuser =\n", {"[database] user"}},
        {"bad db host", "[database]\nhost = db host\n", {"[database] host"}},
        {"empty db host", "[database]\nhost =\n", {"[database] host"}},
        {"db host: port out of range, named with its line", "[database]\nhost = db1\nhost = db2:99999\n",
         {"[database] host = 'db2:99999' (line 3)", "port from 1 to 65535"}},
        {"db host: port not a number", "[database]\nhost = db1:mysql\n", {"[database] host = 'db1:mysql'", "port"}},
        {"db host: empty port", "[database]\nhost = db1:\n", {"[database] host = 'db1:'", "port"}},
        {"db host: unclosed bracket", "[database]\nhost = [::1:3306\n", {"[database] host = '[::1:3306'", "[IPV6]:PORT"}},
        {"db host: not IPv6 in brackets", "[database]\nhost = [db1]:3306\n", {"[database] host = '[db1]:3306'", "IPv6"}},
        {"db host: junk after bracket", "[database]\nhost = [::1]3306\n", {"[database] host = '[::1]3306'"}},
        {"db host: bad name", "[database]\nhost = db_1!:3306\n", {"[database] host = 'db_1!:3306'"}},
        {"db host: bad IPv4", "[database]\nhost = 10.0.0.256\n", {"[database] host = '10.0.0.256'"}},
        {"db host given twice", "[database]\nhost = db1\nhost = db2\nhost = DB1:3306\n",
         {"[database] host = 'DB1:3306'", "given before"}},
        {"one remote host among several with socket", "[database]\nsocket = /run/m.sock\nhost = localhost\nhost = db2\n",
         {"[database] socket", "'db2'"}},
        {"failback_after too large", "[database]\nfailback_after = 86401\n", {"[database] failback_after"}},
        {"health_interval too small", "[database]\nhealth_interval = 50ms\n", {"[database] health_interval"}},
        {"bad unix user", "[policyd]\nuser = -root\n", {"[policyd] user"}},
        {"empty group", "[milter]\ngroup =\n", {"[milter] group"}},
        {"bad node", "[general]\nnode = mx 1\n", {"[general] node"}},
        {"unknown time zone", "[rate_limits]\ntime_zone = Mars/Olympus\n", {"[rate_limits] time_zone", "unknown time zone"}},
        {"time zone escape", "[rate_limits]\ntime_zone = ../../etc/passwd\n", {"[rate_limits] time_zone"}},
        {"relative notify command", "[abuse]\nnotify_command = notify.sh\n", {"[abuse] notify_command", "absolute"}},
        {"stale shorter than poll", "[cache]\npoll_interval_ms = 5000\nmax_stale_seconds = 5\n", {"[cache] max_stale", "[cache] poll_interval"}},
        {"stale shorter than poll, new names", "[cache]\npoll_interval = 5s\nmax_stale = 5\n", {"[cache] max_stale", "[cache] poll_interval"}},
        {"duration with a fraction of a second", "[policyd]\nidle_timeout = 1500ms\n", {"[policyd] idle_timeout = '1500ms'", "whole number of seconds from 1 to 86400"}},
        {"duration with an unknown unit", "[policyd]\nidle_timeout = 5min\n", {"[policyd] idle_timeout", "500ms, 30s, 5m, 2h, 1d"}},
        {"duration over its range", "[rate_limits]\ncharge_timeout = 2m\n", {"[rate_limits] charge_timeout = '2m'", "1 to 60"}},
        {"poll interval below 100 ms", "[cache]\npoll_interval = 50ms\n", {"[cache] poll_interval = '50ms'", "milliseconds from 100 to 60000"}},
        {"line longer than request", "[policyd]\nmax_line_length = 8192\nmax_request_bytes = 4096\n", {"[policyd] max_line_length", "max_request_bytes"}},
        {"unclosed quote", "[database]\nhost = \"localhost\n", {"[database] host", "closing \""}},
        {"charge timeout zero", "[rate_limits]\ncharge_timeout = 0\n", {"[rate_limits] charge_timeout", "1 to 60"}},
        {"charge bound below one query", "[database]\nread_timeout = 10\n", {"[rate_limits] charge_timeout", "[database] read_timeout"}},
        {"charge bound below one write", "[database]\nwrite_timeout = 8\n[rate_limits]\ncharge_timeout = 7\n", {"[rate_limits] charge_timeout", "write_timeout"}},
    };
    for (const auto& tc : cases) {
        const std::string message = error_of(tc.text);
        if (message.empty()) {
            BOOST_ERROR("case " << tc.name << ": got no error, want one naming '" << tc.message_has.front() << "'");
            continue;
        }
        for (const auto& part : tc.message_has) {
            BOOST_CHECK_MESSAGE(message.find(part) != std::string::npos,
                                "case " << tc.name << ": got '" << message << "', want it to contain '" << part << "'");
        }
    }
}

// Renamed keys (issue 14): the old name keeps working for one release, with a warning naming the new one.
BOOST_AUTO_TEST_CASE(old_key_names_still_work_and_warn) {
    struct Case {
        const char* name;
        std::string text;
        std::function<std::string(const Config&)> field;
        std::string want;
        std::string warning;  // "" = no warning
    };
    const auto rules = [](const Config& c) { return std::string(c.milter.on_rules_unavailable == relay::FailureAnswer::reject ? "reject" : "tempfail"); };
    const auto limits = [](const Config& c) {
        return std::string(c.rate_limits.on_rate_limits_unavailable == relay::RateLimitsUnavailable::allow ? "allow" : "tempfail");
    };
    const std::vector<Case> cases = {
        {"milter new name", "[milter]\non_rules_unavailable = reject\n", rules, "reject", ""},
        {"milter old name", "[milter]\non_store_unavailable = reject\n", rules, "reject",
         "test.conf: [milter] on_store_unavailable (line 2) is deprecated and will be removed in the next release; "
         "rename it [milter] on_rules_unavailable"},
        {"milter default", "", rules, "tempfail", ""},
        {"rate limits new name", "[rate_limits]\non_rate_limits_unavailable = allow\n", limits, "allow", ""},
        {"poll_interval_ms: the old value is milliseconds", "[cache]\npoll_interval_ms = 250\n",
         [](const Config& c) { return n(c.cache.poll_interval_ms); }, "250",
         "test.conf: [cache] poll_interval_ms (line 2) is deprecated and will be removed in the next release; rename it "
         "[cache] poll_interval"},
        {"max_stale_seconds", "[cache]\nmax_stale_seconds = 60\n", [](const Config& c) { return n(c.cache.max_stale_seconds); },
         "60", "test.conf: [cache] max_stale_seconds (line 2) is deprecated and will be removed in the next release; rename it "
         "[cache] max_stale"},
        {"suspend_seconds", "[abuse]\nsuspend_seconds = 600\n", [](const Config& c) { return n(c.abuse.suspend_seconds); },
         "600", "test.conf: [abuse] suspend_seconds (line 2) is deprecated and will be removed in the next release; rename it "
         "[abuse] suspend_for"},
        {"rate limits old name", "[rate_limits]\non_store_unavailable = allow\n", limits, "allow",
         "test.conf: [rate_limits] on_store_unavailable (line 2) is deprecated and will be removed in the next "
         "release; rename it [rate_limits] on_rate_limits_unavailable"},
    };
    for (const Case& c : cases) {
        try {
            const Config config = relay::parse_config(c.text, "test.conf");
            BOOST_CHECK_MESSAGE(c.field(config) == c.want, "case " << c.name << ": got '" << c.field(config) << "', want '" << c.want << "'");
            const std::string got = config.warnings.empty() ? "" : config.warnings.front();
            BOOST_CHECK_MESSAGE(got == c.warning, "case " << c.name << ": got warning '" << got << "', want '" << c.warning << "'");
            BOOST_CHECK_MESSAGE(config.warnings.size() <= 1u, "case " << c.name << ": got " << config.warnings.size() << " warnings");
            // The dump names the new key only, so a file written from it reads without warnings.
            const Config again = relay::parse_config(relay::dump_config(config), "dump");
            BOOST_CHECK_MESSAGE(again.warnings.empty(), "case " << c.name << ": the dump still uses an old name");
            BOOST_CHECK_MESSAGE(c.field(again) == c.want, "case " << c.name << ": the dump lost the value");
        } catch (const std::exception& e) {
            BOOST_ERROR("case " << c.name << ": got error '" << e.what() << "'");
        }
    }
}

BOOST_AUTO_TEST_CASE(password_never_shown) {
    const std::vector<std::pair<const char*, std::string>> cases = {
        {"dump", relay::dump_config(relay::parse_config("[database]\npassword = hunter2\n"))},
        {"given twice", error_of("[database]\npassword = hunter2\npassword = hunter2\n")},
        {"unclosed quote", error_of("[database]\npassword = \"hunter2\n")},
    };
    for (const auto& [name, text] : cases) {
        BOOST_CHECK_MESSAGE(!text.empty(), "case " << name << ": got empty text, want output");
        BOOST_CHECK_MESSAGE(text.find("hunter2") == std::string::npos,
                            "case " << name << ": got '" << text << "', want no password in it");
    }
    const std::string set = relay::dump_config(relay::parse_config("[database]\npassword = hunter2\n"));
    BOOST_CHECK_MESSAGE(set.find("password = ********") != std::string::npos, "case set: got '" << set << "', want password = ********");
    const std::string unset = relay::dump_config(relay::parse_config(""));
    BOOST_CHECK_MESSAGE(unset.find("(not set)") != std::string::npos, "case unset: got '" << unset << "', want (not set)");
}

BOOST_AUTO_TEST_CASE(dump_reads_back_the_same) {
    const std::string text =
        "[database]\nsocket = /run/mysqld/mysqld.sock\nname = relay2\n"
        "[policyd]\nlisten = inet:127.0.0.1:12201\nlisten = unix:/tmp/p.sock\nsocket_mode = 600\n"
        "[milter]\nlisten = inet6:12251@::1\nheader_from_action = tempfail\n"
        "[general]\nnode = mx1\n[abuse]\nnotify_command = \"/opt/a#b/notify\"\n";
    const std::string dump = relay::dump_config(relay::parse_config(text, "x.conf"));
    const std::string again = relay::dump_config(relay::parse_config(dump, "x.conf"));
    BOOST_CHECK_MESSAGE(dump == again, "case round trip: got\n" << again << "\nwant\n" << dump);
    BOOST_CHECK_MESSAGE(dump.find("listen = unix:/tmp/p.sock") != std::string::npos, "case list in dump: got\n" << dump);
    BOOST_CHECK_MESSAGE(dump.find("notify_command = \"/opt/a#b/notify\"") != std::string::npos, "case # quoted in dump: got\n" << dump);
}

BOOST_AUTO_TEST_CASE(every_key_documented_everywhere) {
    const std::vector<std::string> keys = keys_of(relay::dump_config(relay::parse_config("")));
    BOOST_CHECK_MESSAGE(keys.size() >= 40, "case key count: got " << keys.size() << ", want >= 40");
    const std::string reference = relay::config_reference();
    const std::string docs = read_source_file("docs/configuration.md");
    const std::string example = read_source_file("contrib/relay-authority.conf.example");
    for (const auto& key : keys) {
        const std::string section = key.substr(0, key.find(']') + 1);
        const std::string name = key.substr(key.find(' ') + 1);
        BOOST_CHECK_MESSAGE(reference.find("  " + name + " = ") != std::string::npos,
                            "case reference " << key << ": got missing, want documented in config_reference()");
        BOOST_CHECK_MESSAGE(docs.find("`" + name + "`") != std::string::npos,
                            "case docs/configuration.md " << key << ": got missing, want a `" << name << "` entry");
        BOOST_CHECK_MESSAGE(std::regex_search(example, std::regex("(^|\n)# " + name + " =( |\n)")),
                            "case example " << key << ": got missing, want a line '# " << name << " = ...'");
        BOOST_CHECK_MESSAGE(example.find(section) != std::string::npos, "case example section " << section << ": got missing");
    }
}

BOOST_AUTO_TEST_CASE(example_file_is_the_defaults) {
    // Uncommenting every "# key = value" line of the example must give a valid file equal to the defaults.
    std::istringstream in(read_source_file("contrib/relay-authority.conf.example"));
    std::string line, uncommented;
    const std::regex setting("^# [a-z_]+ =( .*)?$");
    while (std::getline(in, line)) uncommented += (std::regex_match(line, setting) ? line.substr(2) : line) + "\n";
    try {
        Config from_example = relay::parse_config(uncommented, "example");
        Config defaults = relay::parse_config("", "example");
        from_example.general.node = defaults.general.node;
        const std::string got = relay::dump_config(from_example), want = relay::dump_config(defaults);
        BOOST_CHECK_MESSAGE(got == want, "case example = defaults: got\n" << got << "\nwant\n" << want);
    } catch (const std::exception& e) {
        BOOST_ERROR("case example parses: got '" << e.what() << "', want no error");
    }
}

BOOST_AUTO_TEST_CASE(load_config_names_missing_file) {
    try {
        relay::load_config("/nonexistent/relay.conf");
        BOOST_ERROR("case missing file: got no error, want one");
    } catch (const relay::ConfigError& e) {
        const std::string message = e.what();
        BOOST_CHECK_MESSAGE(message.find("/nonexistent/relay.conf") != std::string::npos,
                            "case missing file: got '" << message << "', want the path in it");
    }
}

BOOST_AUTO_TEST_CASE(listen_parsers) {
    struct Case { const char* name; std::string value; bool milter; std::string want; };
    const std::vector<Case> cases = {
        {"policyd inet", "inet:127.0.0.1:10040", false, "inet 127.0.0.1 10040"},
        {"policyd inet6", "inet:[::1]:10040", false, "inet6 ::1 10040"},
        {"policyd unix", "unix:/run/p.sock", false, "unix /run/p.sock"},
        {"milter inet", "inet:10041@127.0.0.1", true, "inet 127.0.0.1 10041"},
        {"milter inet6", "inet6:10041@::1", true, "inet6 ::1 10041"},
        {"milter local", "local:/run/m.sock", true, "unix /run/m.sock"},
    };
    for (const auto& tc : cases) {
        const relay::ListenAddress a = tc.milter ? relay::parse_milter_listen(tc.value) : relay::parse_policyd_listen(tc.value);
        std::string got;
        switch (a.family) {
        case relay::ListenAddress::Family::inet: got = "inet " + a.host + " " + std::to_string(a.port); break;
        case relay::ListenAddress::Family::inet6: got = "inet6 " + a.host + " " + std::to_string(a.port); break;
        case relay::ListenAddress::Family::unix_path: got = "unix " + a.path; break;
        }
        BOOST_CHECK_MESSAGE(got == tc.want, "case " << tc.name << ": got '" << got << "', want '" << tc.want << "'");
    }
}

BOOST_AUTO_TEST_SUITE_END()
