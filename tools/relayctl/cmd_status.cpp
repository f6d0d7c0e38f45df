// relayctl status: every relay-policyd and relay-milter that ever wrote a heartbeat (table nodes), from
// any host, with what is wrong with each (docs/monitoring.md).
#include <iostream>

#include "core/store/mysql_connection.hpp"
#include "core/store/nodes.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {

namespace {

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}

Json to_json(const NodesReport& report) {
    Json nodes = Json::array();
    for (const auto& n : report.nodes) {
        Json problems = Json::array();
        for (const auto& p : n.problems) problems.push(p);
        Json row = Json::object();
        row.set("node", n.node).set("daemon", n.daemon).set("version", n.version);
        row.set("started_at", format_time_iso(n.started_at)).set("last_seen_at", format_time_iso(n.last_seen_at));
        row.set("age_seconds", static_cast<long long>(n.age_seconds)).set("rules_generation", n.rules_generation);
        row.set("database_server", n.database_server).set("state", n.state).set("ok", n.problems.empty());
        row.set("problems", std::move(problems));
        nodes.push(std::move(row));
    }
    Json out = Json::object();
    out.set("generation", static_cast<unsigned long long>(report.generation)).set("ok", report.ok());
    out.set("nodes", std::move(nodes));
    return out;
}

void print(std::ostream& out, const NodesReport& report) {
    Table table{{"NODE", "DAEMON", "VERSION", "STATE", "GENERATION", "LAST SEEN", "AGE", "DATABASE", "PROBLEMS"}, {}};
    for (const auto& n : report.nodes)
        table.rows.push_back({n.node, n.daemon, n.version, n.state,
                              n.rules_generation ? std::to_string(*n.rules_generation) : "-", format_time(n.last_seen_at),
                              std::to_string(n.age_seconds) + "s", n.database_server,
                              n.problems.empty() ? "ok" : join(n.problems)});
    out << "change generation: " << report.generation << "\n";
    if (report.nodes.empty()) {
        out << "no daemon has written a heartbeat yet\n";
        return;
    }
    table.print(out);
}

}  // namespace

int cmd_status(Context& ctx, const Args& args) {
    Command cmd("status [--max-age SECONDS]",
                "Lists every relay-policyd and relay-milter of every host from their heartbeats (table nodes) "
                "and flags those stopped, silent for longer than --max-age, not serving, or serving a rules "
                "generation behind the database's. Exit code 0 when all are fine, 2 when one is flagged or none "
                "ever reported.");
    cmd.options.add_options()("max-age", po::value<unsigned>()->default_value(30),
                              "seconds after which a heartbeat counts as old (daemons write one every 5 s)");
    auto vm = cmd.parse(ctx, args);
    MysqlPool pool(ctx.config().database);
    const NodesReport report = read_nodes(pool, vm["max-age"].as<unsigned>());
    if (ctx.json) emit(to_json(report));
    else print(std::cout, report);
    return report.ok() && !report.nodes.empty() ? kExitOk : kExitNotFound;
}

}  // namespace relay::ctl
