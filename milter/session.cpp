#include "milter/session.hpp"

#include <cctype>
#include <exception>
#include <limits>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_writer.hpp"
#include "core/base/log.hpp"
#include "core/policy/decider.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "core/rules/sent_reply.hpp"
#include "core/base/text.hpp"
#include "milter/reply.hpp"

namespace relay::milter {
namespace {

// A hostile message could send thousands of From: lines; we keep a few and refuse the rest as malformed.
constexpr std::size_t kMaxFieldsKept = 8;
constexpr std::size_t kMaxFieldBytesKept = 16385;  // one more than the parser accepts, so it says "too long"

std::string macro_or_empty(const MilterContext& ctx, const char* name) {
    auto value = ctx.macro(name);
    return value ? *value : std::string();
}

// One line per decision that is not plain "continue", and one per accepted message. A session without a
// SASL login that an IP-authorised account covers names that account (account=), refused or not.
void log_decision(const Request& r, const Decision& d, const Outcome& o) {
    // [general] refusal_summary may count a refusal instead of logging it (a refusal flood).
    if (d.refused()) {
        const std::string& account = r.sasl_login.empty() ? d.login : r.sasl_login;
        const std::string who = account.empty() ? "client=" + sanitize(r.client_address, 60)
                                                : "login=" + sanitize(account, 100);
        if (!log_refusal_in_full(LogLevel::notice, who, to_string(d.reason))) return;
    }
    std::string line = "milter: queue_id=" + (r.queue_id.empty() ? std::string("-") : sanitize(r.queue_id, 40)) +
                       " stage=" + to_string(r.stage) +
                       " login=" + (r.sasl_login.empty() ? std::string("-") : sanitize(r.sasl_login, 100)) +
                       (r.sasl_login.empty() && !d.login.empty() ? " account=" + sanitize(d.login, 100) : std::string()) +
                       " client=" + sanitize(r.client_address, 60) + " sender=<" + sanitize(r.sender, 100) + ">";
    if (r.stage == Stage::rcpt) line += " recipient=<" + sanitize(r.recipient, 100) + ">";
    line += " rcpts=" + std::to_string(r.recipient_count) + " size=" + std::to_string(r.size) +
            " verdict=" + to_string(d.verdict) + " reason=" + to_string(d.reason) + " status=" + to_string(o.status);
    if (!o.code.empty()) line += " reply=\"" + o.code + " " + o.enhanced + " " + o.text + "\"";
    if (o.quarantine) line += " quarantine=\"" + o.text + "\"";
    log(d.refused() ? LogLevel::notice : LogLevel::info, line);
}

}  // namespace

const char* to_string(Status status) {
    switch (status) {
        case Status::cont: return "continue";
        case Status::accept: return "accept";
        case Status::reject: return "reject";
        case Status::tempfail: return "tempfail";
        case Status::noreply: return "noreply";
    }
    return "?";
}

std::string strip_angle_brackets(const std::string& address) {
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>')
        return address.substr(1, address.size() - 2);
    return address;
}

std::uint64_t declared_size(const std::vector<std::string>& args) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() <= 5 || !equal_ignoring_ascii_case(a.substr(0, 5), "size=")) continue;
        std::uint64_t value = 0;
        for (std::size_t k = 5; k < a.size(); ++k) {
            if (!std::isdigit(static_cast<unsigned char>(a[k]))) return 0;
            if (value > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return 0;
            value = value * 10 + static_cast<std::uint64_t>(a[k] - '0');
        }
        return value;
    }
    return 0;
}

Filter::Filter(Decider& decider, const Clock& clock, Options options, EventWriter* events)
    : decider_(decider), clock_(clock), options_(std::move(options)), events_(events) {}

std::unique_ptr<Session> Filter::open_session() {
    return std::make_unique<Session>(*this, ++sessions_);
}

Session::Session(Filter& filter, std::uint64_t serial) : filter_(filter), serial_(serial) {}

