#include "core/metrics/metrics.hpp"

#include <array>
#include <mutex>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "core/metrics/atomic_histogram.hpp"

namespace relay::metrics {

namespace detail {
std::atomic<Metrics*> instance{nullptr};
}  // namespace detail

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using Clock = std::chrono::steady_clock;

constexpr const char* kPrefix = "relay_authority_";
// Room for every value of Stage, Verdict and Reason, with space for codes added later.
constexpr std::size_t kStages = 8, kVerdicts = 8, kReasons = 64;

const std::vector<std::string> kStageNames{"connect", "helo", "mail", "rcpt", "data", "end_of_message"};
// Decisions take microseconds from memory, milliseconds when they wait on the database.
const std::vector<double> kLatencyBounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,    0.025,  0.05,    0.1,    0.25,   0.5,    1,     2.5};
const std::vector<double> kBatchBounds{1, 2, 4, 8, 16, 32, 64, 128};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

// Gauges computed when Prometheus scrapes: the age of the rules.
class ComputedGauges final : public prometheus::Collectable {
public:
    ComputedGauges(std::string daemon, const std::atomic<std::int64_t>& last_check_ns)
        : daemon_(std::move(daemon)), last_check_ns_(last_check_ns) {}
    std::vector<prometheus::MetricFamily> Collect() const override {
        prometheus::MetricFamily family{std::string(kPrefix) + "rules_age_seconds",
                                        "Seconds since the rules were last confirmed current with the database "
                                        "(absent until the first load)",
                                        prometheus::MetricType::Gauge,
                                        {}};
        const auto last = last_check_ns_.load(std::memory_order_relaxed);
        if (last != 0) {
            prometheus::ClientMetric metric;
            metric.label.push_back({"daemon", daemon_});
            metric.gauge.value = static_cast<double>(now_ns() - last) / 1e9;
            family.metric.push_back(metric);
        }
        return {family};
    }

private:
    std::string daemon_;
    const std::atomic<std::int64_t>& last_check_ns_;
};

// The audit trail's figures, read from the event writer when Prometheus scrapes.
namespace {
struct AuditSource {
    std::mutex mutex;
    std::function<AuditTrailFigures()> read;  // under mutex; empty: no audit trail (yet)
};
AuditSource audit_source;
}  // namespace

class AuditTrailFamilies final : public prometheus::Collectable {
public:
    explicit AuditTrailFamilies(std::string daemon) : daemon_(std::move(daemon)) {}
    std::vector<prometheus::MetricFamily> Collect() const override {
        AuditTrailFigures f;
        {
            std::lock_guard<std::mutex> lock(audit_source.mutex);
            if (!audit_source.read) return {};
            f = audit_source.read();
        }
        using prometheus::MetricType;
        auto depth = family("audit_queue_depth", "Audit-trail events waiting to be written", MetricType::Gauge);
        depth.metric.push_back(metric({}, static_cast<double>(f.queue_depth), MetricType::Gauge));
        auto written = family("audit_events_written_total",
                              "Decisions written to relay_events (a row may stand for several repeats)",
                              MetricType::Counter);
        written.metric.push_back(metric({}, static_cast<double>(f.written), MetricType::Counter));
        auto dropped = family("audit_events_dropped_total",
                              "Decisions and last-use stamps not written to the audit trail, by cause "
                              "(queue_full, not_writable, spool_full)",
                              MetricType::Counter);
        dropped.metric.push_back(metric({"cause", "queue_full"}, static_cast<double>(f.dropped_queue_full), MetricType::Counter));
        dropped.metric.push_back(
            metric({"cause", "not_writable"}, static_cast<double>(f.dropped_not_writable), MetricType::Counter));
        dropped.metric.push_back(
            metric({"cause", "spool_full"}, static_cast<double>(f.dropped_spool_full), MetricType::Counter));
        auto spool = family("audit_spool_bytes",
                            "Bytes of audit events kept in the spool file while no database server answers",
                            MetricType::Gauge);
        spool.metric.push_back(metric({}, static_cast<double>(f.spool_bytes), MetricType::Gauge));
        return {depth, written, dropped, spool};
    }

private:
    static prometheus::MetricFamily family(const std::string& name, const std::string& help,
                                           prometheus::MetricType type) {
        return prometheus::MetricFamily{std::string(kPrefix) + name, help, type, {}};
    }
    prometheus::ClientMetric metric(prometheus::ClientMetric::Label label, double value,
                                    prometheus::MetricType type) const {
        prometheus::ClientMetric m;
        m.label.push_back({"daemon", daemon_});
        if (!label.name.empty()) m.label.push_back(label);
        if (type == prometheus::MetricType::Counter) m.counter.value = value;
        else m.gauge.value = value;
        return m;
    }
    std::string daemon_;
};

