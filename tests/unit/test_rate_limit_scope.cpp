// Which limits apply to which account: precedence of each_account scopes, shared pools, client networks,
// shadow and inactive limits; what a message costs; how a limit is described.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tests/support/memory_store.hpp"
#include "core/ratelimit/rate_limit_scope.hpp"

using namespace relay;

namespace {

struct Rig {
    Snapshot snapshot;
    Id acme = 0, other = 0, example_com = 0, example_org = 0;
    Id alice = 0, bob = 0, carol = 0;
};

RateLimit make(Id id, RateScope scope, std::optional<Id> scope_id, RateMeter meter, std::uint32_t window,
               RateKind kind = RateKind::each_account) {
    RateLimit l;
    l.id = id;
    l.scope = scope;
    l.scope_id = scope_id;
    l.meter = meter;
    l.amount = 100;
    l.window_seconds = window;
    l.kind = kind;
    return l;
}

Rig rig() {
    Rig r;
    SnapshotBuilder b;
    r.acme = b.add_customer("Acme");
    r.other = b.add_customer("Other");
    r.example_com = b.add_domain(r.acme, "example.com");
    r.example_org = b.add_domain(r.other, "example.org");
    r.alice = b.add_account("alice@example.com").id;
    r.bob = b.add_account("bob@example.com").id;
    r.carol = b.add_account("carol@example.org", r.acme).id;  // sends on behalf of Acme
    using S = RateScope;
    using M = RateMeter;
    b.add_rate_limit(make(101, S::global, std::nullopt, M::messages, 3600));
    b.add_rate_limit(make(102, S::customer, r.acme, M::messages, 3600));
    b.add_rate_limit(make(103, S::domain, r.example_com, M::messages, 3600));
    b.add_rate_limit(make(104, S::authority, r.alice, M::messages, 3600));
    RateLimit day = make(105, S::global, std::nullopt, M::messages, 86400);
    day.calendar = RateCalendar::day;
    b.add_rate_limit(day);
    RateLimit shadow = make(106, S::authority, r.bob, M::messages, 3600);
    shadow.shadow = true;
    b.add_rate_limit(shadow);
    b.add_rate_limit(make(107, S::domain, r.example_com, M::recipients, 86400, RateKind::shared_pool));
    RateLimit net_each = make(108, S::client_network, std::nullopt, M::messages, 3600);
    net_each.cidr = Cidr::parse("192.0.2.0/24");
    b.add_rate_limit(net_each);
    RateLimit net_pool = make(109, S::client_network, std::nullopt, M::messages, 3600, RateKind::shared_pool);
    net_pool.cidr = Cidr::parse("2001:db8::/32");
    b.add_rate_limit(net_pool);
    RateLimit inactive = make(110, S::authority, r.bob, M::messages, 3600);
    inactive.active = false;
    b.add_rate_limit(inactive);
    b.add_rate_limit(make(111, S::customer, r.acme, M::bytes, 3600, RateKind::shared_pool));
    b.add_rate_limit(make(112, S::global, std::nullopt, M::messages, 3600, RateKind::shared_pool));
    r.snapshot = b.build();
    return r;
}

std::string applied_text(const std::vector<AppliedLimit>& applied, const Rig& r) {
    std::string out;
    for (const AppliedLimit& a : applied) {
        std::string who = a.subject_id == 0       ? "pool"
                          : a.subject_id == r.alice ? "alice"
                          : a.subject_id == r.bob   ? "bob"
                          : a.subject_id == r.carol ? "carol"
                                                    : std::to_string(a.subject_id);
        out += (out.empty() ? "" : " ") + std::to_string(a.limit->id) + ":" + who;
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limit_scope)

BOOST_AUTO_TEST_CASE(applicable_limits_table) {
    const Rig r = rig();
    struct Case {
        const char* name;
        const char* login;
        const char* client;
        const char* want;
    } const cases[] = {
        {"authority beats domain, customer, global (same meter and window); day limit and pools apply too",
         "alice@example.com", "198.51.100.7", "104:alice 105:alice 107:pool 111:pool 112:pool"},
        {"domain beats customer and global; a shadow limit does not replace the enforced one; inactive ignored",
         "bob@example.com", "198.51.100.7", "103:bob 105:bob 106:bob 107:pool 111:pool 112:pool"},
        {"customer of the authority, not of the login domain", "carol@example.org", "198.51.100.7",
         "102:carol 105:carol 111:pool 112:pool"},
        {"client network, each account", "carol@example.org", "192.0.2.55",
         "102:carol 105:carol 108:carol 111:pool 112:pool"},
        {"client network pool over IPv6", "carol@example.org", "2001:db8:5::1",
         "102:carol 105:carol 109:pool 111:pool 112:pool"},
        {"IPv4-mapped client address", "alice@example.com", "::ffff:192.0.2.9",
         "104:alice 105:alice 107:pool 108:alice 111:pool 112:pool"},
        {"unparseable client address: no network limit", "alice@example.com", "unknown",
         "104:alice 105:alice 107:pool 111:pool 112:pool"},
    };
    for (const auto& c : cases) {
        const auto account = r.snapshot.find_account(c.login);
        BOOST_REQUIRE_MESSAGE(account, "case " << c.name << ": no account " << c.login);
        const std::string got = applied_text(applicable_limits(r.snapshot, *account, c.client), r);
        BOOST_CHECK_MESSAGE(got == c.want, "case " << c.name << ": got " << got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(no_limits_no_work) {
    SnapshotBuilder b;
    b.add_account("dave@example.net");
    const Snapshot s = b.build();
    BOOST_CHECK(applicable_limits(s, *s.find_account("dave@example.net"), "192.0.2.1").empty());
}

BOOST_AUTO_TEST_CASE(costs_table) {
    Request eom;
    eom.stage = Stage::end_of_message;
    eom.recipient_count = 3;
    eom.size = 12345;
    Request rcpt;
    rcpt.stage = Stage::rcpt;
    rcpt.recipient_count = 2;  // two accepted before this one
    Request unknown;           // Postfix sent no counts
    struct Case {
        const char* name;
        std::uint64_t got, want;
    } const cases[] = {
        {"eom messages", message_cost(RateMeter::messages, eom), 1},
        {"eom recipients", message_cost(RateMeter::recipients, eom), 3},
        {"eom bytes", message_cost(RateMeter::bytes, eom), 12345},
        {"eom recipients unknown counts one", message_cost(RateMeter::recipients, unknown), 1},
        {"eom bytes unknown counts nothing", message_cost(RateMeter::bytes, unknown), 0},
        {"rcpt messages", peek_cost(RateMeter::messages, rcpt), 1},
        {"rcpt recipients include this one", peek_cost(RateMeter::recipients, rcpt), 3},
        {"rcpt bytes at least one", peek_cost(RateMeter::bytes, rcpt), 1},
    };
    for (const auto& c : cases) {
        BOOST_CHECK_MESSAGE(c.got == c.want, "case " << c.name << ": got " << c.got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_CASE(descriptions) {
    const Rig r = rig();
    auto find = [&](Id id) -> const RateLimit& {
        for (const RateLimit& l : r.snapshot.rate_limits) {
            if (l.id == id) return l;
        }
        throw std::out_of_range("no limit");
    };
    RateLimit odd = make(1, RateScope::global, std::nullopt, RateMeter::bytes, 90);
    struct Case {
        const char* name;
        std::string got;
        const char* want;
    } const cases[] = {
        {"rolling hour", describe_limit(find(104), r.snapshot), "100 messages per 1 hour (rolling)"},
        {"calendar day", describe_limit(find(105), r.snapshot), "100 messages per calendar day"},
        {"domain pool", describe_limit(find(107), r.snapshot), "100 recipients per 1 day (rolling), shared by domain example.com"},
        {"network", describe_limit(find(108), r.snapshot), "100 messages per 1 hour (rolling) from network 192.0.2.0/24"},
        {"customer pool", describe_limit(find(111), r.snapshot), "100 bytes per 1 hour (rolling), shared by customer Acme"},
        {"global pool", describe_limit(find(112), r.snapshot), "100 messages per 1 hour (rolling), shared by all accounts"},
        {"odd window", describe_limit(odd, r.snapshot), "100 bytes per 90 seconds (rolling)"},
    };
    for (const auto& c : cases) {
        BOOST_CHECK_MESSAGE(c.got == c.want, "case " << c.name << ": got " << c.got << ", want " << c.want);
    }
}

BOOST_AUTO_TEST_SUITE_END()
