#include "tools/relayctl/json.hpp"

#include <cstdio>

#include "tools/relayctl/terminal_text.hpp"

namespace relay::ctl {

std::string json_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 2);
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            char32_t code_point = 0;
            const std::size_t len = utf8_sequence(text, i, &code_point);
            if (len == 0) {
                out += "\\ufffd";
                ++i;
            } else if (code_point <= 0x9F) {
                // C1 controls: valid JSON raw, but a terminal may act on them; the same value escaped
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(code_point));
                out += buf;
                i += len;
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
