#include "core/ratelimit/counter_rate_gate.hpp"

#include <utility>

#include "core/ratelimit/abuse.hpp"
#include "core/base/errors.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_writer.hpp"
#include "core/base/log.hpp"
#include "core/ratelimit/rate_limit_reply.hpp"
#include "core/ratelimit/rate_limit_scope.hpp"
#include "core/metrics/metrics.hpp"
#include "core/rules/sent_reply.hpp"

namespace relay {

namespace {

constexpr std::size_t kMaxRemembered = 200000;       // counters remembered for RCPT peeks
constexpr std::size_t kMaxLocalAllowances = 100000;  // accounts counted locally during an outage
constexpr auto kOutageReportInterval = std::chrono::seconds(60);

std::uint64_t key_of(Id limit_id, Id subject_id) {
    return (static_cast<std::uint64_t>(limit_id) << 32) ^ static_cast<std::uint64_t>(subject_id);
}

// How strongly a refusal by this limit answers: a hold still accepts the message, a defer that can never
// succeed is as final as a reject.
int rank(const RateLimit& limit, const LimitCheck& check) {
    switch (limit.action) {
        case RateAction::hold: return 1;
        case RateAction::defer: return check.never_fits ? 3 : 2;
        case RateAction::reject: return 3;
    }
    return 0;
}

// The outcome of one charge and how long it took since started, for the metrics.
void count_charge(metrics::ChargeOutcome outcome, ChargeDeadline started) {
    metrics::on_charge(outcome, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

const char* would_have(RateAction action) {
    switch (action) {
        case RateAction::defer: return "deferred";
        case RateAction::reject: return "rejected";
        case RateAction::hold: return "held";
    }
    return "refused";
}

std::string seconds_text(TimePoint from, TimePoint to) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(to - from).count()) + " s";
}

}  // namespace

// ---- CounterRateGate

CounterRateGate::CounterRateGate(RateCounters& counters, RateGateOptions options, EventWriter* events, AbuseMonitor* abuse)
    : counters_(counters), options_(std::move(options)), events_(events), abuse_(abuse), leases_(options_.lease) {}

std::optional<Decision> CounterRateGate::peek(const Request& request, const Account& account, const Snapshot& snapshot,
                                          TimePoint now) {
    if (!account.authority) return std::nullopt;
    const std::vector<AppliedLimit> applied = applicable_limits(snapshot, account, request.client_address);
    const RateLimit* worst = nullptr;
    LimitCheck worst_check;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const AppliedLimit& a : applied) {
            // Shadow limits never refuse; a hold accepts the message anyway, so end of message decides it.
            if (a.limit->shadow || a.limit->action == RateAction::hold) continue;
            // A unit of this process's own lease is room for the message (leases are on messages only).
            if (leases_.enabled() && leases_.holds_unit({a.limit->id, a.subject_id, a.limit}, now)) continue;
            auto it = remembered_.find(key_of(a.limit->id, a.subject_id));
            if (it == remembered_.end() || now - it->second.seen > options_.peek_memory) continue;
            LimitCheck check = check_limit(*a.limit, it->second.state, peek_cost(a.limit->meter, request), now,
                                           options_.zone);
            if (check.fits) continue;
            if (!worst || rank(*a.limit, check) > rank(*worst, worst_check)) {
                worst = a.limit;
                worst_check = check;
            }
        }
    }
    if (!worst) return std::nullopt;
    Decision d = rate_limit_refusal(*worst, worst_check, account.login, snapshot, now, options_.zone);
    d.authority_id = account.authority->id;
    d.login = account.login;
    observe_refusal(request, account, now);
    return d;
}

bool CounterRateGate::charge_may_wait(const Request& request, const Account& account, const Snapshot& snapshot) const {
    return account.authority && !applicable_limits(snapshot, account, request.client_address).empty();
}

