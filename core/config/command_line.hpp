// The command-line steps relay-policyd and relay-milter share: parse, answer --help / --version /
// --help-config, load --config. Each daemon keeps its own option table and help text.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "core/config/config.hpp"

namespace relay {

// Parses argv into vm and answers --help (print_help), --version (prints version_line) and --help-config
// itself. Returns the exit status when the program is done (0 after those, 2 for a bad command line,
// told on stderr as "program: ..."); nullopt: go on with vm.
std::optional<int> parse_daemon_command_line(int argc, char** argv,
                                             const boost::program_options::options_description& options,
                                             const std::string& program, const std::function<void()>& print_help,
                                             const std::string& version_line,
                                             boost::program_options::variables_map& vm);

// Loads the configuration file. nullopt: the reason is on stderr as "program: ..." (exit status 2).
std::optional<Config> load_config_or_report(const std::string& path, const std::string& program);

}  // namespace relay
