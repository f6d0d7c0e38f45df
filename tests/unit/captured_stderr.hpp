// Everything written to stderr (descriptor 2) while one of these lives goes to a file in a private
// directory; text() puts stderr back and returns what was written. For tests of log lines.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tests/unit/temp_dir.hpp"

namespace relay::test {

class CapturedStderr {
public:
    CapturedStderr() : dir_("relay-stderr"), path_(dir_.path + "/stderr.log") {
        std::fflush(stderr);
        saved_ = ::dup(2);
        if (saved_ < 0) throw std::runtime_error("cannot duplicate stderr");
        // freopen closes descriptor 2 and opens the file, which gets the lowest free descriptor: 2 again.
        if (std::freopen(path_.c_str(), "w", stderr) == nullptr) {
            restore();
            throw std::runtime_error("cannot send stderr to " + path_);
        }
    }
    ~CapturedStderr() { restore(); }
    CapturedStderr(const CapturedStderr&) = delete;
    CapturedStderr& operator=(const CapturedStderr&) = delete;

    // Puts stderr back (the first time) and returns everything written to it meanwhile.
    std::string text() {
        restore();
        std::ifstream in(path_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }

    TempDir dir_;
    std::string path_;
    int saved_ = -1;
};

}  // namespace relay::test
