// relay-policyd's life: bind, go to the background, drop privileges, open the store, serve until
// SIGTERM/SIGINT, reload on SIGHUP. main.cpp only reads the command line and calls run_policyd().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/base/log.hpp"
#include "core/runtime/runtime.hpp"
#include "policyd/server.hpp"

namespace relay::policyd {

struct PolicydOptions {
    std::string config_path;
    bool foreground = false;  // stay attached, log to stderr
    std::string pid_file;     // empty: none
    bool allow_root = false;  // --allow-root: overrides [policyd] allow_root, also after SIGHUP
};

// Runs until SIGTERM or SIGINT. Returns the process exit status: 0 after a clean stop, 1 when start-up
// failed (listen, privileges, database with a permanent error). The caller has loaded `config`.
int run_policyd(const PolicydOptions& options, const Config& config, const StoreFactory& make_store);

// Pieces of the above, exposed for unit tests.
ServerSettings server_settings(const PolicydConfig& config);
LogOptions log_options(const Config& config, bool foreground);

}  // namespace relay::policyd
