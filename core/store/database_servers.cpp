#include "core/store/database_servers.hpp"

#include <cppconn/exception.h>

#include <map>

#include "core/config/config_checks.hpp"
#include "core/base/errors.hpp"
#include "core/base/log.hpp"
#include "core/metrics/metrics.hpp"
#include "core/store/mysql_connection.hpp"
#include "core/base/text.hpp"

namespace relay {

std::string DatabaseServer::name() const {
    if (!socket.empty()) return "unix:" + socket;
    const bool v6 = host.find(':') != std::string::npos;
    return "tcp:" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<DatabaseServer> database_servers(const DatabaseConfig& config) {
    if (!config.socket.empty()) return {DatabaseServer{"", 0, config.socket}};
    std::vector<DatabaseServer> out;
    for (const std::string& entry : config.host) {
        const DatabaseHost parsed = parse_database_host(entry);
        out.push_back(DatabaseServer{parsed.host, parsed.port ? parsed.port : config.port, ""});
    }
    if (out.empty()) out.push_back(DatabaseServer{"127.0.0.1", config.port, ""});
    return out;
}

namespace {

// Pools share an instance when they reach the same servers as the same user and database.
std::string sharing_key(const DatabaseConfig& config) {
    std::string key = describe_endpoint(config) + "|" + config.user + "|" + config.name;
    key += "|" + std::to_string(config.failback_after) + "|" + std::to_string(config.health_interval_ms);
    return key;
}

// One health check: the server answers (the connection itself proves it) and, for a Galera node, is
// ready and Synced. SHOW works on a node that is not ready, unlike SELECT.
DatabaseServers::Check probe(MysqlConnection& c) {
    GaleraStatus status;
    {
        auto rows = c.query("SHOW GLOBAL VARIABLES WHERE Variable_name = 'wsrep_on'");
        while (rows->next()) status.wsrep_on = std::string(rows->getString(2));
    }
    if (status.wsrep_on) {
        auto rows = c.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state')");
        while (rows->next()) {
            const std::string name = rows->getString(1);
            if (name == "wsrep_ready") status.wsrep_ready = std::string(rows->getString(2));
            if (name == "wsrep_local_state") status.wsrep_local_state = std::string(rows->getString(2));
        }
    }
    DatabaseServers::Check found;
    found.state = galera_state(status, &found.cause);
    return found;
}

// A probe connection gives up sooner than the requests' ones: a check that hangs delays only the news.
DatabaseConfig probe_config(DatabaseConfig config) {
    config.connect_timeout = std::min(config.connect_timeout, 2u);
    config.read_timeout = std::min(config.read_timeout, 2u);
    config.write_timeout = std::min(config.write_timeout, 2u);
    return config;
}

// probe() on a connection kept between checks (opened anew when missing or broken).
DatabaseServers::Check check_on(std::unique_ptr<MysqlConnection>& c, const DatabaseConfig& config,
                                const DatabaseServer& server, std::size_t index) {
    DatabaseServers::Check found;
    std::optional<ServerState> failure;
    try {
        if (!c) c = std::make_unique<MysqlConnection>(config, server, index, &failure);
        try {
            return probe(*c);
        } catch (const sql::SQLException& e) {
            c.reset();
            failure = server_failure_of(e.getErrorCode());
            throw_translated(e, config, server, "checking the server's health");
        }
    } catch (const std::exception& e) {
        c.reset();
        found.state = failure.value_or(ServerState::down);
        found.cause = e.what();
    }
    return found;
}

}  // namespace

std::shared_ptr<DatabaseServers> DatabaseServers::shared(const DatabaseConfig& config) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<DatabaseServers>> instances;
    const std::string key = sharing_key(config);
    std::lock_guard<std::mutex> lock(mutex);
    std::shared_ptr<DatabaseServers> found = instances[key].lock();
    if (!found) {
        found = std::make_shared<DatabaseServers>(config);
        instances[key] = found;
    }
    return found;
}

DatabaseServers::DatabaseServers(const DatabaseConfig& config)
    : config_(probe_config(config)),
      servers_(database_servers(config)),
      selection_(servers_.size(), std::chrono::seconds(config.failback_after)),
      causes_(servers_.size()),
      check_now_(servers_.size(), false) {
    if (servers_.size() == 1) return;  // nothing to choose: always the one, as before
    // The first choice: check in order until one is healthy, so the first operation has a server.
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        record(i, check(i));
        if (selection_.state(i) == ServerState::healthy) break;
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) threads_.emplace_back([this, i] { monitor(i); });
}