std::optional<Decision> CounterRateGate::charge(const Request& request, const Account& account, const Snapshot& snapshot,
                                            TimePoint now) {
    if (!account.authority) return std::nullopt;
    const ChargeDeadline started = std::chrono::steady_clock::now(), deadline = started + options_.charge_timeout;
    if (abuse_) abuse_->observe_use(account.authority->id, account.login, request.client_address, now);
    const std::vector<AppliedLimit> applied = applicable_limits(snapshot, account, request.client_address);
    if (applied.empty()) return std::nullopt;

    std::vector<Charge> charges;
    std::vector<CounterKey> keys;
    std::vector<LeaseBook::Counter> counters;
    for (const AppliedLimit& a : applied) {
        charges.push_back(Charge{a.limit, a.subject_id, message_cost(a.limit->meter, request)});
        keys.push_back(CounterKey{a.limit->id, a.subject_id});
        counters.push_back(LeaseBook::Counter{a.limit->id, a.subject_id, a.limit});
    }
    if (leases_.enabled() && leases_.take_all(counters, now)) {
        count_charge(metrics::ChargeOutcome::charged, started);
        return std::nullopt;  // every limit spent a unit this process had reserved
    }
    // Counters with a unit of a lease spend it (nothing more to charge there); the others may reserve a
    // block on top of the message, in the same transaction.
    std::vector<std::uint64_t> taken(charges.size(), 0), planned(charges.size(), 0), reserved(charges.size(), 0);
    if (leases_.enabled()) {
        taken = leases_.take_each(counters, now);
        for (std::size_t i = 0; i < charges.size(); ++i) {
            if (taken[i]) charges[i].cost = 0;
            else planned[i] = leases_.plan_block(counters[i]);
        }
    }
    ChargePlan plan;
    std::vector<CounterState> seen;
    // What the database decided for the leases: reservations made (granted) or none (cancelled), units
    // taken given back when the message was not charged after all.
    const auto settle = [&](bool committed) {
        for (std::size_t i = 0; i < charges.size(); ++i) {
            if (!planned[i]) continue;
            if (committed && plan.accepted && reserved[i]) leases_.grant(counters[i], reserved[i], plan.checks[i].after, now);
            else leases_.cancel(counters[i]);
        }
        if (!committed || !plan.accepted) leases_.give_back(counters, taken, now);
    };
    try {
        counters_.update(keys, now, [&](const std::vector<CounterState>& states) {
            seen = states;
            plan = plan_charge(charges, states, now, options_.zone);
            CounterWrite write;
            write.charged.resize(charges.size());
            write.refused.assign(charges.size(), false);
            for (std::size_t i = 0; i < charges.size(); ++i) {
                reserved[i] = 0;
                if (!plan.charged[i]) continue;
                if (plan.accepted && planned[i]) {
                    // The block on top of the message, if it fits what is left after the message.
                    const std::uint64_t left = plan.checks[i].remaining > charges[i].cost
                                                   ? plan.checks[i].remaining - charges[i].cost : 0;
                    const std::uint64_t units = LeaseBook::block_for(planned[i], left, leases_.process_count()->get());
                    // Message and block as one charge: one rounding of W/A instead of two.
                    const LimitCheck block = check_limit(*charges[i].limit, states[i], charges[i].cost + units, now,
                                                         options_.zone);
                    if (units > 0 && block.fits) {
                        reserved[i] = units;
                        plan.checks[i].after = block.after;
                    }
                }
                write.charged[i] = plan.checks[i].after;
            }
            for (std::size_t i : plan.refused) write.refused[i] = true;
            return write;
        }, deadline);
    } catch (const StoreContentionError& e) {
        settle(false);
        return contended(request, account, e.what());
    } catch (const StoreTransientError& e) {
        settle(false);
        count_charge(metrics::ChargeOutcome::unavailable, started);
        return unavailable(request, account, now, e.what());
    } catch (const StorePermanentError& e) {
        settle(false);
        count_charge(metrics::ChargeOutcome::unavailable, started);
        return unavailable(request, account, now, e.what());
    } catch (...) {
        settle(false);
        throw;
    }
    settle(true);
    count_charge(plan.accepted ? metrics::ChargeOutcome::charged : metrics::ChargeOutcome::refused, started);
    back_to_normal(now);
    for (std::size_t i = 0; i < charges.size(); ++i) {
        if (!plan.charged[i] && i < seen.size()) plan.checks[i].after = seen[i];  // what the counter holds now
    }
    remember(keys, plan, now);
    if (!plan.shadow_refused.empty()) report_shadow(request, account, snapshot, charges, plan, now);
    if (plan.accepted) return std::nullopt;

    std::size_t which = plan.refused.front();
    for (std::size_t i : plan.refused) {
        if (rank(*charges[i].limit, plan.checks[i]) > rank(*charges[which].limit, plan.checks[which])) which = i;
    }
    Decision d = rate_limit_refusal(*charges[which].limit, plan.checks[which], account.login, snapshot, now,
                                    options_.zone);
    d.authority_id = account.authority->id;
    d.login = account.login;
    observe_refusal(request, account, now);
    return d;
}

