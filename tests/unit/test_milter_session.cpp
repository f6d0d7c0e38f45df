// relay-milter's callbacks (milter/session.cpp) driven through the seam: a fake MilterContext instead of
// libmilter, the real Policy and engine over a MemoryStore.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/unit/captured_stderr.hpp"
#include "tests/support/memory_store.hpp"
#include "core/policy/policy.hpp"
#include "core/policy/snapshot_cache.hpp"
#include "milter/session.hpp"
#include "tests/support/cached_policy.hpp"

using namespace relay;
using relay::milter::Filter;
using relay::milter::HeaderFromAction;
using relay::milter::MilterContext;
using relay::milter::Session;
using relay::milter::Status;

namespace {

struct Reply {
    std::string code, enhanced, text;
};

class FakeContext final : public MilterContext {
public:
    std::map<std::string, std::string> macros;
    std::optional<Reply> reply;
    std::optional<std::string> quarantined;

    std::optional<std::string> macro(const char* name) const override {
        auto it = macros.find(name);
        if (it == macros.end() || it->second.empty()) return std::nullopt;
        return it->second;
    }
    bool set_reply(const std::string& code, const std::string& enhanced, const std::string& text) override {
        reply = Reply{code, enhanced, text};
        return true;
    }
    bool quarantine(const std::string& reason) override {
        quarantined = reason;
        return true;
    }
};

Snapshot rules() {
    SnapshotBuilder b;
    const Id acme = b.add_customer("Acme");
    b.add_domain(acme, "acme.example");
    b.add_domain(acme, "acme-mail.example");
    Authority& alice = b.add_account("alice@acme.example");
    alice.sender_policy = SenderPolicy::own_address;
    b.add_sender(alice.id, "@acme-mail.example");
    Authority& bob = b.add_account("bob@acme.example");
    bob.may_relay_external = false;
    bob.max_recipients_per_message = 2;
    bob.max_message_bytes = 300;
    Authority& carol = b.add_account("carol@acme.example");
    carol.require_tls = true;
    Authority& printer = b.add_account("printer1@acme.example");
    printer.auth_mode = AuthMode::ip;
    b.add_network(printer.id, "192.0.2.0/24");
    Authority& off = b.add_account("gone@acme.example");
    off.active = false;
    return b.build();
}

// The daemon's wiring, in memory.
struct World {
    MemoryStore store{rules()};
    ManualClock clock;
    CacheOptions cache_options;
    std::unique_ptr<SnapshotCache> cache;
    EventWriter events{store};
    std::unique_ptr<Policy> policy;
    std::unique_ptr<CachedPolicy> decider;
    std::unique_ptr<Filter> filter;

    explicit World(milter::Options options = {}, bool load = true) {
        cache_options.max_stale = std::chrono::seconds(60);
        cache = std::make_unique<SnapshotCache>(store, cache_options, clock);
        if (load) cache->refresh();
        policy = std::make_unique<Policy>(*cache, clock, PolicyOptions{"test"}, nullptr, &events);
        decider = std::make_unique<CachedPolicy>(*cache, *policy);
        filter = std::make_unique<Filter>(*decider, clock, options, &events);
    }
};

// One SMTP session as an MTA would drive it.
struct Client {
    World& world;
    FakeContext ctx;
    std::unique_ptr<Session> session;

