// The audit spool: an append-only file in the daemon's state directory ([general] state_directory) where
// EventWriter keeps audit events while no database server answers, so that a long outage or a restart
// during one loses no decision. Once a server answers, the events are written to relay_events in the order
// they were spooled (before anything queued in memory since), and the file is emptied. Writing a replayed
// event twice is harmless: its event_key is stored once (migration 008).
//
// One record per event:
//   magic "\xA5RAE" | payload length (4 bytes, little-endian) | CRC-32 of the payload (4 bytes, LE) | payload
// The payload holds the Event's fields (strings length-prefixed, stage/verdict/reason by name so a spool
// survives an upgrade). A record cut short (the daemon was killed while writing) or damaged fails its
// length or checksum: it is skipped, logged with its offset, and reading resumes at the next magic, so
// nothing else is lost.
//
// Bounded: the file never grows beyond max_bytes; what does not fit is refused (EventWriter counts it as
// dropped). Not thread-safe: EventWriter's thread is its only user (and stop(), after that thread ended).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/rules/event.hpp"

namespace relay {

// The file could not be opened or written safely; the message names the file and the cause.
class SpoolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ---- the record format (pure functions, unit-tested)

constexpr std::size_t kSpoolHeaderBytes = 12;
constexpr std::size_t kSpoolMaxPayload = 128 * 1024;  // no valid record is longer (strings are clipped)

std::string encode_spool_record(const Event& event);

struct SpoolRecord {
    enum class Status { complete, need_more, damaged };
    Status status = Status::need_more;
    Event event;              // complete
    std::size_t length = 0;   // complete: bytes of the whole record
    std::string problem;      // damaged: what is wrong, for the log
};
// Decodes the record at the start of data.
SpoolRecord decode_spool_record(std::string_view data);
// Where the next record may start after damage at data[0]: the next magic, or data.size() when none.
std::size_t find_spool_magic(std::string_view data, std::size_t from);

// ---- the file

class EventSpool {
public:
    // Opens (creating it, mode 0600) directory/name as the process's current user, and locks it so that a
    // second daemon using the same state directory is refused. The directory must belong to that user and
    // be writable by nobody else; the file is opened relative to it without following a symbolic link and
    // must be a regular file of that user with one link. SpoolError otherwise.
    static std::unique_ptr<EventSpool> open(const std::string& directory, const std::string& name,
                                            std::uint64_t max_bytes);
    ~EventSpool();
    EventSpool(const EventSpool&) = delete;
    EventSpool& operator=(const EventSpool&) = delete;

    // Appends events[from..] in order, as many as fit within max_bytes, and flushes them to disk. Returns
    // how many were appended. SpoolError when the file cannot be written (nothing partial is left).
    std::size_t append(const std::vector<Event>& events, std::size_t from = 0);

    // The next events to replay (at most max), oldest first, skipping damaged records (logged), and the
    // position after them; nothing was consumed yet. SpoolError when the file cannot be read.
    struct Batch {
        std::vector<Event> events;
        std::uint64_t end = 0;
    };
    Batch read(std::size_t max);
    // The events of a Batch are in relay_events: replay goes on after them; at the end the file is emptied.
    void consumed(const Batch& batch);

    bool empty() const { return read_pos_ >= size_; }  // nothing left to replay
    std::uint64_t bytes() const { return size_; }
    std::uint64_t max_bytes() const { return max_bytes_; }
    const std::string& path() const { return path_; }

private:
    EventSpool(int fd, std::string path, std::uint64_t size, std::uint64_t max_bytes);
    std::string read_at(std::uint64_t pos, std::size_t n) const;
    int fd_;
    std::string path_;
    std::uint64_t size_;
    std::uint64_t max_bytes_;
    std::uint64_t read_pos_ = 0;
};

}  // namespace relay