bool CounterRateGate::charge_from_leases(const Request& request, const Account& account, const Snapshot& snapshot,
                                         TimePoint now) {
    if (!leases_.enabled() || !account.authority) return false;
    const std::vector<AppliedLimit> applied = applicable_limits(snapshot, account, request.client_address);
    if (applied.empty()) return false;
    std::vector<LeaseBook::Counter> counters;
    for (const AppliedLimit& a : applied) counters.push_back(LeaseBook::Counter{a.limit->id, a.subject_id, a.limit});
    if (!leases_.take_all(counters, now)) return false;
    if (abuse_) abuse_->observe_use(account.authority->id, account.login, request.client_address, now);
    metrics::on_charge(metrics::ChargeOutcome::charged, 0.0);
    return true;
}

std::size_t CounterRateGate::return_leases(TimePoint now, bool all) {
    std::vector<ExpiredLease> expired = all ? leases_.take_all_leases() : leases_.take_expired(now);
    constexpr std::size_t kPerTransaction = 64;
    std::size_t returned = 0;
    for (std::size_t from = 0; from < expired.size(); from += kPerTransaction) {
        const std::size_t to = std::min(expired.size(), from + kPerTransaction);
        std::vector<CounterKey> keys;
        for (std::size_t i = from; i < to; ++i) keys.push_back(CounterKey{expired[i].limit_id, expired[i].subject_id});
        try {
            counters_.update(keys, now, [&](const std::vector<CounterState>& states) {
                CounterWrite write;
                write.charged.resize(keys.size());
                write.refused.assign(keys.size(), false);
                for (std::size_t i = 0; i < keys.size() && i < states.size(); ++i) {
                    const CounterState back = returned_state(expired[from + i], states[i], now);
                    if (!(back == states[i])) write.charged[i] = back;
                }
                return write;
            }, std::chrono::steady_clock::now() + options_.charge_timeout);
            returned += to - from;
        } catch (const std::exception& e) {
            // Nothing was given back: the units flow back by themselves (rolling) or at the period's end.
            log_warning("rate limits: " + std::to_string(to - from) + " leases could not be given back (" +
                        std::string(e.what()) + "); their unspent units come back with the window");
        }
    }
    return returned;
}

void CounterRateGate::observe_refusal(const Request& request, const Account& account, TimePoint now) {
    if (!abuse_) return;
    if (!request.instance.empty()) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string& last = last_refused_instance_[account.authority->id];
        if (last == request.instance) return;
        if (last_refused_instance_.size() > kMaxLocalAllowances) last_refused_instance_.clear();
        else last = request.instance;
    }
    abuse_->observe_refusal(account.authority->id, account.login, request.client_address, now);
}

void CounterRateGate::remember(const std::vector<CounterKey>& keys, const ChargePlan& plan, TimePoint now) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (remembered_.size() + keys.size() > kMaxRemembered) {
        for (auto it = remembered_.begin(); it != remembered_.end();) {
            it = now - it->second.seen > options_.peek_memory ? remembered_.erase(it) : std::next(it);
        }
        if (remembered_.size() + keys.size() > kMaxRemembered) remembered_.clear();
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        remembered_[key_of(keys[i].limit_id, keys[i].subject_id)] = Remembered{plan.checks[i].after, now};
    }
}

void CounterRateGate::report_shadow(const Request& request, const Account& account, const Snapshot& snapshot,
                                const std::vector<Charge>& charges, const ChargePlan& plan, TimePoint now) {
    for (std::size_t i : plan.shadow_refused) {
        const RateLimit& limit = *charges[i].limit;
        const std::string text = "shadow rate limit " + std::to_string(limit.id) + " would have " +
                                 would_have(limit.action) + " this message of " + sanitize(account.login, 100) +
                                 ": " + describe_limit(limit, snapshot) + " (nothing enforced)";
        log_info(text + (request.queue_id.empty() ? "" : ", queue id " + sanitize(request.queue_id, 40)));
        record(request, account, Verdict::cont, Reason::rate_limited, text, now);
    }
}