    Client(World& w, const std::string& login, const std::string& address = "198.51.100.7") : world(w) {
        session = w.filter->open_session();
        if (!login.empty()) {
            ctx.macros["{auth_authen}"] = login;
            ctx.macros["{auth_type}"] = "PLAIN";
        }
        ctx.macros["{tls_version}"] = "TLSv1.3";
        ctx.macros["i"] = "4AbCdEf";
        session->connect(ctx, "client.example", address);
        session->helo(ctx, "client.example");
    }
    Status mail(const std::string& sender, std::vector<std::string> extra = {}) {
        extra.insert(extra.begin(), "<" + sender + ">");
        return session->envfrom(ctx, extra);
    }
    Status rcpt(const std::string& recipient) { return session->envrcpt(ctx, {"<" + recipient + ">"}); }
    Status headers(const std::vector<std::pair<std::string, std::string>>& fields) {
        for (const auto& [name, value] : fields) session->header(ctx, name, value);
        return session->eoh(ctx);
    }
    Status eom(std::size_t body_bytes = 100) {
        session->body(ctx, body_bytes);
        return session->eom(ctx);
    }
    std::string reply() const {
        return ctx.reply ? ctx.reply->code + " " + ctx.reply->enhanced + " " + ctx.reply->text : "(none)";
    }
};

std::string str(Status s) { return milter::to_string(s); }

// A whole message from an authenticated login; returns the first status that is not "continue"
// and the stage it came at.
struct Run {
    std::string stage;
    Status status = Status::cont;
    std::string reply;
};

Run send(World& world, const std::string& login, const std::string& sender, const std::string& from_header,
         const std::vector<std::string>& rcpts = {"rcpt@external.example"}, const std::string& client = "198.51.100.7") {
    Client c(world, login, client);
    Run r;
    auto done = [&](const char* stage, Status s) {
        r.stage = stage;
        r.status = s;
        r.reply = c.reply();
        return s != Status::cont && s != Status::noreply;
    };
    if (done("mail", c.mail(sender))) return r;
    for (const auto& rcpt : rcpts)
        if (done("rcpt", c.rcpt(rcpt))) return r;
    if (done("eoh", c.headers({{"Subject", "hi"}, {"From", from_header}}))) return r;
    done("eom", c.eom());
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(milter_session)

BOOST_AUTO_TEST_CASE(decision_table) {
    struct Case {
        const char* name;
        std::string login, sender, from, client;
        std::vector<std::string> rcpts;
        std::string stage;
        Status status;
        std::string reply_prefix;  // "550 5.7.1" etc.; empty: no reply expected
    };
    const std::vector<std::string> ext = {"rcpt@external.example"};
    const std::string C = "198.51.100.7";
    const std::vector<Case> table = {
        {"unauthenticated inbound is accepted at MAIL", "", "someone@elsewhere.example", "x@y.example", C, ext,
         "mail", Status::accept, ""},
        {"authorised, own sender and From:", "alice@acme.example", "alice@acme.example",
         "Alice <alice@acme.example>", C, ext, "eom", Status::cont, ""},
        {"foreign envelope sender", "alice@acme.example", "mallory@evil.example", "alice@acme.example", C, ext,
         "mail", Status::reject, "550 5.7.1"},
        {"foreign From:", "alice@acme.example", "alice@acme.example", "Mallory <mallory@evil.example>", C, ext,
         "eoh", Status::reject, "550 5.7.1"},
        {"From: owned, envelope not", "alice@acme.example", "mallory@evil.example", "alice@acme.example", C, ext,
         "mail", Status::reject, "550 5.7.1"},
        {"envelope owned, From: not", "alice@acme.example", "alice@acme.example", "bob@acme.example", C, ext,
         "eoh", Status::reject, "550 5.7.1"},
        {"From: via authority_senders pattern", "alice@acme.example", "alice@acme.example",
         "news@acme-mail.example", C, ext, "eom", Status::cont, ""},
        {"group syntax, owned member", "alice@acme.example", "alice@acme.example", "Me: alice@acme.example;", C,
         ext, "eom", Status::cont, ""},
        {"group syntax, foreign member", "alice@acme.example", "alice@acme.example",
         "Us: alice@acme.example, eve@evil.example;", C, ext, "eoh", Status::reject, "550 5.7.1"},
        {"encoded-word display name, owned", "alice@acme.example", "alice@acme.example",
         "=?utf-8?q?Alice_Sm=C3=AFth?= <alice@acme.example>", C, ext, "eom", Status::cont, ""},
        {"encoded-word display name hiding a foreign address", "alice@acme.example", "alice@acme.example",
         "=?utf-8?q?alice@acme.example?= <eve@evil.example>", C, ext, "eoh", Status::reject, "550 5.7.1"},
        {"two addresses, one foreign", "alice@acme.example", "alice@acme.example",
         "alice@acme.example, eve@evil.example", C, ext, "eoh", Status::reject, "550 5.7.1"},
        {"malformed From:", "alice@acme.example", "alice@acme.example", "Alice <alice@acme.example", C, ext, "eoh",
         Status::reject, "550 5.6.0"},
        {"login without authority", "nobody@acme.example", "nobody@acme.example", "nobody@acme.example", C, ext,
         "mail", Status::reject, "550 5.7.1"},
        {"disabled account", "gone@acme.example", "gone@acme.example", "gone@acme.example", C, ext, "mail",
         Status::reject, "550 5.7.1"},
        {"external relay denied", "bob@acme.example", "bob@acme.example", "bob@acme.example", C, ext, "rcpt",
         Status::reject, "550 5.7.1"},
        // issue 13 items 6 and 7: the milter uses the same engine
        {"routed recipient (percent hack) counts as external", "bob@acme.example", "bob@acme.example",
         "bob@acme.example", C, {"victim%evil.example@acme.example"}, "rcpt", Status::reject, "550 5.7.1"},
        {"routed recipient (quoted @) counts as external", "bob@acme.example", "bob@acme.example",
         "bob@acme.example", C, {"\"victim@evil.example\"@acme.example"}, "rcpt", Status::reject, "550 5.7.1"},
        {"login not in canonical form is no account", "<alice@acme.example>", "alice@acme.example",
         "alice@acme.example", C, ext, "mail", Status::reject, "550 5.7.1"},
        {"local recipient allowed", "bob@acme.example", "bob@acme.example", "bob@acme.example", C,
         {"x@acme.example"}, "eom", Status::cont, ""},
        {"recipient cap", "bob@acme.example", "bob@acme.example", "bob@acme.example", C,
         {"a@acme.example", "b@acme.example", "c@acme.example"}, "rcpt", Status::tempfail, "452 4.5.3"},
        {"IP-authorised printer without SASL", "", "printer1@acme.example", "printer1@acme.example", "192.0.2.10",
         ext, "eom", Status::cont, ""},
        {"IP-authorised printer, foreign From:", "", "printer1@acme.example", "boss@evil.example", "192.0.2.10",
         ext, "eoh", Status::reject, "550 5.7.1"},
        {"same printer sender from another address: not ours", "", "printer1@acme.example", "x@y.example", C, ext,
         "mail", Status::accept, ""},
    };
    for (const auto& c : table) {
        World world;
        const Run r = send(world, c.login, c.sender, c.from, c.rcpts, c.client);
        const bool reply_ok = c.reply_prefix.empty() ? r.reply == "(none)" : r.reply.rfind(c.reply_prefix, 0) == 0;
        BOOST_CHECK_MESSAGE(r.stage == c.stage && r.status == c.status && reply_ok,
                            "case " << c.name << ": got " << r.stage << "/" << str(r.status) << " [" << r.reply
                                    << "], want " << c.stage << "/" << str(c.status) << " [" << c.reply_prefix << "]");
    }
}

BOOST_AUTO_TEST_CASE(two_from_headers_are_refused) {
    World world;
    Client c(world, "alice@acme.example");
    BOOST_TEST(str(c.mail("alice@acme.example")) == "continue");
    BOOST_TEST(str(c.rcpt("rcpt@external.example")) == "continue");
    const Status s = c.headers({{"From", "alice@acme.example"}, {"From", "alice@acme.example"}});
    BOOST_TEST(str(s) == "reject");
    BOOST_TEST(c.reply().find("2 From: headers") != std::string::npos, c.reply());
}

BOOST_AUTO_TEST_CASE(missing_from_and_foreign_sender_header) {
    World world;
    {
        Client c(world, "alice@acme.example");
        c.mail("alice@acme.example");
        c.rcpt("rcpt@external.example");
        BOOST_TEST(str(c.headers({{"Subject", "no from"}})) == "reject");
        BOOST_TEST(c.reply().find("no From: header") != std::string::npos, c.reply());
    }
    {
        Client c(world, "alice@acme.example");
        c.mail("alice@acme.example");
        c.rcpt("rcpt@external.example");
        BOOST_TEST(str(c.headers({{"From", "alice@acme.example"}, {"Sender", "eve@evil.example"}})) == "reject");
        BOOST_TEST(c.reply().find("Sender:") != std::string::npos, c.reply());
    }
}

BOOST_AUTO_TEST_CASE(header_from_action_tempfail_and_off) {
    milter::Options tempfail;
    tempfail.header_from = HeaderFromAction::tempfail;
    World w1(tempfail);
    Run r = send(w1, "alice@acme.example", "alice@acme.example", "eve@evil.example");
    BOOST_TEST(r.stage == "eoh");
    BOOST_TEST(str(r.status) == "tempfail");
    BOOST_TEST(r.reply.rfind("451 4.7.1", 0) == 0u, r.reply);

    milter::Options off;
    off.header_from = HeaderFromAction::off;
    World w2(off);
    r = send(w2, "alice@acme.example", "alice@acme.example", "eve@evil.example");
    BOOST_TEST(r.stage == "eom");
    BOOST_TEST(str(r.status) == "continue");
}

BOOST_AUTO_TEST_CASE(store_down_is_a_temporary_failure) {
    // Nothing ever loaded and the database does not answer: authenticated mail gets 451, never an accept.
    World world({}, false);
    world.store.set_failing(true);
    world.cache->refresh();
    Run r = send(world, "alice@acme.example", "alice@acme.example", "alice@acme.example");
    BOOST_TEST(r.stage == "mail");
    BOOST_TEST(str(r.status) == "tempfail");
    BOOST_TEST(r.reply.rfind("451 4.3.0", 0) == 0u, r.reply);
    // Inbound mail is not ours and stays untouched even now.
    r = send(world, "", "someone@elsewhere.example", "x@y.example");
    BOOST_TEST(str(r.status) == "accept");
}

BOOST_AUTO_TEST_CASE(store_down_past_max_stale_and_reject_configured) {
    milter::Options reject;
    reject.on_rules_unavailable = milter::FailureAnswer::reject;
    World world(reject);
    world.store.set_failing(true);
    world.clock.advance(std::chrono::seconds(120));
    world.cache->refresh();
    const Run r = send(world, "alice@acme.example", "alice@acme.example", "alice@acme.example");
    BOOST_TEST(str(r.status) == "reject");
    BOOST_TEST(r.reply.rfind("550 5.3.0", 0) == 0u, r.reply);
}

BOOST_AUTO_TEST_CASE(snapshot_is_pinned_per_connection) {
    World world;
    Client early(world, "alice@acme.example");
    const SnapshotPtr pinned = early.session->pinned_snapshot();
    BOOST_TEST_REQUIRE(pinned != nullptr);
    // An admin disables alice in SQL; the cache picks it up.
    SnapshotBuilder b;
    b.add_domain(b.add_customer("Acme"), "acme.example");
    b.add_account("alice@acme.example").active = false;
    world.store.set_snapshot(b.build());
    world.cache->refresh();
    // The connection that was already open keeps its rules for all its stages ...
    BOOST_TEST(early.session->pinned_snapshot() == pinned);
    BOOST_TEST(str(early.mail("alice@acme.example")) == "continue");
    // ... a new connection sees the change.
    Client late(world, "alice@acme.example");
    BOOST_TEST(str(late.mail("alice@acme.example")) == "reject");
}

BOOST_AUTO_TEST_CASE(recipients_are_counted_per_message) {
    World world;
    Client c(world, "bob@acme.example");
    BOOST_TEST(str(c.mail("bob@acme.example")) == "continue");
    BOOST_TEST(str(c.rcpt("a@acme.example")) == "continue");
    BOOST_TEST(str(c.rcpt("b@acme.example")) == "continue");
    BOOST_TEST(str(c.rcpt("c@acme.example")) == "tempfail");
    c.session->abort(c.ctx);
    BOOST_TEST(!c.session->in_message());
    BOOST_TEST(str(c.mail("bob@acme.example")) == "continue");  // a new message starts from zero
    BOOST_TEST(str(c.rcpt("a@acme.example")) == "continue");
    BOOST_TEST(str(c.rcpt("b@acme.example")) == "continue");
}

BOOST_AUTO_TEST_CASE(size_is_checked_declared_and_counted) {
    World world;
    {
        Client c(world, "bob@acme.example");
        BOOST_TEST(str(c.mail("bob@acme.example", {"SIZE=5000"})) == "reject");
        BOOST_TEST(c.reply().rfind("552 5.3.4", 0) == 0u, c.reply());
    }
    {
        Client c(world, "bob@acme.example");
        c.mail("bob@acme.example");
        c.rcpt("a@acme.example");
        BOOST_TEST(str(c.headers({{"From", "bob@acme.example"}})) == "continue");
        BOOST_TEST(str(c.eom(400)) == "reject");
        BOOST_TEST(c.reply().rfind("552 5.3.4", 0) == 0u, c.reply());
    }
    {
        Client c(world, "bob@acme.example");
        c.mail("bob@acme.example");
        c.rcpt("a@acme.example");
        c.headers({{"From", "bob@acme.example"}});
        BOOST_TEST(str(c.eom(50)) == "continue");
    }
}

BOOST_AUTO_TEST_CASE(tls_is_read_from_the_macros) {
    World world;
    Client without(world, "carol@acme.example");
    without.ctx.macros.erase("{tls_version}");
    BOOST_TEST(str(without.mail("carol@acme.example")) == "reject");
    BOOST_TEST(without.reply().rfind("530 5.7.0", 0) == 0u, without.reply());
    Client with(world, "carol@acme.example");
    BOOST_TEST(str(with.mail("carol@acme.example")) == "continue");
}

BOOST_AUTO_TEST_CASE(protocol_confusion_is_a_tempfail_never_an_accept) {
    World world;
    Client c(world, "alice@acme.example");
    // RCPT without MAIL: an internal error for us.
    BOOST_TEST(str(c.rcpt("rcpt@external.example")) == "tempfail");
    BOOST_TEST(c.reply().rfind("451 4.3.0", 0) == 0u, c.reply());
    BOOST_TEST(str(c.session->eom(c.ctx)) == "tempfail");
}

BOOST_AUTO_TEST_CASE(noreply_steps_answer_noreply) {
    World world;
    Client c(world, "alice@acme.example");
    c.session->set_noreply({true, true, true, true});
    BOOST_TEST(str(c.session->connect(c.ctx, "client.example", "198.51.100.7")) == "noreply");
    BOOST_TEST(str(c.session->helo(c.ctx, "client.example")) == "noreply");
    c.mail("alice@acme.example");
    c.rcpt("rcpt@external.example");
    BOOST_TEST(str(c.session->header(c.ctx, "From", "alice@acme.example")) == "noreply");
    BOOST_TEST(str(c.session->eoh(c.ctx)) == "continue");
    BOOST_TEST(str(c.session->body(c.ctx, 10)) == "noreply");
    BOOST_TEST(str(c.session->eom(c.ctx)) == "continue");
    // Without the MTA's consent every step answers.
    Client d(world, "alice@acme.example");
    BOOST_TEST(str(d.session->connect(d.ctx, "client.example", "198.51.100.7")) == "continue");
    BOOST_TEST(str(d.session->helo(d.ctx, "client.example")) == "continue");
}

BOOST_AUTO_TEST_CASE(from_refusal_is_in_the_audit_trail) {
    World world;
    send(world, "alice@acme.example", "alice@acme.example", "eve@evil.example");
    world.events.flush();
    bool found = false;
    for (const Event& e : world.store.events())
        found = found || (e.reason == Reason::header_from_not_owned && e.login == "alice@acme.example");
    BOOST_TEST(found);
}

BOOST_AUTO_TEST_CASE(envelope_helpers) {
    BOOST_TEST(milter::strip_angle_brackets("<a@b.example>") == "a@b.example");
    BOOST_TEST(milter::strip_angle_brackets("<>") == "");
    BOOST_TEST(milter::strip_angle_brackets("a@b.example") == "a@b.example");
    BOOST_TEST(milter::declared_size({"<a@b>", "BODY=8BITMIME", "SIZE=1234"}) == 1234u);
    BOOST_TEST(milter::declared_size({"<a@b>", "size=77"}) == 77u);
    BOOST_TEST(milter::declared_size({"<a@b>", "SIZE=12x"}) == 0u);
    BOOST_TEST(milter::declared_size({"<a@b>", "SIZE=99999999999999999999999"}) == 0u);
    BOOST_TEST(milter::declared_size({"SIZE=5"}) == 0u);  // argv[0] is the address, never a parameter
}

// [general] refusal_summary: the milter's repeated refusals of one login and reason are counted, not
// logged one by one; an accepted message is still logged.
BOOST_AUTO_TEST_CASE(refusal_summary_counts_repeated_refusals) {
    relay::test::CapturedStderr captured;
    LogOptions o;
    o.to_stderr = true;
    o.refusal_summary = std::chrono::seconds(3600);
    log_init(o);
    World world;
    std::vector<Run> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(send(world, "alice@acme.example", "eve@evil.example", "eve@evil.example"));
    const Run accepted = send(world, "alice@acme.example", "alice@acme.example", "alice@acme.example");
    log_refusal_summaries_now();
    o.refusal_summary = std::chrono::seconds(0);
    log_init(o);
    const std::string got = captured.text();
    for (const Run& r : runs) BOOST_TEST(str(r.status) == "reject");
    BOOST_TEST(str(accepted.status) == "continue");
    std::size_t full = 0;
    for (std::size_t at = got.find("reason=sender_not_owned status="); at != std::string::npos;
         at = got.find("reason=sender_not_owned status=", at + 1))
        ++full;
    // one in full and "more=2", or (the hour turned between them) two in full and "more=1"
    const bool one = full == 1 && got.find("notice: refusal summary: login=alice@acme.example reason=sender_not_owned more=2 ") != std::string::npos;
    const bool two = full == 2 && got.find("refusal summary: login=alice@acme.example reason=sender_not_owned more=1 ") != std::string::npos;
    BOOST_TEST((one || two), "got '" << got << "'");
    BOOST_TEST(got.find("stage=end_of_message login=alice@acme.example") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
