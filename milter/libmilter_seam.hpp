// The Driver over the real libmilter (libmilter_seam.cpp, linked only into the relay-milter executable).
// Not in relay_milter_lib: unit tests never see libmilter.
#pragma once

#include <memory>
#include <string>

#include "milter/app.hpp"

namespace relay::milter {

std::unique_ptr<Driver> make_libmilter_driver();
// "libmilter 1.0.2" as smfi_version() reports it, for --version.
std::string libmilter_version();

}  // namespace relay::milter
