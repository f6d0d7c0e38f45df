#include "core/rules/sent_reply.hpp"

#include <utility>

namespace relay {

namespace {
ReplyNamer& namer() {
    static ReplyNamer instance;
    return instance;
}
}  // namespace

void set_reply_namer(ReplyNamer n) { namer() = std::move(n); }

std::string sent_reply(const Decision& d) {
    if (namer()) return namer()(d);
    return std::to_string(d.smtp_code) + " " + d.enhanced + " " + d.text;
}

}  // namespace relay
