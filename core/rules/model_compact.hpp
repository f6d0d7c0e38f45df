// Compact building blocks of the rules snapshot (model.hpp). A snapshot holds one record per account, and
// with 100,000 accounts every byte and every small allocation per record shows in the daemons' resident
// memory, so the per-account records use these instead of node-based maps, std::optional of wide types,
// std::string and std::vector. Each keeps the interface of the standard type it replaces, as far as the
// code and tests use it, so reading a field looks the same as before.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay {

// An optional value stored in the space of the value: Empty::value() marks "no value" (a value the column
// can never hold, or one that means the same as no value). 8 bytes for a 64-bit T instead of 16.
template <typename T, typename Empty>
class PackedOptional {
public:
    using value_type = T;

    constexpr PackedOptional() noexcept : value_(Empty::value()) {}
    constexpr PackedOptional(std::nullopt_t) noexcept : value_(Empty::value()) {}
    constexpr PackedOptional(T value) noexcept : value_(value) {}
    constexpr PackedOptional(const std::optional<T>& value) noexcept : value_(value ? *value : Empty::value()) {}

    PackedOptional& operator=(std::nullopt_t) noexcept {
        reset();
        return *this;
    }

    constexpr bool has_value() const noexcept { return value_ != Empty::value(); }
    constexpr explicit operator bool() const noexcept { return has_value(); }
    constexpr const T& operator*() const noexcept { return value_; }
    constexpr const T* operator->() const noexcept { return &value_; }
    const T& value() const {
        if (!has_value()) throw std::bad_optional_access();
        return value_;
    }
    constexpr T value_or(T other) const noexcept { return has_value() ? value_ : other; }
    void reset() noexcept { value_ = Empty::value(); }
    std::optional<T> to_optional() const { return has_value() ? std::optional<T>(value_) : std::nullopt; }

    friend bool operator==(const PackedOptional& a, const PackedOptional& b) { return a.value_ == b.value_; }
    friend bool operator!=(const PackedOptional& a, const PackedOptional& b) { return a.value_ != b.value_; }

private:
    T value_;
};

// The largest value of an unsigned integer as "no value": as a cap it could never be exceeded anyway.
template <typename T>
struct MaxIsEmpty {
    static constexpr T value() noexcept { return std::numeric_limits<T>::max(); }
};

// The earliest representable instant as "no value": the store reads times as seconds since 1970 at most
// a few centuries away, never this.
template <typename TimeType>
struct MinTimeIsEmpty {
    static constexpr TimeType value() noexcept { return TimeType::min(); }
};

// A list that most records leave empty (extra senders, client networks): 8 bytes and no allocation while
// empty, instead of the 24 bytes of an empty std::vector. Copies are deep.
template <typename T>
class RareVector {
public:
    RareVector() = default;
    RareVector(const RareVector& other)
        : items_(other.items_ ? std::make_unique<std::vector<T>>(*other.items_) : nullptr) {}
    RareVector(RareVector&&) noexcept = default;
    RareVector& operator=(const RareVector& other) {
        if (this != &other) items_ = other.items_ ? std::make_unique<std::vector<T>>(*other.items_) : nullptr;
        return *this;
    }
    RareVector& operator=(RareVector&&) noexcept = default;

    std::size_t size() const noexcept { return items_ ? items_->size() : 0; }
    bool empty() const noexcept { return size() == 0; }
    const T* begin() const noexcept { return items_ ? items_->data() : nullptr; }
    const T* end() const noexcept { return items_ ? items_->data() + items_->size() : nullptr; }
    T* begin() noexcept { return items_ ? items_->data() : nullptr; }
    T* end() noexcept { return items_ ? items_->data() + items_->size() : nullptr; }
    const T& operator[](std::size_t i) const { return (*items_)[i]; }
    T& operator[](std::size_t i) { return (*items_)[i]; }
    const T& front() const { return items_->front(); }
    const T& back() const { return items_->back(); }

    void push_back(T item) {
        if (!items_) items_ = std::make_unique<std::vector<T>>();
        items_->push_back(std::move(item));
    }
    void clear() noexcept { items_.reset(); }

private:
    std::unique_ptr<std::vector<T>> items_;
};

// A text that most records leave empty (suspend_reason): 8 bytes and no allocation while empty.
class RareString {
public:
    RareString() = default;
    RareString(std::string_view text) { assign(text); }
    RareString(const char* text) { assign(text); }
    RareString(const RareString& other) { assign(other.view()); }
    RareString(RareString&&) noexcept = default;
    RareString& operator=(const RareString& other) {
        if (this != &other) assign(other.view());
        return *this;
    }
    RareString& operator=(RareString&&) noexcept = default;
    RareString& operator=(std::string_view text) {
        assign(text);
        return *this;
    }
    RareString& operator=(const char* text) {
        assign(text);
        return *this;
    }
    RareString& operator=(const std::string& text) {
        assign(text);
        return *this;
    }

    bool empty() const noexcept { return !text_; }
    std::size_t size() const noexcept { return text_ ? text_->size() : 0; }
    std::string_view view() const noexcept { return text_ ? std::string_view(*text_) : std::string_view(); }
    std::string str() const { return std::string(view()); }
    operator std::string_view() const noexcept { return view(); }

    friend bool operator==(const RareString& a, std::string_view b) { return a.view() == b; }
    friend bool operator!=(const RareString& a, std::string_view b) { return a.view() != b; }
    friend std::ostream& operator<<(std::ostream& out, const RareString& s) { return out << s.view(); }

private:
    void assign(std::string_view text) {
        text_ = text.empty() ? nullptr : std::make_unique<std::string>(text);
    }
    std::unique_ptr<std::string> text_;
};

