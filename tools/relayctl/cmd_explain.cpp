// relayctl explain: loads the rules the daemons use (MysqlStore snapshot), runs the engine on a made-up
// request with a trace, and prints each rule's outcome and the verdict. Nothing is written: no event, no
// last-use stamp, no rate-limit charge (limits depend on live counters and are not evaluated here).
#include <iostream>

#include "core/mail/cidr.hpp"
#include "core/base/clock.hpp"
#include "core/rules/engine.hpp"
#include "core/store/mysql_store.hpp"
#include "core/base/text.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

Stage parse_stage(const std::string& s) {
    if (s == "mail") return Stage::mail;
    if (s == "rcpt") return Stage::rcpt;
    if (s == "data") return Stage::data;
    if (s == "end-of-message" || s == "end_of_message" || s == "eom") return Stage::end_of_message;
    throw UsageError("--stage: '" + printable(s, 40) + "' is not one of mail, rcpt, data, end-of-message");
}

Request build_request(const po::variables_map& vm) {
    Request r;
    r.stage = parse_stage(vm["stage"].as<std::string>());
    if (vm.count("login")) r.sasl_login = vm["login"].as<std::string>();
    if (!r.sasl_login.empty()) r.sasl_method = "PLAIN";
    if (!vm.count("client-ip")) throw UsageError("--client-ip is required (the address the client connects from)");
    r.client_address = vm["client-ip"].as<std::string>();
    if (!IpAddress::parse(r.client_address))
        throw UsageError("--client-ip: '" + printable(r.client_address, 60) + "' is not an IP address");
    if (!vm.count("sender")) throw UsageError("--sender is required (use '<>' for the null sender)");
    r.sender = vm["sender"].as<std::string>();
    if (r.sender == "<>") r.sender.clear();
    r.sender_known = true;
    if (vm.count("rcpt")) r.recipient = vm["rcpt"].as<std::string>();
    else if (r.stage == Stage::rcpt) throw UsageError("--rcpt is required at the rcpt stage");
    if (vm.count("tls")) {
        r.tls_protocol = "TLSv1.3";
        r.tls_cipher = "TLS_AES_256_GCM_SHA384";
    }
    if (vm.count("size")) r.size = parse_size(vm["size"].as<std::string>(), "--size").value_or(0);
    r.recipient_count = vm["accepted"].as<unsigned>();
    if (r.stage == Stage::end_of_message && r.recipient_count == 0) r.recipient_count = 1;
    r.instance = "relayctl-explain";
    return r;
}

Json explain_json(const Request& request, const EngineResult& result, const std::vector<RuleStep>& trace,
                  std::uint64_t generation) {
    const Decision& d = result.decision;
    Json steps = Json::array();
    for (const auto& s : trace)
        steps.push(Json::object().set("rule", s.rule).set("passed", s.passed).set("detail", s.detail));
    return Json::object()
        .set("request", Json::object().set("stage", to_string(request.stage)).set("login", request.sasl_login)
                            .set("client_address", request.client_address).set("sender", request.sender)
                            .set("recipient", request.recipient).set("tls", request.tls())
                            .set("size", request.size).set("recipients_accepted", request.recipient_count))
        .set("account", result.account ? Json(result.account->login) : Json())
        .set("steps", steps)
        .set("verdict", to_string(d.verdict))
        .set("reason", to_string(d.reason))
        .set("reply", d.reply().empty() ? Json() : Json(d.reply()))
        .set("generation", generation);
}

}  // namespace

int cmd_explain(Context& ctx, const Args& args) {
    Command cmd("explain --login L --sender S --rcpt R --client-ip A [--tls] [--size N]",
                "Answers \"why was this accepted or refused?\": runs the relay rules on the current database "
                "contents for the given session, without side effects, and prints every rule's outcome and the "
                "verdict with its reason. Leave out --login for an unauthenticated client (IP-authorised "
                "accounts). Rate limits are not evaluated (see relayctl usage).");
    cmd.options.add_options()
        ("login", po::value<std::string>(),
         "SASL login as the MTA passes it; only the account's login itself (up to ASCII case) finds it "
         "(omit: the client did not authenticate)")
        ("sender", po::value<std::string>(), "envelope sender (MAIL FROM), '<>' for the null sender")
        ("rcpt", po::value<std::string>(), "envelope recipient (RCPT TO)")
        ("client-ip", po::value<std::string>(), "client address")
        ("tls", "the session uses TLS (STARTTLS done)")
        ("size", po::value<std::string>(), "message size (SIZE= at MAIL, or the real size at end-of-message)")
        ("stage", po::value<std::string>()->default_value("rcpt"), "mail, rcpt (default), data, end-of-message")
        ("accepted", po::value<unsigned>()->default_value(0),
         "recipients already accepted in this message (at end-of-message: all of them)");
    auto vm = cmd.parse(ctx, args);
    Request request = build_request(vm);

    MysqlStore store(ctx.config().database);
    store.check_schema();
    std::shared_ptr<Snapshot> snapshot = store.load_snapshot();
    std::vector<RuleStep> trace;
    EngineResult result = decide(request, *snapshot, RealClock().now(), &trace);
    const Decision& d = result.decision;

    if (ctx.json) {
        emit(explain_json(request, result, trace, snapshot->generation));
        return kExitOk;
    }
    print_fields(std::cout, {{"stage", to_string(request.stage)},
                             {"login", request.sasl_login.empty() ? "(none: not authenticated)" : request.sasl_login},
                             {"client", request.client_address},
                             {"TLS", request.tls() ? "yes" : "no"},
                             {"sender", request.sender.empty() ? "<> (null sender)" : request.sender},
                             {"recipient", request.recipient.empty() ? "-" : request.recipient},
                             {"account", result.account ? result.account->login : "(none)"}});
    std::cout << "\nRules:\n";
    if (trace.empty()) std::cout << "  (no rule applied)\n";
    for (const auto& s : trace)
        std::cout << "  " << (s.passed ? "pass  " : "FAIL  ") << s.rule << std::string(s.rule.size() < 12 ? 12 - s.rule.size() : 1, ' ')
                  << printable(s.detail, 400) << "\n";
    std::cout << "\nVerdict: " << to_string(d.verdict) << " (reason " << to_string(d.reason) << ")";
    if (!d.reply().empty()) std::cout << "\nReply:   " << d.reply();
    std::cout << "\n";
    if (d.verdict == Verdict::cont && d.reason == Reason::ok)
        std::cout << "(allowed: the MTA's own restrictions still run; rate limits are not evaluated here)\n";
    return kExitOk;
}

}  // namespace relay::ctl
