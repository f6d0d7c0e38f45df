// relayctl's parsers and output helpers (tools/relayctl/cli.cpp): what admins type (logins, relative
// times, sizes, counts, windows) and how tables and field blocks are printed. No database.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

#include "tools/relayctl/cli.hpp"

using namespace relay::ctl;

namespace {

// The message of the UsageError fn throws ("" when it throws none).
template <typename Fn>
std::string usage_error(Fn fn) {
    try {
        fn();
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

constexpr std::int64_t kNow = 1700000000;  // 2023-11-14 22:13:20 UTC

}  // namespace

BOOST_AUTO_TEST_SUITE(relayctl_cli)

BOOST_AUTO_TEST_CASE(login_is_split_into_local_part_and_domain) {
    const Login login = parse_login("printer@example.com");
    BOOST_TEST(login.local_part == "printer");
    BOOST_TEST(login.domain == "example.com");
    BOOST_TEST(login.str() == "printer@example.com");
}

BOOST_AUTO_TEST_CASE(malformed_logins_are_refused_with_an_example) {
    for (const char* text : {"printer", "<printer@example.com>", "", "a b@example.com"}) {
        const std::string error = usage_error([&] { parse_login(text); });
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST(contains(error, "malformed login"));
            BOOST_TEST(contains(error, "e.g. printer@example.com"));
        }
    }
}

BOOST_AUTO_TEST_CASE(relative_times_count_from_now) {
    BOOST_TEST(*parse_time("+30m", kNow, "--until") == kNow + 30 * 60);
    BOOST_TEST(*parse_time("+12h", kNow, "--until") == kNow + 12 * 3600);
    BOOST_TEST(*parse_time("+7d", kNow, "--until") == kNow + 7 * 86400);
    BOOST_TEST(*parse_time("+2w", kNow, "--until") == kNow + 14 * 86400);
    BOOST_TEST(*parse_time("@1700003600", kNow, "--until") == 1700003600);
    BOOST_TEST(!parse_time("never", kNow, "--until").has_value());
    BOOST_TEST(!parse_time("NONE", kNow, "--until").has_value());
}

BOOST_AUTO_TEST_CASE(unreadable_times_name_the_option_and_the_forms) {
    for (const char* text : {"+7", "+7y", "tomorrowish", "2030-13-45", "+"}) {
        const std::string error = usage_error([&] { parse_time(text, kNow, "--until"); });
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST(contains(error, "--until: cannot read '" + std::string(text) + "'"));
        }
    }
}

BOOST_AUTO_TEST_CASE(times_after_2038_are_refused) {
    const std::string error = usage_error([] { parse_time("@2147483648", kNow, "--valid-until"); });
    BOOST_TEST(contains(error, "after 2038-01-19"));
    BOOST_TEST(*parse_time("@2147483647", kNow, "--valid-until") == 2147483647);
}

BOOST_AUTO_TEST_CASE(sizes_take_binary_multiples) {
    BOOST_TEST(*parse_size("10485760", "--max-size") == 10485760u);
    BOOST_TEST(*parse_size("512k", "--max-size") == 512u * 1024);
    BOOST_TEST(*parse_size("10M", "--max-size") == 10u * 1024 * 1024);
    BOOST_TEST(*parse_size("10MiB", "--max-size") == 10u * 1024 * 1024);
    BOOST_TEST(*parse_size("1G", "--max-size") == 1024ull * 1024 * 1024);
    BOOST_TEST(!parse_size("none", "--max-size").has_value());
    for (const char* text : {"0", "10X", "-5", "M", ""}) {
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST(contains(usage_error([&] { parse_size(text, "--max-size"); }), "--max-size: cannot read"));
        }
    }
}

BOOST_AUTO_TEST_CASE(counts_are_positive_32_bit_numbers) {
    BOOST_TEST(*parse_count("50", "--max-recipients", false) == 50u);
    BOOST_TEST(!parse_count("unlimited", "--max-recipients", true).has_value());
    BOOST_TEST(contains(usage_error([] { parse_count("none", "--amount", false); }), "is not a positive number"));
    BOOST_TEST(contains(usage_error([] { parse_count("0", "--amount", false); }), "is not a positive number"));
    BOOST_TEST(contains(usage_error([] { parse_count("4294967296", "--amount", true); }), "(or none)"));
}

