// Which of several database servers to use: the decision only, without I/O or threads, the clock passed
// in (tests drive it with made-up times). core/database_servers.cpp feeds it what its health checks and
// failed operations find.
//
// The rule: use the first healthy server in the configured order. When the server in use fails, switch
// at once to the first healthy server that has been healthy for failback_after (or, if none has, to the
// first healthy one). A server earlier in the list than the one in use takes over only after it has been
// healthy for failback_after without interruption: a server that comes and goes does not pull every
// daemon back and forth.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace relay {

// What the last check of a server found.
enum class ServerState {
    unknown,     // not checked yet
    healthy,     // answers; a Galera node is also ready and Synced
    down,        // no connection, lost connection, timeout
    not_synced,  // answers, but a Galera node that is not ready or not Synced (joining, donor, non-primary)
    refused,     // refused our login or database (wrong credentials, missing grants): an admin must act
};

const char* server_state_name(ServerState state);  // "healthy", "down", "not Synced", ...

// What a server that answered is, from its variable wsrep_on and its status variables wsrep_ready and
// wsrep_local_state (each nullopt when the server has no such variable: MySQL, MariaDB without Galera).
// A server with wsrep_on = ON is a Galera node: healthy only when ready (ON) and Synced (4); cause says
// why not ("wsrep_ready = OFF, wsrep_local_state = 1 (Joining)"). Anything else is healthy.
struct GaleraStatus {
    std::optional<std::string> wsrep_on, wsrep_ready, wsrep_local_state;
};
ServerState galera_state(const GaleraStatus& status, std::string* cause = nullptr);

class ServerSelection {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    ServerSelection(std::size_t servers, std::chrono::milliseconds failback_after);

    // Records what was found about server `index` at `now` and chooses again. Returns true when the
    // server in use changed (to another one or to none).
    bool report(std::size_t index, ServerState state, TimePoint now);
    // Chooses again without news (a preferred server may have been healthy long enough by now).
    bool reconsider(TimePoint now);

    std::optional<std::size_t> current() const { return current_; }
    ServerState state(std::size_t index) const { return servers_.at(index).state; }
    std::size_t size() const { return servers_.size(); }

private:
    struct Server {
        ServerState state = ServerState::unknown;
        std::optional<TimePoint> healthy_since;  // nullopt: healthy since its first check
    };

    bool stable(std::size_t index, TimePoint now) const;
    std::optional<std::size_t> choose(TimePoint now) const;

    std::vector<Server> servers_;
    std::chrono::milliseconds failback_after_;
    std::optional<std::size_t> current_;
};

}  // namespace relay