template <typename Step>
Status Session::guarded(MilterContext& ctx, const char* stage, Step&& step) {
    try {
        return step();
    } catch (const std::exception& e) {
        log_error(std::string("milter: internal error at ") + stage + " (client " + sanitize(client_address_, 60) +
                  "): " + sanitize(e.what()) + "; answering tempfail");
    } catch (...) {
        log_error(std::string("milter: unknown internal error at ") + stage + "; answering tempfail");
    }
    try {
        return apply(ctx, internal_error_outcome());
    } catch (...) {
        return Status::tempfail;
    }
}

Session::Message& Session::message() {
    // A step of a message whose MAIL we never saw: the MTA and we disagree about the protocol state.
    if (!message_) throw std::logic_error("message step without MAIL FROM");
    return *message_;
}

void Session::note_queue_id(MilterContext& ctx) {
    if (!message_) return;
    if (auto id = ctx.macro("i")) message_->request.queue_id = *id;
}

// Connect and HELO never refuse: what they learn is used from MAIL FROM on, where a problem (no rules
// pinned, say) is answered. So they may run without a reply (Status::noreply) when the MTA allows it.
Status Session::connect(MilterContext& ctx, const std::string& client_name, const std::string& client_address) {
    const Status status = guarded(ctx, "connect", [&] {
        client_name_ = client_name;
        client_address_ = client_address.empty() ? macro_or_empty(ctx, "{client_addr}") : client_address;
        snapshot_ = filter_.decider_.rules();
        return Status::cont;
    });
    return noreply_.connect ? Status::noreply : status;
}

Status Session::helo(MilterContext& ctx, const std::string& helo_name) {
    const Status status = guarded(ctx, "helo", [&] {
        helo_name_ = helo_name;
        return Status::cont;
    });
    return noreply_.helo ? Status::noreply : status;
}

Status Session::answer(MilterContext& ctx, const Request& request, const Decision& decision) {
    const Outcome outcome = outcome_of(decision, filter_.options_);
    const bool plain = outcome.status == Status::cont && !outcome.quarantine &&
                       request.stage != Stage::end_of_message;
    if (!plain) log_decision(request, decision, outcome);
    if (outcome.quarantine && message_) message_->hold = outcome.text;
    return apply(ctx, outcome);
}

Status Session::envfrom(MilterContext& ctx, const std::vector<std::string>& args) {
    return guarded(ctx, "envfrom", [&] { return do_envfrom(ctx, args); });
}

Status Session::do_envfrom(MilterContext& ctx, const std::vector<std::string>& args) {
    message_.reset();
    if (!snapshot_) snapshot_ = filter_.decider_.rules();  // nothing was loaded at connect: try again
    message_.emplace();
    Request& r = message_->request;
    r.stage = Stage::mail;
    r.client_address = client_address_;
    r.client_name = client_name_;
    r.helo_name = helo_name_;
    r.sasl_login = macro_or_empty(ctx, "{auth_authen}");
    r.sasl_method = macro_or_empty(ctx, "{auth_type}");
    r.tls_protocol = macro_or_empty(ctx, "{tls_version}");
    r.tls_cipher = macro_or_empty(ctx, "{cipher}");
    r.queue_id = macro_or_empty(ctx, "i");
    r.sender = args.empty() ? std::string() : strip_angle_brackets(args[0]);
    r.sender_known = true;
    r.size = declared_size(args);
    r.instance = std::to_string(serial_) + "." + std::to_string(++messages_);

    log_debug("milter: MAIL FROM:<" + sanitize(r.sender, 100) + "> queue_id=" + sanitize(r.queue_id, 40) +
              " {auth_authen}=" + sanitize(r.sasl_login, 100) + " {tls_version}=" + sanitize(r.tls_protocol, 20) +
              " client=" + sanitize(r.client_address, 60));
    const Decision d = filter_.decider_.evaluate(r, snapshot_);
    if (!r.authenticated() && d.verdict == Verdict::cont && d.reason == Reason::not_ours) {
        message_.reset();
        return Status::accept;  // inbound mail, or a client we know nothing of: untouched
    }
    const Request mail = r;  // answer() may end the message
    const Status status = answer(ctx, mail, d);
    if (status != Status::cont) message_.reset();
    return status;
}