// Rows of one table by id: a vector of (id, row) sorted by id, looked up by binary search. The interface is
// the part of std::unordered_map<Id, T> the code uses (find, at, count, emplace, iteration over pairs);
// iteration runs in id order. Rows live in one allocation, without a node and a bucket per row.
// Inserting may move rows (like a vector): keep indexes as positions, not pointers, while filling.
template <typename Key, typename T>
class IdTable {
public:
    using value_type = std::pair<Key, T>;
    using iterator = typename std::vector<value_type>::iterator;
    using const_iterator = typename std::vector<value_type>::const_iterator;

    iterator begin() noexcept { return rows_.begin(); }
    iterator end() noexcept { return rows_.end(); }
    const_iterator begin() const noexcept { return rows_.begin(); }
    const_iterator end() const noexcept { return rows_.end(); }
    std::size_t size() const noexcept { return rows_.size(); }
    bool empty() const noexcept { return rows_.empty(); }
    void reserve(std::size_t n) { rows_.reserve(n); }
    void shrink_to_fit() { rows_.shrink_to_fit(); }
    void clear() noexcept { rows_.clear(); }

    iterator find(Key id) {
        auto it = lower(id);
        return it != rows_.end() && it->first == id ? it : rows_.end();
    }
    const_iterator find(Key id) const {
        auto it = lower(id);
        return it != rows_.end() && it->first == id ? it : rows_.end();
    }
    std::size_t count(Key id) const { return find(id) == end() ? 0 : 1; }
    T& at(Key id) {
        auto it = find(id);
        if (it == end()) throw std::out_of_range("IdTable::at: no row with id " + std::to_string(id));
        return it->second;
    }
    const T& at(Key id) const {
        auto it = find(id);
        if (it == end()) throw std::out_of_range("IdTable::at: no row with id " + std::to_string(id));
        return it->second;
    }
    // Position of a row (0..size()-1), for indexes that must survive a copy of the table.
    std::size_t position(const_iterator it) const { return static_cast<std::size_t>(it - rows_.begin()); }
    const value_type& row_at(std::size_t position) const { return rows_[position]; }
    value_type& row_at(std::size_t position) { return rows_[position]; }

    // Like std::unordered_map::emplace: an existing id is kept and false returned. Rows that arrive in id
    // order (the store reads them ORDER BY id) are appended.
    std::pair<iterator, bool> emplace(Key id, T row) {
        if (rows_.empty() || rows_.back().first < id) {
            rows_.emplace_back(id, std::move(row));
            return {rows_.end() - 1, true};
        }
        auto it = lower(id);
        if (it != rows_.end() && it->first == id) return {it, false};
        return {rows_.emplace(it, id, std::move(row)), true};
    }
    T& operator[](Key id) { return emplace(id, T{}).first->second; }

private:
    iterator lower(Key id) {
        return std::lower_bound(rows_.begin(), rows_.end(), id,
                                [](const value_type& row, Key key) { return row.first < key; });
    }
    const_iterator lower(Key id) const {
        return std::lower_bound(rows_.begin(), rows_.end(), id,
                                [](const value_type& row, Key key) { return row.first < key; });
    }
    std::vector<value_type> rows_;
};

// An open-addressing hash index from a name to a row position (uint32). It stores only positions; the
// names stay where they are (key_of(position) returns the name of a row), so every name exists once.
// Looked up by std::string_view: no temporary string. Linear probing, at most half full.
class NameIndex {
public:
    static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

    // Empties the index and sizes it for about `expected` names (it grows when needed).
    void reset(std::size_t expected) {
        std::size_t slots = 16;
        while (slots < expected * 2) slots *= 2;
        slots_.assign(slots, npos);
        used_ = 0;
    }
    std::size_t size() const noexcept { return used_; }

    template <typename KeyOf>
    std::uint32_t find(std::string_view name, const KeyOf& key_of) const {
        if (slots_.empty()) return npos;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = hash(name) & mask;; i = (i + 1) & mask) {
            const std::uint32_t row = slots_[i];
            if (row == npos) return npos;
            if (key_of(row) == name) return row;
        }
    }

    // false (and nothing stored) when the name is there already.
    template <typename KeyOf>
    bool insert(std::string_view name, std::uint32_t row, const KeyOf& key_of) {
        if ((used_ + 1) * 2 > slots_.size()) grow(key_of);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = hash(name) & mask;; i = (i + 1) & mask) {
            if (slots_[i] == npos) {
                slots_[i] = row;
                ++used_;
                return true;
            }
            if (key_of(slots_[i]) == name) return false;
        }
    }

private:
    static std::size_t hash(std::string_view name) noexcept { return std::hash<std::string_view>{}(name); }

    template <typename KeyOf>
    void grow(const KeyOf& key_of) {
        std::vector<std::uint32_t> old;
        old.swap(slots_);
        slots_.assign(std::max<std::size_t>(16, old.size() * 2), npos);
        const std::size_t mask = slots_.size() - 1;
        for (std::uint32_t row : old) {
            if (row == npos) continue;
            std::size_t i = hash(key_of(row)) & mask;
            while (slots_[i] != npos) i = (i + 1) & mask;
            slots_[i] = row;
        }
    }

    std::vector<std::uint32_t> slots_;
    std::size_t used_ = 0;
};

}  // namespace relay