BOOST_AUTO_TEST_CASE(windows_are_durations_or_words) {
    BOOST_TEST(parse_window("3600") == 3600u);
    BOOST_TEST(parse_window("90s") == 90u);
    BOOST_TEST(parse_window("30m") == 1800u);
    BOOST_TEST(parse_window("1h") == 3600u);
    BOOST_TEST(parse_window("1d") == 86400u);
    BOOST_TEST(parse_window("hour") == 3600u);
    BOOST_TEST(parse_window("Day") == 86400u);
    BOOST_TEST(contains(usage_error([] { parse_window("367d"); }), "at most 366 days"));
    BOOST_TEST(contains(usage_error([] { parse_window("fortnight"); }), "--window: cannot read 'fortnight'"));
}

BOOST_AUTO_TEST_CASE(sizes_and_times_are_printed_as_admins_write_them) {
    BOOST_TEST(format_size(std::nullopt) == "-");
    BOOST_TEST(format_size(25u * 1024 * 1024) == "25M");
    BOOST_TEST(format_size(512u * 1024) == "512k");
    BOOST_TEST(format_size(1000u) == "1000");
    BOOST_TEST(format_time_iso(kNow) == "2023-11-14T22:13:20Z");
    BOOST_TEST(format_time(std::nullopt) == "-");
    BOOST_TEST(format_time(std::nullopt, "never") == "never");
    BOOST_TEST(format_time(253402300799) == "9999-12-31 (far future)");
}

BOOST_AUTO_TEST_CASE(tables_align_columns_and_make_cells_printable) {
    Table table{{"login", "status"}, {{"printer-2f@relay.example", "ok"}, {"a@b.example", "sus\tpended"}}};
    std::ostringstream out;
    table.print(out);
    BOOST_TEST(out.str() ==
               "login                     status\n"
               "printer-2f@relay.example  ok\n"
               "a@b.example               sus?pended\n");
}

BOOST_AUTO_TEST_CASE(tables_show_utf8_as_it_is_aligned_by_characters) {
    Table table{{"domain", "note"},
                {{"b\xC3\xBC" "cher.example", "caf\xC3\xA9"}, {"a.example", "\x1b[31mred \xE9"}, {"x", "-"}}};
    std::ostringstream out;
    table.print(out);
    BOOST_TEST(out.str() ==
               "domain          note\n"
               "b\xC3\xBC" "cher.example  caf\xC3\xA9\n"
               "a.example       ?[31mred ?\n"
               "x               -\n");
}

BOOST_AUTO_TEST_CASE(field_blocks_show_utf8_values) {
    std::ostringstream out;
    print_fields(out, {{"note", "R\xC3\xA9" "ception \xC2\x9B" "2J"}, {"login", "a@b.example"}});
    BOOST_TEST(out.str() ==
               "note:  R\xC3\xA9" "ception ?2J\n"
               "login: a@b.example\n");
}

BOOST_AUTO_TEST_CASE(field_blocks_align_keys_and_make_values_printable) {
    std::ostringstream out;
    print_fields(out, {{"login", "alice@example.com"}, {"suspend reason", "line\nbreak"}});
    BOOST_TEST(out.str() ==
               "login:          alice@example.com\n"
               "suspend reason: line?break\n");
}

BOOST_AUTO_TEST_CASE(command_parsing_refuses_unknown_and_abbreviated_options) {
    Context ctx;
    Command cmd("limit set [options]", "sets a limit");
    cmd.options.add_options()("amount", po::value<std::string>(), "the amount");
    BOOST_TEST(contains(usage_error([&] { cmd.parse(ctx, {"--frobnicate"}); }), "(see relayctl limit set --help)"));
    BOOST_TEST(!usage_error([&] { cmd.parse(ctx, {"--amo", "5"}); }).empty());
    auto vm = cmd.parse(ctx, {"--amount", "5", "--json"});
    BOOST_TEST(vm["amount"].as<std::string>() == "5");
    BOOST_TEST(ctx.json);
}

BOOST_AUTO_TEST_CASE(command_parsing_names_a_missing_positional_argument) {
    Context ctx;
    Command cmd("account show LOGIN", "shows an account");
    cmd.positional = {"login"};
    BOOST_TEST(usage_error([&] { cmd.parse(ctx, {}); }) == "missing login (usage: relayctl account show LOGIN)");
    BOOST_TEST(cmd.parse(ctx, {"alice@example.com"})["login"].as<std::string>() == "alice@example.com");
}

BOOST_AUTO_TEST_SUITE_END()
