#include "core/config/command_line.hpp"

#include <exception>
#include <iostream>

namespace relay {

namespace po = boost::program_options;

std::optional<int> parse_daemon_command_line(int argc, char** argv, const po::options_description& options,
                                             const std::string& program, const std::function<void()>& print_help,
                                             const std::string& version_line, po::variables_map& vm) {
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << program << ": " << e.what() << " (try --help)\n";
        return 2;
    }
    if (vm.count("help")) {
        print_help();
        return 0;
    }
    if (vm.count("version")) {
        std::cout << version_line << "\n";
        return 0;
    }
    if (vm.count("help-config")) {
        std::cout << config_reference();
        return 0;
    }
    return std::nullopt;
}

std::optional<Config> load_config_or_report(const std::string& path, const std::string& program) {
    try {
        return load_config(path);
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return std::nullopt;
    }
}

}  // namespace relay
