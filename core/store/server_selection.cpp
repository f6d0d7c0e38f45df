#include "core/store/server_selection.hpp"

namespace relay {

const char* server_state_name(ServerState state) {
    switch (state) {
        case ServerState::unknown: return "not checked yet";
        case ServerState::healthy: return "healthy";
        case ServerState::down: return "down";
        case ServerState::not_synced: return "not Synced";
        case ServerState::refused: return "refused the login";
    }
    return "?";
}

namespace {

// wsrep_local_state numbers (Galera's documentation of wsrep_local_state_comment).
const char* local_state_word(const std::string& state) {
    if (state == "1") return "Joining";
    if (state == "2") return "Donor/Desynced";
    if (state == "3") return "Joined";
    if (state == "4") return "Synced";
    return "?";
}

bool is_on(const std::optional<std::string>& value) {
    return value && (*value == "ON" || *value == "on" || *value == "1");
}

}  // namespace

ServerState galera_state(const GaleraStatus& status, std::string* cause) {
    if (!is_on(status.wsrep_on)) return ServerState::healthy;  // a plain server (or Galera switched off)
    const bool ready = is_on(status.wsrep_ready);
    const bool synced = status.wsrep_local_state && *status.wsrep_local_state == "4";
    if (ready && synced) return ServerState::healthy;
    if (cause) {
        const std::string state = status.wsrep_local_state.value_or("?");
        *cause = "Galera node not usable: wsrep_ready = " + status.wsrep_ready.value_or("(none)") +
                 ", wsrep_local_state = " + state + " (" + local_state_word(state) + ")";
    }
    return ServerState::not_synced;
}

ServerSelection::ServerSelection(std::size_t servers, std::chrono::milliseconds failback_after)
    : servers_(servers), failback_after_(failback_after) {}

bool ServerSelection::stable(std::size_t index, TimePoint now) const {
    const Server& s = servers_[index];
    return s.state == ServerState::healthy && (!s.healthy_since || now - *s.healthy_since >= failback_after_);
}

std::optional<std::size_t> ServerSelection::choose(TimePoint now) const {
    if (current_ && servers_[*current_].state == ServerState::healthy) {
        // Keep the one in use unless an earlier one has been healthy long enough.
        for (std::size_t i = 0; i < *current_; ++i) {
            if (stable(i, now)) return i;
        }
        return current_;
    }
    // The one in use failed (or none was chosen yet): the first stable server, else the first healthy one.
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        if (stable(i, now)) return i;
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        if (servers_[i].state == ServerState::healthy) return i;
    }
    return std::nullopt;
}

bool ServerSelection::report(std::size_t index, ServerState state, TimePoint now) {
    Server& s = servers_.at(index);
    // Healthy at its first check counts as healthy all along: at start the order alone decides.
    if (state == ServerState::healthy && s.state != ServerState::healthy)
        s.healthy_since = s.state == ServerState::unknown ? std::nullopt : std::optional<TimePoint>(now);
    s.state = state;
    return reconsider(now);
}

bool ServerSelection::reconsider(TimePoint now) {
    const std::optional<std::size_t> next = choose(now);
    if (next == current_) return false;
    current_ = next;
    return true;
}

}  // namespace relay
