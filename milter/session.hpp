// relay-milter's callbacks, without libmilter: one Filter per process, one Session per SMTP connection
// (libmilter's private data), one Message per transaction inside it.
//
//   negotiate/connect  Session created; the rules snapshot is pinned for the whole connection
//   envfrom            authority, client network, TLS, envelope sender; an unauthenticated session with
//                      no IP-authorised account is accepted here (Status::accept: inbound mail is not ours)
//   envrcpt            external relay, recipient cap (counted per message here)
//   header / eoh       From:/Sender: collected, then checked for ownership (header_from_action)
//   body / eom         body bytes counted; size and the rate-limit charge happen in Policy at eom
//   abort              the message is dropped, the connection stays
//   close              the Session is destroyed
//
// Every callback catches everything: an exception becomes 451 4.3.0 (tempfail), never an accept.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/rules/model.hpp"
#include "core/rules/request.hpp"
#include "milter/header_check.hpp"
#include "milter/options.hpp"
#include "milter/seam.hpp"

namespace relay {
class EventWriter;
class Decider;
}  // namespace relay

namespace relay::milter {

class Session;

class Filter {
public:
    // events may be null; it receives the From: refusals (Policy writes its own decisions).
    Filter(Decider& decider, const Clock& clock, Options options,
           EventWriter* events = nullptr);

    std::unique_ptr<Session> open_session();
    const Options& options() const { return options_; }

private:
    friend class Session;
    Decider& decider_;
    const Clock& clock_;
    Options options_;
    EventWriter* events_;
    std::atomic<std::uint64_t> sessions_{0};
};

class Session {
public:
    Session(Filter& filter, std::uint64_t serial);

    void set_noreply(NoReply noreply) { noreply_ = noreply; }

    Status connect(MilterContext& ctx, const std::string& client_name, const std::string& client_address);
    Status helo(MilterContext& ctx, const std::string& helo_name);
    Status envfrom(MilterContext& ctx, const std::vector<std::string>& args);
    Status envrcpt(MilterContext& ctx, const std::vector<std::string>& args);
    Status header(MilterContext& ctx, const std::string& name, const std::string& value);
    Status eoh(MilterContext& ctx);
    Status body(MilterContext& ctx, std::size_t length);
    Status eom(MilterContext& ctx);
    Status abort(MilterContext& ctx);

    // For tests and logs.
    const SnapshotPtr& pinned_snapshot() const { return snapshot_; }
    bool in_message() const { return message_.has_value(); }

private:
    struct Message {
        Request request;                  // the MAIL-stage request; later stages copy it
        std::uint32_t accepted_rcpts = 0;
        std::string last_rcpt;
        HeaderFields headers;
        std::uint64_t header_bytes = 0;
        std::uint64_t body_bytes = 0;
        std::optional<std::string> hold;  // quarantine reason to apply at eom
    };

    template <typename Step>
    Status guarded(MilterContext& ctx, const char* stage, Step&& step);

    Status do_envfrom(MilterContext& ctx, const std::vector<std::string>& args);
    Status do_envrcpt(MilterContext& ctx, const std::vector<std::string>& args);
    Status do_eoh(MilterContext& ctx);
    Status do_eom(MilterContext& ctx);
    Status answer(MilterContext& ctx, const Request& request, const Decision& decision);
    void note_queue_id(MilterContext& ctx);
    Message& message();

    Filter& filter_;
    std::uint64_t serial_;
    std::uint32_t messages_ = 0;
    NoReply noreply_;
    SnapshotPtr snapshot_;
    std::string client_name_;
    std::string client_address_;
    std::string helo_name_;
    std::optional<Message> message_;
};

// The envelope address without its angle brackets ("<a@b>" → "a@b", "<>" → "").
std::string strip_angle_brackets(const std::string& address);
// The SIZE= value of MAIL FROM's ESMTP parameters, 0 when absent or unreadable.
std::uint64_t declared_size(const std::vector<std::string>& args);

}  // namespace relay::milter
