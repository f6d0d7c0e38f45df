#include "core/rules/request.hpp"

namespace relay {

const char* to_string(Stage stage) {
    switch (stage) {
        case Stage::connect: return "connect";
        case Stage::helo: return "helo";
        case Stage::mail: return "mail";
        case Stage::rcpt: return "rcpt";
        case Stage::data: return "data";
        case Stage::end_of_message: return "end_of_message";
    }
    return "?";
}

}  // namespace relay