void CounterRateGate::record(const Request& request, const Account& account, Verdict verdict, Reason reason,
                         const std::string& detail, TimePoint now) {
    if (!events_) return;
    Decision d;
    d.verdict = verdict;
    d.reason = reason;
    d.authority_id = account.authority ? account.authority->id : 0;
    d.login = account.login;
    Event e = make_event(request, d, now, options_.node);
    e.detail = detail;
    events_->submit(std::move(e));
}

std::optional<Decision> CounterRateGate::unavailable(const Request& request, const Account& account, TimePoint now,
                                                 const std::string& error) {
    const Id id = account.authority->id;
    const unsigned allowance = options_.unavailable_allowance;
    std::string report;
    bool allowed = false;
    std::uint64_t used = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!outage_.down) {
            outage_ = Outage{true, now, now, 0, 0};
            report = "rate limits: cannot charge the counters (" + error + "); " +
                     (options_.allow_when_unavailable
                          ? "on_rate_limits_unavailable = allow: each account may send " + std::to_string(allowance) +
                                " messages per hour through this process UNCOUNTED until the database answers"
                          : "on_rate_limits_unavailable = tempfail: messages of accounts with rate limits get " +
                                sent_reply(fail_closed(Failure::rate_limits_unavailable)) + " until the database answers");
        } else if (now - outage_.last_report >= kOutageReportInterval) {
            outage_.last_report = now;
            report = "rate limits: database still unavailable after " + seconds_text(outage_.since, now) + ": " +
                     std::to_string(outage_.allowed) + " messages let through uncounted, " +
                     std::to_string(outage_.tempfailed) + " tempfailed (" + error + ")";
        }
        if (options_.allow_when_unavailable && allowance > 0) {
            RateLimit local;
            local.amount = allowance;
            local.window_seconds = 3600;
            if (local_allowance_.size() >= kMaxLocalAllowances && !local_allowance_.count(id)) local_allowance_.clear();
            CounterState& state = local_allowance_[id];
            const LimitCheck check = check_limit(local, state, 1, now, options_.zone);
            if (check.fits) {
                state = check.after;
                allowed = true;
                used = check.used + 1;
                ++outage_.allowed;
            }
        }
        if (!allowed) ++outage_.tempfailed;
    }
    if (!report.empty()) log_error(report);
    if (allowed) {
        const std::string text = "rate limits NOT charged (database unavailable): message of " +
                                 sanitize(account.login, 100) + " let through on the local allowance, " +
                                 std::to_string(used) + " of " + std::to_string(allowance) + " per hour used";
        log_warning(text + (request.queue_id.empty() ? "" : ", queue id " + sanitize(request.queue_id, 40)));
        record(request, account, Verdict::cont, Reason::rate_limits_unavailable, text, now);
        return std::nullopt;
    }
    // [rate_limits] on_rate_limits_unavailable = tempfail, or the local allowance is used up.
    Decision d = fail_closed(Failure::rate_limits_unavailable);
    d.authority_id = id;
    d.login = account.login;
    return d;
}

// The database answered, but this charge lost to other writers for its whole retry time: a temporary
// failure for this message alone (fail closed: it was not counted), and no outage (the database is
// reachable; on_rate_limits_unavailable = allow does not apply).
std::optional<Decision> CounterRateGate::contended(const Request& request, const Account& account,
                                               const std::string& error) {
    log_warning("rate limits: message of " + sanitize(account.login, 100) + " not charged, temporary failure: " +
                error + (request.queue_id.empty() ? "" : ", queue id " + sanitize(request.queue_id, 40)));
    Decision d = fail_closed(Failure::rate_limits_unavailable);
    d.authority_id = account.authority->id;
    d.login = account.login;
    return d;
}

void CounterRateGate::back_to_normal(TimePoint now) {
    std::string report;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!outage_.down) return;
        report = "rate limits: counters reachable again after " + seconds_text(outage_.since, now) + "; " +
                 std::to_string(outage_.allowed) + " messages were let through uncounted, " +
                 std::to_string(outage_.tempfailed) + " tempfailed";
        outage_ = Outage{};
    }
    log_warning(report);
}

}  // namespace relay
