#include "core/rules/event_spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "core/base/log.hpp"

namespace relay {

namespace {

constexpr char kMagic[4] = {'\xA5', 'R', 'A', 'E'};
constexpr std::uint8_t kPayloadVersion = 1;
// Longer strings are clipped when spooled: relay_events keeps at most 2000 characters (8000 bytes) of any
// column, so nothing the table would keep is lost.
constexpr std::size_t kMaxField = 8192;
constexpr std::size_t kReadChunk = 1024 * 1024;  // bytes read at once while replaying (> kSpoolMaxPayload)

std::uint32_t crc32(std::string_view data) {
    boost::crc_32_type crc;
    crc.process_bytes(data.data(), data.size());
    return crc.checksum();
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_str(std::string& out, const std::string& s) {
    const std::size_t n = std::min(s.size(), kMaxField);
    put_u32(out, static_cast<std::uint32_t>(n));
    out.append(s, 0, n);
}

std::uint64_t get_le(std::string_view data, std::size_t pos, int bytes) {
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(data[pos + static_cast<std::size_t>(i)]);
    return v;
}

// Reads the payload's fields in order; any read past the end marks it bad.
struct Reader {
    std::string_view data;
    std::size_t pos = 0;
    bool bad = false;
    std::uint64_t number(int bytes) {
        if (bad || data.size() - pos < static_cast<std::size_t>(bytes)) return bad = true, 0;
        const std::uint64_t v = get_le(data, pos, bytes);
        pos += static_cast<std::size_t>(bytes);
        return v;
    }
    std::string text() {
        const std::size_t n = number(4);
        if (bad || n > kMaxField || data.size() - pos < n) return bad = true, std::string();
        std::string s(data.substr(pos, n));
        pos += n;
        return s;
    }
};

// The enum value whose to_string() is name (stored by name so a spool survives an upgrade).
template <typename Enum>
std::optional<Enum> by_name(const std::string& name) {
    for (int i = 0; i < 256; ++i) {
        const auto value = static_cast<Enum>(i);
        const char* text = to_string(value);
        if (std::strcmp(text, "?") == 0) break;
        if (name == text) return value;
    }
    return std::nullopt;
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::string encode_spool_record(const Event& e) {
    std::string payload;
    payload += static_cast<char>(kPayloadVersion);
    put_str(payload, e.key);
    put_u64(payload, static_cast<std::uint64_t>(e.at.time_since_epoch().count()));
    put_str(payload, e.node);
    put_str(payload, to_string(e.stage));
    put_u64(payload, static_cast<std::uint64_t>(e.authority_id));
    put_str(payload, e.login);
    put_str(payload, e.client_address);
    put_str(payload, e.sender);
    put_u32(payload, e.recipient_count);
    put_u64(payload, e.size);
    put_str(payload, to_string(e.verdict));
    put_str(payload, to_string(e.reason));
    put_str(payload, e.queue_id);
    put_str(payload, e.detail);
    put_u32(payload, e.repeat_count);
    std::string record(kMagic, sizeof kMagic);
    put_u32(record, static_cast<std::uint32_t>(payload.size()));
    put_u32(record, crc32(payload));
    return record + payload;
}

SpoolRecord decode_spool_record(std::string_view data) {
    SpoolRecord r;
    const auto damaged = [&r](std::string problem) {
        r.status = SpoolRecord::Status::damaged;
        r.problem = std::move(problem);
        return r;
    };
    if (data.size() < sizeof kMagic) return r;  // need_more
    if (data.substr(0, sizeof kMagic) != std::string_view(kMagic, sizeof kMagic)) return damaged("no record starts here");
    if (data.size() < kSpoolHeaderBytes) return r;
    const std::size_t length = get_le(data, 4, 4);
    if (length == 0 || length > kSpoolMaxPayload) return damaged("impossible record length " + std::to_string(length));
    if (data.size() < kSpoolHeaderBytes + length) return r;
    const std::string_view payload = data.substr(kSpoolHeaderBytes, length);
    if (crc32(payload) != get_le(data, 8, 4)) return damaged("checksum mismatch");

    Reader in{payload};
    if (in.number(1) != kPayloadVersion) return damaged("unknown record version");
    Event& e = r.event;
    e.key = in.text();
    e.at = TimePoint(TimePoint::duration(static_cast<TimePoint::rep>(in.number(8))));
    e.node = in.text();
    const auto stage = by_name<Stage>(in.text());
    e.authority_id = static_cast<Id>(in.number(8));
    e.login = in.text();
    e.client_address = in.text();
    e.sender = in.text();
    e.recipient_count = static_cast<std::uint32_t>(in.number(4));
    e.size = in.number(8);
    const auto verdict = by_name<Verdict>(in.text());
    const auto reason = by_name<Reason>(in.text());
    e.queue_id = in.text();
    e.detail = in.text();
    e.repeat_count = static_cast<std::uint32_t>(in.number(4));
    if (in.bad || in.pos != payload.size()) return damaged("fields do not match the record length");
    if (!stage || !verdict || !reason) return damaged("unknown stage, verdict or reason name");
    e.stage = *stage;
    e.verdict = *verdict;
    e.reason = *reason;
    r.status = SpoolRecord::Status::complete;
    r.length = kSpoolHeaderBytes + length;
    return r;
}

std::size_t find_spool_magic(std::string_view data, std::size_t from) {
    const std::size_t at = data.find(std::string_view(kMagic, sizeof kMagic), from);
    return at == std::string_view::npos ? data.size() : at;
}

// ---- the file

std::unique_ptr<EventSpool> EventSpool::open(const std::string& directory, const std::string& name,
                                             std::uint64_t max_bytes) {
    const std::string path = directory + "/" + name;
    const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) throw SpoolError("audit spool: cannot open the state directory " + directory + ": " + errno_text(errno));
    struct stat ds {};
    const uid_t me = ::geteuid();
    if (::fstat(dir, &ds) != 0 || ds.st_uid != me || (ds.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        ::close(dir);
        throw SpoolError("audit spool: the state directory " + directory +
                         " must belong to the daemon's user (uid " + std::to_string(me) +
                         ") and be writable by nobody else (chown it, chmod go-w)");
    }
    // Relative to the directory just checked, never through a symbolic link: whoever could place one
    // there could not make this process open another file.
    const int fd = ::openat(dir, name.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    const int open_error = errno;
    ::close(dir);
    if (fd < 0) throw SpoolError("audit spool: cannot open " + path + ": " + errno_text(open_error));
    struct stat fs {};
    std::string problem;
    if (::fstat(fd, &fs) != 0) problem = errno_text(errno);
    else if (!S_ISREG(fs.st_mode)) problem = "not a regular file";
    else if (fs.st_uid != me) problem = "belongs to uid " + std::to_string(fs.st_uid) + ", not the daemon's user";
    else if (fs.st_nlink != 1) problem = "has " + std::to_string(fs.st_nlink) + " hard links";
    else if ((fs.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) problem = "cannot make it mode 0600: " + errno_text(errno);
    else if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        problem = errno == EWOULDBLOCK ? "in use by another process (give each daemon its own state_directory)"
                                        : "cannot lock it: " + errno_text(errno);
    }
    if (!problem.empty()) {
        ::close(fd);
        throw SpoolError("audit spool: " + path + " " + problem);
    }
    return std::unique_ptr<EventSpool>(new EventSpool(fd, path, static_cast<std::uint64_t>(fs.st_size), max_bytes));
}

EventSpool::EventSpool(int fd, std::string path, std::uint64_t size, std::uint64_t max_bytes)
    : fd_(fd), path_(std::move(path)), size_(size), max_bytes_(max_bytes) {}

EventSpool::~EventSpool() { ::close(fd_); }

std::size_t EventSpool::append(const std::vector<Event>& events, std::size_t from) {
    std::string out;
    std::size_t n = 0;
    for (std::size_t i = from; i < events.size(); ++i, ++n) {
        std::string record = encode_spool_record(events[i]);
        if (size_ + out.size() + record.size() > max_bytes_) break;
        out += record;
    }
    if (out.empty()) return 0;
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t w = ::write(fd_, out.data() + done, out.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int error = w < 0 ? errno : ENOSPC;
            // Take back what was written of this call, so no partial record stays behind it.
            if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
                log_warning("audit spool: " + path_ + ": cannot remove a partial write: " + errno_text(errno));
            }
            throw SpoolError("audit spool: cannot write " + path_ + ": " + errno_text(error));
        }
        done += static_cast<std::size_t>(w);
    }
    // On disk before the events leave memory: a power loss keeps them too.
    if (::fdatasync(fd_) != 0) log_warning("audit spool: fdatasync " + path_ + ": " + errno_text(errno));
    size_ += out.size();
    return n;
}

std::string EventSpool::read_at(std::uint64_t pos, std::size_t n) const {
    std::string buffer(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::pread(fd_, buffer.data() + got, n - got, static_cast<off_t>(pos + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw SpoolError("audit spool: cannot read " + path_ + ": " + errno_text(errno));
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    buffer.resize(got);
    return buffer;
}

EventSpool::Batch EventSpool::read(std::size_t max) {
    Batch batch;
    std::uint64_t pos = read_pos_;
    std::string window;
    std::uint64_t window_start = pos;
    while (batch.events.size() < max && pos < size_) {
        if (pos + kSpoolMaxPayload + kSpoolHeaderBytes > window_start + window.size() &&
            window_start + window.size() < size_) {
            window = read_at(pos, static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, size_ - pos)));
            window_start = pos;
        }
        const std::string_view rest = std::string_view(window).substr(static_cast<std::size_t>(pos - window_start));
        SpoolRecord record = decode_spool_record(rest);
        if (record.status == SpoolRecord::Status::complete) {
            batch.events.push_back(std::move(record.event));
            pos += record.length;
            continue;
        }
        // Damaged, or cut short at the end of the file (the window reaches it: see above).
        std::size_t next = find_spool_magic(rest, 1);
        if (next == rest.size() && window_start + window.size() < size_ && next > sizeof kMagic) {
            next -= sizeof kMagic - 1;  // a magic may straddle the window's end
        }
        log_warning("audit spool: " + path_ + ": skipped " + std::to_string(next) + " bytes at offset " +
                    std::to_string(pos) + " (" +
                    (record.status == SpoolRecord::Status::damaged ? record.problem : "record cut short") +
                    "; was the daemon killed while writing?); the records after it are kept");
        pos += next;
    }
    batch.end = pos;
    return batch;
}

void EventSpool::consumed(const Batch& batch) {
    read_pos_ = std::max(read_pos_, batch.end);
    if (read_pos_ < size_) return;
    if (::ftruncate(fd_, 0) != 0) throw SpoolError("audit spool: cannot empty " + path_ + ": " + errno_text(errno));
    size_ = 0;
    read_pos_ = 0;
}

}  // namespace relay