AuditTrailWatch::~AuditTrailWatch() {
    std::lock_guard<std::mutex> lock(audit_source.mutex);
    audit_source.read = nullptr;
}

std::unique_ptr<AuditTrailWatch> watch_audit_trail(std::function<AuditTrailFigures()> read) {
    std::lock_guard<std::mutex> lock(audit_source.mutex);
    audit_source.read = std::move(read);
    return std::make_unique<AuditTrailWatch>();
}

// What the rules refresh last saw: kept whether or not metrics are enabled, for /healthz and the heartbeat.
// Written by the refresh thread (about once a second), read by probes and the heartbeat.
namespace {
struct Served {
    std::atomic<bool> loaded{false};
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::size_t> accounts{0};
    std::atomic<std::int64_t> last_check_ns{0};
    std::atomic<int> databases_down{0};
    std::atomic<std::int64_t> max_stale_ns{300'000'000'000};
    std::mutex mutex;
    std::unordered_map<std::string, bool> servers;  // up?
    std::string server = "database";                // the configured one (set_database_server)
};
Served served;
}  // namespace

struct Metrics::Impl {
    std::string daemon;
    std::chrono::seconds max_stale;
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    prometheus::Labels constant;

    Family<Counter>* decisions = nullptr;
    std::array<std::atomic<Counter*>, kStages * kVerdicts * kReasons> decision_counters{};
    Counter* malformed = nullptr;
    Gauge* connections_open = nullptr;
    Counter* connections_accepted = nullptr;
    Counter* connections_refused = nullptr;
    Gauge* rules_generation = nullptr;
    Gauge* rules_accounts = nullptr;
    Gauge* rules_load_seconds = nullptr;
    Family<Gauge>* database_up_family = nullptr;
    std::unordered_map<std::string, Gauge*> database_up;  // under served.mutex
    std::array<Counter*, 3> database_errors{};
    Counter* database_reconnects = nullptr;
    Counter* database_failovers = nullptr;
    std::array<Counter*, 3> charges{};
    Counter* charge_retries = nullptr;
    Counter* charge_conflicts = nullptr;
    Counter* suspensions = nullptr;
    Gauge* heartbeat_time = nullptr;
    Gauge* rate_lease_processes = nullptr;

    std::shared_ptr<HistogramFamily> decision_seconds, charge_seconds, charge_batch;
    std::shared_ptr<ComputedGauges> computed;
    std::shared_ptr<AuditTrailFamilies> audit_trail;

    Impl(const std::string& daemon_name, std::chrono::seconds stale) : daemon(daemon_name), max_stale(stale) {
        constant = {{"daemon", daemon}};
        build();
    }

    Family<Counter>& counter(const std::string& name, const std::string& help) {
        return prometheus::BuildCounter().Name(kPrefix + name).Help(help).Labels(constant).Register(*registry);
    }
    Family<Gauge>& gauge(const std::string& name, const std::string& help) {
        return prometheus::BuildGauge().Name(kPrefix + name).Help(help).Labels(constant).Register(*registry);
    }
    std::shared_ptr<HistogramFamily> histogram(const std::string& name, const std::string& help,
                                               const std::string& label, const std::vector<std::string>& values,
                                               const std::vector<double>& bounds) {
        return std::make_shared<HistogramFamily>(kPrefix + name, help,
                                                 std::vector<prometheus::ClientMetric::Label>{{"daemon", daemon}},
                                                 label, values, bounds);
    }

