#include "core/store/nodes.hpp"

#include "core/store/mysql_connection.hpp"

namespace relay {

bool NodesReport::ok() const {
    for (const auto& n : nodes)
        if (!n.problems.empty()) return false;
    return true;
}

NodesReport read_nodes(MysqlPool& pool, unsigned max_age_seconds, unsigned grace_seconds) {
    NodesReport report;
    pool.run("reading the heartbeats (nodes)", [&](MysqlConnection& c) {
        report = {};
        auto st = c.prepare(
            "SELECT n.node, n.daemon, n.version, UNIX_TIMESTAMP(n.started_at), "
            "FLOOR(UNIX_TIMESTAMP(n.last_seen_at)), TIMESTAMPDIFF(SECOND, n.last_seen_at, NOW(3)), "
            "n.rules_generation, n.database_server, n.state, g.generation, "
            "(COALESCE(n.rules_generation, 0) < g.generation "
            "  AND n.last_seen_at > g.changed_at + INTERVAL ? SECOND) AS behind "
            "FROM nodes n CROSS JOIN change_generation g ORDER BY n.node, n.daemon");
        st->setUInt(1, grace_seconds);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        auto generation = c.query("SELECT generation FROM change_generation WHERE id = 1");
        if (generation->next()) report.generation = generation->getUInt64(1);
        while (rs->next()) {
            NodeRow row;
            row.node = rs->getString(1);
            row.daemon = rs->getString(2);
            row.version = rs->getString(3);
            row.started_at = rs->getInt64(4);
            row.last_seen_at = rs->getInt64(5);
            row.age_seconds = rs->getInt64(6);
            if (!rs->isNull(7)) row.rules_generation = rs->getUInt64(7);
            row.database_server = rs->getString(8);
            row.state = rs->getString(9);
            row.behind = rs->getBoolean(11);
            if (row.state == "stopped") row.problems.push_back("stopped");
            else if (row.age_seconds > static_cast<std::int64_t>(max_age_seconds))
                row.problems.push_back("heartbeat " + std::to_string(row.age_seconds) + " s old");
            else if (row.state != "serving") row.problems.push_back("state " + row.state);
            if (row.behind && row.state != "stopped") row.problems.push_back("rules generation behind");
            report.nodes.push_back(std::move(row));
        }
    });
    return report;
}

}  // namespace relay
