// relay-milter's life: open the store and the rules, bind the milter socket, go to the background, drop
// privileges, serve until libmilter stops (SIGTERM, SIGHUP or SIGINT: libmilter's own signal thread calls
// its smfi_stop equivalent). main.cpp reads the command line; libmilter_seam.cpp provides the Driver.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/config/config.hpp"
#include "core/base/log.hpp"
#include "core/runtime/runtime.hpp"

namespace relay::milter {

class Filter;

struct RunOptions {
    std::string config_path;
    bool foreground = false;  // stay attached, log to stderr
    std::string pid_file;     // empty: none
};

// The libmilter side, behind an interface so this file needs no libmilter header.
class Driver {
public:
    virtual ~Driver() = default;
    // smfi_setconn/settimeout/register and smfi_opensocket: binds now (still root). Throws on failure.
    virtual void open(Filter& filter, const std::string& listen, unsigned timeout_seconds) = 0;
    // smfi_main: serves until stopped; returns 0 after a clean stop.
    virtual int run() = 0;
};


// Exit status: 0 clean stop, 1 could not start.
int run_milter(const RunOptions& options, const Config& config, const StoreFactory& make_store, Driver& driver);

LogOptions log_options(const Config& config, bool foreground);

}  // namespace relay::milter