DatabaseServers::~DatabaseServers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
}

DatabaseServers::Check DatabaseServers::check(std::size_t index) const {
    std::unique_ptr<MysqlConnection> c;
    return check_on(c, config_, servers_.at(index), index);
}

void DatabaseServers::monitor(std::size_t index) {
    std::unique_ptr<MysqlConnection> c;  // this thread's own connection to its server
    const auto interval = std::chrono::milliseconds(config_.health_interval_ms);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        record(index, check_on(c, config_, servers_[index], index));
        lock.lock();
        wake_.wait_for(lock, interval, [this, index] { return stopping_ || check_now_[index]; });
        check_now_[index] = false;
    }
}

void DatabaseServers::check_soon(std::size_t index) {
    if (servers_.size() == 1) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        check_now_.at(index) = true;
    }
    wake_.notify_all();
}

std::string DatabaseServers::problems_locked() const {
    std::string out;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        out += (out.empty() ? "" : "; ") + servers_[i].name() + " " + server_state_name(selection_.state(i));
        if (!causes_[i].empty()) out += " (" + printable(causes_[i], 300) + ")";
    }
    return out;
}

void DatabaseServers::record(std::size_t index, const Check& found) {
    std::string state_news, in_use_news;
    bool failover = false;
    std::string now_serving;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const ServerState before = selection_.state(index);
        const std::optional<std::size_t> was = selection_.current();
        const bool changed = selection_.report(index, found.state, Clock::now());
        if (before != found.state || (found.state != ServerState::healthy && causes_[index] != found.cause)) {
            state_news = "database server " + servers_[index].name() + ": " + server_state_name(found.state);
            if (!found.cause.empty()) state_news += " (" + printable(found.cause, 300) + ")";
            if (found.state == ServerState::refused) state_news += "; skipped until that is fixed";
        }
        causes_[index] = found.cause;
        if (changed) {
            const std::optional<std::size_t> now = selection_.current();
            // A switch away from a failed server (a move back to a preferred one is no failover).
            failover = was.has_value() && selection_.state(*was) != ServerState::healthy;
            if (now) {
                now_serving = servers_[*now].name();
                in_use_news = "database server in use: " + now_serving;
                if (was && failover) in_use_news += " (was " + servers_[*was].name() + ", " +
                                                    server_state_name(selection_.state(*was)) + ")";
                else if (was) in_use_news += " (back from " + servers_[*was].name() + ": preferred, healthy for " +
                                             std::to_string(config_.failback_after) + " s)";
            } else {
                in_use_news = "no database server is usable: " + problems_locked();
            }
        }
    }
    if (!state_news.empty()) {
        if (found.state == ServerState::healthy) log_info(state_news);
        else log_warning(state_news);
    }
    if (in_use_news.empty()) return;
    if (now_serving.empty()) {
        log_error(in_use_news);
        return;
    }
    if (failover) log_warning(in_use_news);
    else log_info(in_use_news);
    metrics::set_database_server(now_serving);
    if (failover) metrics::on_database_failover();
}

std::size_t DatabaseServers::current() {
    if (servers_.size() == 1) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    const std::optional<std::size_t> now = selection_.current();
    if (now) return *now;
    throw StoreTransientError("no database server is usable: " + problems_locked());
}

std::string DatabaseServers::current_name() {
    if (servers_.size() == 1) return servers_.front().name();
    std::lock_guard<std::mutex> lock(mutex_);
    const std::optional<std::size_t> now = selection_.current();
    return now ? servers_[*now].name() : std::string();
}

void DatabaseServers::report_failure(std::size_t index, ServerState state, const std::string& cause) {
    if (servers_.size() == 1 || state == ServerState::healthy) return;
    record(index, Check{state, cause});
}

}  // namespace relay
