#include "tools/relayctl/json.hpp"

#include <cstdio>

namespace relay::ctl {

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 if invalid.
std::size_t utf8_length(const std::string& s, std::size_t i) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3
                                                      : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    return len;
}

}  // namespace

std::string json_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 2);
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            std::size_t len = utf8_length(text, i);
            if (len == 0) {
                out += "\\ufffd";
                ++i;
            } else {
                out.append(text, i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    return out;
}

Json Json::number_text(std::string digits) {
    Json j;
    j.type_ = Type::raw_number;
    j.s_ = std::move(digits);
    return j;
}

Json& Json::set(const std::string& key, Json value) {
    items_.emplace_back(key, std::move(value));
    return *this;
}

Json& Json::push(Json value) {
    items_.emplace_back(std::string(), std::move(value));
    return *this;
}

std::string Json::dump(int indent) const {
    std::string out;
    write(out, indent, 0);
    return out;
}

void Json::write(std::string& out, int indent, int depth) const {
    auto newline = [&](int d) {
        if (indent <= 0) return;
        out += '\n';
        out.append(static_cast<std::size_t>(indent * d), ' ');
    };
    switch (type_) {
        case Type::null: out += "null"; return;
        case Type::boolean: out += b_ ? "true" : "false"; return;
        case Type::integer: out += std::to_string(i_); return;
        case Type::unsigned_integer: out += std::to_string(u_); return;
        case Type::raw_number: out += s_; return;
        case Type::string: out += '"' + json_escape(s_) + '"'; return;
        case Type::array:
        case Type::object: {
            const bool object = type_ == Type::object;
            out += object ? '{' : '[';
            if (items_.empty()) {
                out += object ? '}' : ']';
                return;
            }
            for (std::size_t i = 0; i < items_.size(); ++i) {
                if (i) out += ',';
                newline(depth + 1);
                if (object) out += '"' + json_escape(items_[i].first) + (indent > 0 ? "\": " : "\":");
                items_[i].second.write(out, indent, depth + 1);
            }
            newline(depth);
            out += object ? '}' : ']';
            return;
        }
    }
}

}  // namespace relay::ctl
