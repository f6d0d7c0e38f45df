// Reading the heartbeats (table nodes, migration 005) for `relayctl status`: every daemon of every host,
// with what is wrong with it. The ages and the comparison with change_generation are computed by the
// database against its own clock (NOW()), so clock skew between hosts does not matter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relay {

class MysqlPool;

struct NodeRow {
    std::string node, daemon, version;
    std::int64_t started_at = 0;    // UNIX seconds
    std::int64_t last_seen_at = 0;  // UNIX seconds
    std::int64_t age_seconds = 0;   // since last_seen_at, by the database's clock
    std::optional<std::uint64_t> rules_generation;
    std::string database_server;
    std::string state;
    bool behind = false;            // reported after a rule change had time to reach it, still older rules
    std::vector<std::string> problems;  // "stopped", "heartbeat 42 s old", "rules generation behind", ...
};

struct NodesReport {
    std::uint64_t generation = 0;   // change_generation now
    std::vector<NodeRow> nodes;     // by node, daemon
    bool ok() const;                // every node fine
};

// A node is flagged when its heartbeat is older than max_age_seconds, when it stopped, when its state is
// not serving, and when it is behind: its rules generation is older than change_generation although it
// reported more than grace_seconds after the change (the daemons poll about once a second, beat every 5 s).
NodesReport read_nodes(MysqlPool& pool, unsigned max_age_seconds, unsigned grace_seconds = 10);

}  // namespace relay