    void build();
};

void Metrics::Impl::build() {
    gauge("build_info", "Always 1; the version of the daemon in the version label")
        .Add({{"version", RELAY_VERSION}})
        .Set(1);
    decisions = &counter("decisions_total", "Decisions made, by SMTP stage, verdict and reason code");
    malformed = &counter("malformed_requests_total", "Requests that broke the protocol or its limits").Add({});
    connections_open = &gauge("connections_open", "Connections from the MTA open now").Add({});
    connections_accepted = &counter("connections_accepted_total", "Connections from the MTA accepted").Add({});
    connections_refused = &counter("connections_refused_total", "Connections refused at the connection cap")
                               .Add({{"cause", "max_connections"}});
    rules_generation = &gauge("rules_generation", "Change generation of the rules served").Add({});
    rules_accounts = &gauge("rules_accounts", "SMTP authorities in the rules served").Add({});
    rules_load_seconds = &gauge("rules_load_duration_seconds", "How long the last rules load took").Add({});
    database_up_family = &gauge("database_up", "1 when the last request to this database server succeeded");
    auto& errors = counter("database_errors_total", "Database errors, by kind (transient, permanent, conflict)");
    database_errors = {&errors.Add({{"kind", "transient"}}), &errors.Add({{"kind", "permanent"}}),
                       &errors.Add({{"kind", "conflict"}})};
    database_reconnects = &counter("database_reconnects_total", "New database connections opened after a failure").Add({});
    database_failovers = &counter("database_failovers_total", "Switches to another database server").Add({});
    auto& charge = counter("rate_limit_charges_total", "Rate-limit charges, by outcome (charged, refused, unavailable)");
    charges = {&charge.Add({{"outcome", "charged"}}), &charge.Add({{"outcome", "refused"}}),
               &charge.Add({{"outcome", "unavailable"}})};
    charge_retries = &counter("rate_limit_retries_total", "Charge transactions retried (deadlock, lost connection)").Add({});
    charge_conflicts = &counter("rate_limit_conflicts_total", "Charge transactions that met a concurrent update").Add({});
    suspensions = &counter("abuse_suspensions_total", "Accounts suspended automatically").Add({});
    heartbeat_time = &gauge("heartbeat_last_success_timestamp_seconds",
                            "When the heartbeat was last written to the nodes table (UNIX time; 0 = never)").Add({});
    rate_lease_processes = &gauge("rate_lease_processes", "Daemons the rate-limit leases share what is left "
                                  "among (live heartbeats in nodes; 0 = leases off)").Add({});

    decision_seconds = histogram("decision_duration_seconds", "Time to decide one request, by SMTP stage", "stage",
                                 kStageNames, kLatencyBounds);
    charge_seconds = histogram("rate_limit_charge_duration_seconds", "Time to charge the rate limits of one message",
                               "", {}, kLatencyBounds);
    charge_batch = histogram("rate_limit_batch_size", "Charges committed together in one transaction", "", {},
                             kBatchBounds);
    computed = std::make_shared<ComputedGauges>(daemon, served.last_check_ns);
    audit_trail = std::make_shared<AuditTrailFamilies>(daemon);
}

Metrics::Metrics(const std::string& daemon, std::chrono::seconds max_stale)
    : impl_(std::make_unique<Impl>(daemon, max_stale)) {}
Metrics::~Metrics() = default;

namespace {
std::unique_ptr<Metrics> owner;  // lives until exit: the hooks may run until the last thread stops

Metrics::Impl* impl() {
    Metrics* m = detail::get();
    return m ? &m->impl() : nullptr;
}
}  // namespace

void enable(const std::string& daemon, std::chrono::seconds max_stale) {
    set_max_stale(max_stale);
    if (detail::get()) return;
    owner = std::make_unique<Metrics>(daemon, max_stale);
    detail::instance.store(owner.get(), std::memory_order_release);
    // What the refresh saw before the endpoint existed (relay-milter reads the rules before it forks).
    auto& m = owner->impl();
    if (served.loaded.load()) {
        m.rules_generation->Set(static_cast<double>(served.generation.load()));
        m.rules_accounts->Set(static_cast<double>(served.accounts.load()));
    }
    std::lock_guard<std::mutex> lock(served.mutex);
    for (const auto& [server, up] : served.servers)
        (m.database_up[server] = &m.database_up_family->Add({{"server", server}}))->Set(up ? 1 : 0);
}

bool enabled() { return detail::get() != nullptr; }

void set_max_stale(std::chrono::seconds max_stale) {
    served.max_stale_ns.store(std::chrono::nanoseconds(max_stale).count(), std::memory_order_relaxed);
}

void reset_for_tests() {
    detail::instance.store(nullptr, std::memory_order_release);
    owner.reset();
    std::lock_guard<std::mutex> lock(served.mutex);
    served.loaded = false;
    served.generation = 0;
    served.last_check_ns = 0;
    served.databases_down = 0;
    served.servers.clear();
    served.max_stale_ns = 300'000'000'000;
}

void set_database_server(const std::string& server) {
    std::lock_guard<std::mutex> lock(served.mutex);
    served.server = server;
}

std::vector<std::shared_ptr<prometheus::Collectable>> collectables() {
    auto* m = impl();
    if (!m) return {};
    return {m->registry, m->decision_seconds, m->charge_seconds, m->charge_batch, m->computed, m->audit_trail};
}

namespace {
bool stale() {
    return now_ns() - served.last_check_ns.load(std::memory_order_relaxed) >
           served.max_stale_ns.load(std::memory_order_relaxed);
}
}  // namespace

Health health() {
    if (!served.loaded.load(std::memory_order_relaxed)) return {false, "rules not yet loaded"};
    if (stale()) return {false, "rules stale"};
    if (served.databases_down.load(std::memory_order_relaxed) > 0) return {false, "database unreachable"};
    return {true, "ok"};
}

ServedRules served_rules() {
    ServedRules out;
    if (!served.loaded.load(std::memory_order_relaxed)) return out;
    out.generation = served.generation.load(std::memory_order_relaxed);
    out.state = stale() ? "stale" : "serving";
    return out;
}

void on_decision(Stage stage, const Decision& decision, double seconds) {
    auto* m = impl();
    if (!m) return;
    const auto s = static_cast<std::size_t>(stage), v = static_cast<std::size_t>(decision.verdict),
               r = static_cast<std::size_t>(decision.reason);
    if (s >= kStages || v >= kVerdicts || r >= kReasons) return;
    auto& slot = m->decision_counters[(s * kVerdicts + v) * kReasons + r];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (!counter) {  // first decision of this kind: Family::Add locks, and returns the same counter to racers
        counter = &m->decisions->Add(
            {{"stage", to_string(stage)}, {"verdict", to_string(decision.verdict)}, {"reason", to_string(decision.reason)}});
        slot.store(counter, std::memory_order_release);
    }
    counter->Increment();
    m->decision_seconds->observe(s, seconds);
}

void on_malformed_request() {
    if (auto* m = impl()) m->malformed->Increment();
}
void on_connection_accepted() {
    if (auto* m = impl()) {
        m->connections_accepted->Increment();
        m->connections_open->Increment();
    }
}
void on_connection_closed() {
    if (auto* m = impl()) m->connections_open->Decrement();
}
void on_connection_refused() {
    if (auto* m = impl()) m->connections_refused->Increment();
}
void on_rules_loaded(std::uint64_t generation, std::size_t accounts, double load_seconds) {
    served.generation.store(generation, std::memory_order_relaxed);
    served.accounts.store(accounts, std::memory_order_relaxed);
    served.last_check_ns.store(now_ns(), std::memory_order_relaxed);
    served.loaded.store(true, std::memory_order_relaxed);
    auto* m = impl();
    if (!m) return;
    m->rules_generation->Set(static_cast<double>(generation));
    m->rules_accounts->Set(static_cast<double>(accounts));
    m->rules_load_seconds->Set(load_seconds);
}
void on_rules_checked() { served.last_check_ns.store(now_ns(), std::memory_order_relaxed); }
void on_database_up(bool up, const std::string& server) {
    std::lock_guard<std::mutex> lock(served.mutex);
    served.servers[server] = up;
    int down = 0;
    for (const auto& [name, is_up] : served.servers) down += is_up ? 0 : 1;
    served.databases_down.store(down, std::memory_order_relaxed);
    auto* m = impl();
    if (!m) return;
    auto& gauge = m->database_up[server];
    if (!gauge) gauge = &m->database_up_family->Add({{"server", server}});
    gauge->Set(up ? 1 : 0);
}
void on_database_up(bool up) {
    std::string server;
    {
        std::lock_guard<std::mutex> lock(served.mutex);
        server = served.server;
    }
    on_database_up(up, server);
}
void on_database_error(DbErrorKind kind) {
    if (auto* m = impl()) m->database_errors[static_cast<std::size_t>(kind)]->Increment();
}
void on_database_reconnect() {
    if (auto* m = impl()) m->database_reconnects->Increment();
}
void on_database_failover() {
    if (auto* m = impl()) m->database_failovers->Increment();
}
void on_charge(ChargeOutcome outcome, double seconds) {
    auto* m = impl();
    if (!m) return;
    m->charges[static_cast<std::size_t>(outcome)]->Increment();
    m->charge_seconds->observe(0, seconds);
}
void on_charge_retry() {
    if (auto* m = impl()) m->charge_retries->Increment();
}
void on_charge_conflict() {
    if (auto* m = impl()) m->charge_conflicts->Increment();
}
void on_charge_batch(std::size_t charges) {
    if (auto* m = impl()) m->charge_batch->observe(0, static_cast<double>(charges));
}
void on_heartbeat_written() {
    if (auto* m = impl()) m->heartbeat_time->SetToCurrentTime();
}
void set_rate_lease_processes(unsigned processes) {
    if (auto* m = impl()) m->rate_lease_processes->Set(processes);
}
void on_suspension() {
    if (auto* m = impl()) m->suspensions->Increment();
}

}  // namespace relay::metrics