Status Session::envrcpt(MilterContext& ctx, const std::vector<std::string>& args) {
    return guarded(ctx, "envrcpt", [&] { return do_envrcpt(ctx, args); });
}

Status Session::do_envrcpt(MilterContext& ctx, const std::vector<std::string>& args) {
    Message& m = message();
    note_queue_id(ctx);
    Request r = m.request;
    r.stage = Stage::rcpt;
    r.recipient = args.empty() ? std::string() : strip_angle_brackets(args[0]);
    r.recipient_count = m.accepted_rcpts;
    const Decision d = filter_.decider_.evaluate(r, snapshot_);
    const Status status = answer(ctx, r, d);
    if (status == Status::cont) {
        ++m.accepted_rcpts;
        m.last_rcpt = r.recipient;
    }
    return status;
}

Status Session::header(MilterContext& ctx, const std::string& name, const std::string& value) {
    return guarded(ctx, "header", [&] {
        Message& m = message();
        m.header_bytes += name.size() + 2 + value.size() + 2;  // "Name: value\r\n"
        std::vector<std::string>* kept = equal_ignoring_ascii_case(name, "From") ? &m.headers.from
                                         : equal_ignoring_ascii_case(name, "Sender") ? &m.headers.sender
                                                                   : nullptr;
        if (kept) {
            if (kept->size() >= kMaxFieldsKept)
                m.headers.too_many = true;
            else
                kept->push_back(value.substr(0, kMaxFieldBytesKept));
        }
        return noreply_.header ? Status::noreply : Status::cont;
    });
}

Status Session::eoh(MilterContext& ctx) {
    return guarded(ctx, "eoh", [&] { return do_eoh(ctx); });
}

Status Session::do_eoh(MilterContext& ctx) {
    Message& m = message();
    note_queue_id(ctx);
    Request r = m.request;
    r.stage = Stage::data;
    r.recipient_count = m.accepted_rcpts;
    if (filter_.options_.header_from == HeaderFromAction::off) return Status::cont;
    if (!snapshot_) {  // cannot happen after a continued MAIL, but never check against nothing
        return answer(ctx, r, fail_closed(Failure::rules_unavailable));
    }
    const TimePoint now = filter_.clock_.now();
    HeaderCheck check = check_header_from(m.request, m.headers, *snapshot_, now, filter_.options_.header_from);
    m.request.header_from = check.addresses;
    if (!check.refusal) return Status::cont;
    r.header_from = check.addresses;
    if (filter_.events_) filter_.events_->submit(make_event(r, *check.refusal, now, filter_.options_.node));
    metrics::on_decision(r.stage, *check.refusal, std::chrono::duration<double>(filter_.clock_.now() - now).count());
    return answer(ctx, r, *check.refusal);
}

Status Session::body(MilterContext& ctx, std::size_t length) {
    return guarded(ctx, "body", [&] {
        message().body_bytes += length;
        return noreply_.body ? Status::noreply : Status::cont;
    });
}

Status Session::eom(MilterContext& ctx) {
    return guarded(ctx, "eom", [&] { return do_eom(ctx); });
}

Status Session::do_eom(MilterContext& ctx) {
    Message& m = message();
    note_queue_id(ctx);
    Request r = m.request;
    r.stage = Stage::end_of_message;
    r.recipient_count = m.accepted_rcpts;
    r.recipient = m.accepted_rcpts == 1 ? m.last_rcpt : std::string();
    r.size = m.header_bytes + 2 + m.body_bytes;  // headers, the empty line, the body (CRLF line ends)
    const Decision d = filter_.decider_.evaluate(r, snapshot_);
    const Outcome outcome = outcome_of(d, filter_.options_);
    log_decision(r, d, outcome);
    Status status = apply(ctx, outcome);
    const std::optional<std::string> hold = outcome.quarantine ? std::optional<std::string>(outcome.text) : m.hold;
    if (status == Status::cont && hold) ctx.quarantine(*hold);
    message_.reset();
    return status;
}

Status Session::abort(MilterContext& ctx) {
    return guarded(ctx, "abort", [&] {
        message_.reset();
        return Status::cont;
    });
}

}  // namespace relay::milter
