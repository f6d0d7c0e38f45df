#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <prometheus/text_serializer.h>

#include "core/base/errors.hpp"
#include "core/metrics/atomic_histogram.hpp"
#include "core/metrics/metrics.hpp"
#include "core/metrics/server.hpp"

using namespace relay;

namespace {

// The exposition text of every collectable, as /metrics serves it.
std::string exposition() {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& c : metrics::collectables())
        for (auto& f : c->Collect()) families.push_back(std::move(f));
    return prometheus::TextSerializer().Serialize(families);
}

bool contains(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

// A fresh metrics instance for one test case, forgotten afterwards.
struct Enabled {
    explicit Enabled(std::chrono::seconds stale = std::chrono::seconds(300)) {
        metrics::reset_for_tests();
        metrics::enable("relay-policyd", stale);
    }
    ~Enabled() { metrics::reset_for_tests(); }
};

// GET path over HTTP/1.0 from 127.0.0.1:port; returns the whole response ("" if no connection).
std::string http_get(int port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
        (void)!::write(fd, request.data(), request.size());
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return response;
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

Decision refusal(Reason reason) { return make_refusal(Verdict::reject, reason, 553, "5.7.1", "no"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics_suite)

BOOST_AUTO_TEST_CASE(hooks_do_nothing_until_enabled) {
    metrics::reset_for_tests();
    metrics::on_decision(Stage::rcpt, refusal(Reason::sender_not_owned), 0.001);
    metrics::on_connection_accepted();
    BOOST_TEST(!metrics::enabled());
    BOOST_TEST(metrics::collectables().empty());
    // Health and the heartbeat's view are kept all the same.
    BOOST_TEST(metrics::health().reason == "rules not yet loaded");
    BOOST_TEST(metrics::served_rules().state == "starting");
    metrics::on_rules_loaded(12, 1, 0.1);
    BOOST_TEST(metrics::health().ok);
    BOOST_TEST(metrics::served_rules().state == "serving");
    BOOST_TEST(metrics::served_rules().generation.value_or(0) == 12u);
    metrics::reset_for_tests();
}

BOOST_AUTO_TEST_CASE(decisions_are_counted_by_stage_verdict_and_reason) {
    Enabled on;
    for (int i = 0; i < 5; ++i) metrics::on_decision(Stage::mail, refusal(Reason::sender_not_owned), 0.0002);
    metrics::on_decision(Stage::rcpt, Decision{}, 0.00001);
    const auto text = exposition();
    BOOST_TEST(contains(text, "relay_authority_decisions_total{daemon=\"relay-policyd\",reason=\"sender_not_owned\","
                              "stage=\"mail\",verdict=\"reject\"} 5"),
               text);
    BOOST_TEST(contains(text, "relay_authority_decision_duration_seconds_count{daemon=\"relay-policyd\",stage=\"mail\"} 5"));
    BOOST_TEST(contains(text, "relay_authority_decision_duration_seconds_bucket{daemon=\"relay-policyd\",stage=\"mail\","
                              "le=\"0.00025\"} 5"));
    BOOST_TEST(contains(text, "relay_authority_decision_duration_seconds_bucket{daemon=\"relay-policyd\",stage=\"mail\","
                              "le=\"0.0001\"} 0"));
    BOOST_TEST(contains(text, "relay_authority_build_info{daemon=\"relay-policyd\",version=\"" RELAY_VERSION "\"} 1"));
}

BOOST_AUTO_TEST_CASE(counters_by_cause_kind_and_outcome) {
    Enabled on;
    const auto watch = metrics::watch_audit_trail([] { return metrics::AuditTrailFigures{7, 12, 3, 1}; });
    metrics::on_database_error(metrics::DbErrorKind::permanent);
    metrics::on_charge(metrics::ChargeOutcome::refused, 0.002);
    metrics::on_connection_accepted();
    metrics::on_connection_accepted();
    metrics::on_connection_closed();
    const auto text = exposition();
    BOOST_TEST(contains(text, "relay_authority_audit_events_dropped_total{daemon=\"relay-policyd\",cause=\"queue_full\"} 3"), text);
    BOOST_TEST(contains(text, "relay_authority_audit_events_dropped_total{daemon=\"relay-policyd\",cause=\"not_writable\"} 1"));
    BOOST_TEST(contains(text, "relay_authority_audit_events_written_total{daemon=\"relay-policyd\"} 12"));
    BOOST_TEST(contains(text, "relay_authority_audit_queue_depth{daemon=\"relay-policyd\"} 7"));
    BOOST_TEST(contains(text, "relay_authority_database_errors_total{daemon=\"relay-policyd\",kind=\"permanent\"} 1"));
    BOOST_TEST(contains(text, "relay_authority_rate_limit_charges_total{daemon=\"relay-policyd\",outcome=\"refused\"} 1"));
    BOOST_TEST(contains(text, "relay_authority_connections_open{daemon=\"relay-policyd\"} 1"));
    BOOST_TEST(contains(text, "relay_authority_connections_accepted_total{daemon=\"relay-policyd\"} 2"));
}

BOOST_AUTO_TEST_CASE(health_tells_the_cause) {
    Enabled on(std::chrono::seconds(0));
    BOOST_TEST(metrics::health().reason == "rules not yet loaded");
    metrics::on_rules_loaded(7, 3, 0.01);
    BOOST_TEST(metrics::health().reason == "rules stale");  // max_stale 0: any age is stale
    Enabled fresh;
    metrics::on_rules_loaded(7, 3, 0.01);
    metrics::on_database_up(true, "db1");
    BOOST_TEST(metrics::health().ok);
    BOOST_TEST(metrics::health().reason == "ok");
    metrics::on_database_up(false, "db1");
    BOOST_TEST(!metrics::health().ok);
    BOOST_TEST(metrics::health().reason == "database unreachable");
    metrics::on_database_up(true, "db1");
    BOOST_TEST(metrics::health().ok);
    const auto text = exposition();
    BOOST_TEST(contains(text, "relay_authority_rules_generation{daemon=\"relay-policyd\"} 7"));
    BOOST_TEST(contains(text, "relay_authority_rules_age_seconds{daemon=\"relay-policyd\"}"));
}

BOOST_AUTO_TEST_CASE(endpoint_parsing_names_the_key) {
    const auto e = metrics::parse_endpoint("[metrics] listen", "127.0.0.1:9464");
    BOOST_TEST(e.host == "127.0.0.1");
    BOOST_TEST(e.port == 9464u);
    BOOST_TEST(metrics::parse_endpoint("[metrics] listen", "[::1]:9465").host == "::1");
    BOOST_TEST(metrics::parse_endpoint("[metrics] listen", "").port == 0u);
    for (const char* bad : {"9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "::1:9464",
                            "[::1]9464", "127.0.0.1:94x4", ":9464"}) {
        try {
            metrics::parse_endpoint("[metrics] listen", bad);
            BOOST_ERROR("accepted " << bad);
        } catch (const ConfigError& e) {
            BOOST_TEST(std::string(e.what()).rfind("[metrics] listen = '", 0) == 0, e.what());
        }
    }
}

BOOST_AUTO_TEST_CASE(server_serves_metrics_healthz_and_404) {
    Enabled on;
    const int port = free_port();
    metrics::Server server({"127.0.0.1", static_cast<unsigned>(port)}, "[metrics] listen");
    BOOST_TEST(server.port() == port);
    auto health = http_get(port, "/healthz");
    BOOST_TEST(health.rfind("HTTP/1.0 503", 0) == 0, health);
    BOOST_TEST(contains(health, "\r\n\r\nrules not yet loaded\n"), health);
    metrics::on_rules_loaded(1, 1, 0.01);
    metrics::on_database_up(true, "db1");
    health = http_get(port, "/healthz");
    BOOST_TEST(health.rfind("HTTP/1.0 200", 0) == 0, health);
    BOOST_TEST(contains(health, "\r\n\r\nok\n"), health);
    const auto text = http_get(port, "/metrics");
    BOOST_TEST(text.substr(0, 13).find(" 200 ") != std::string::npos, text.substr(0, 40));
    BOOST_TEST(contains(text, "relay_authority_rules_generation{daemon=\"relay-policyd\"} 1"), text);
    for (const char* path : {"/", "/metrics/x", "/healthz/", "/etc/passwd", "/metrics.txt"}) {
        const auto other = http_get(port, path);
        BOOST_TEST(other.rfind("HTTP/1.0 404", 0) == 0, path << ": " << other);
    }
    // A second listener on the same port: a clear error naming where and the key.
    try {
        metrics::Server second({"127.0.0.1", static_cast<unsigned>(port)}, "[metrics] listen");
        BOOST_ERROR("bound a port in use");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()) == "cannot listen on 127.0.0.1:" + std::to_string(port) +
                                                " ([metrics] listen): address in use or not available on this host");
    }
}

BOOST_AUTO_TEST_SUITE_END()
