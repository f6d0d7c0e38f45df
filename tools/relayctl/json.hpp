// A small JSON value for relayctl --json output: objects keep their insertion order so the output reads
// like the table it replaces. Strings are escaped per RFC 8259; invalid UTF-8 bytes become U+FFFD.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace relay::ctl {

class Json {
public:
    enum class Type { null, boolean, integer, unsigned_integer, string, raw_number, array, object };

    Json() = default;  // null
    Json(std::nullptr_t) {}
    Json(bool b) : type_(Type::boolean), b_(b) {}
    Json(int v) : type_(Type::integer), i_(v) {}
    Json(long v) : type_(Type::integer), i_(v) {}
    Json(long long v) : type_(Type::integer), i_(v) {}
    Json(unsigned v) : type_(Type::unsigned_integer), u_(v) {}
    Json(unsigned long v) : type_(Type::unsigned_integer), u_(v) {}
    Json(unsigned long long v) : type_(Type::unsigned_integer), u_(v) {}
    Json(const char* s) : type_(Type::string), s_(s) {}
    Json(std::string s) : type_(Type::string), s_(std::move(s)) {}
    template <typename T>
    Json(const std::optional<T>& v) : Json(v ? Json(*v) : Json()) {}

    static Json array() { Json j; j.type_ = Type::array; return j; }
    static Json object() { Json j; j.type_ = Type::object; return j; }
    // A number given as text (a DECIMAL column from a view), written without quotes.
    static Json number_text(std::string digits);

    // object: set (appends; keys are unique by construction of the callers)
    Json& set(const std::string& key, Json value);
    // array: append
    Json& push(Json value);
    bool empty() const { return items_.empty(); }

    std::string dump(int indent = 2) const;

private:
    void write(std::string& out, int indent, int depth) const;
    Type type_ = Type::null;
    bool b_ = false;
    std::int64_t i_ = 0;
    std::uint64_t u_ = 0;
    std::string s_;
    std::vector<std::pair<std::string, Json>> items_;  // array: keys empty
};

std::string json_escape(const std::string& text);

}  // namespace relay::ctl
