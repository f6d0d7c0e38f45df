// relayctl export sendmail-access: access-db lines (Connect:ADDRESS RELAY) for the networks of active,
// current auth_mode=ip accounts, for Sendmail set-ups that let the access db grant relay (FEATURE(access_db)).
//
// The access db matches IPv4 by whole leading octets ("Connect:192.0.2" is 192.0.2.0/24) and IPv6 by
// leading colon-separated groups, so a prefix that is not on such a boundary is written as the list of
// networks it covers (at most kMaxExpansion lines per network). What cannot be expressed (larger
// expansions, IPv6 networks other than single hosts) is skipped with a warning on stderr and a comment:
// skipping only ever grants less.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "core/mail/cidr.hpp"
#include "tools/relayctl/cli.hpp"

namespace relay::ctl {
namespace {

constexpr unsigned kMaxExpansion = 256;

std::string ipv4_key(const std::array<std::uint8_t, 16>& b, unsigned octets) {
    std::string out;
    for (unsigned i = 0; i < octets; ++i) out += (i ? "." : "") + std::to_string(b[i]);
    return out;
}

std::string ipv6_key(const std::array<std::uint8_t, 16>& b, unsigned groups) {
    char buf[8];
    std::string out;
    for (unsigned i = 0; i < groups; ++i) {
        std::snprintf(buf, sizeof buf, "%x", (b[2 * i] << 8) | b[2 * i + 1]);
        out += (i ? ":" : "") + std::string(buf);
    }
    return out;
}

// The access-db keys covering the network; empty with *why set when it cannot be expressed.
std::vector<std::string> access_keys(const Cidr& cidr, std::string* why) {
    std::vector<std::string> keys;
    const unsigned unit = cidr.network.v4 ? 8 : 16;
    const unsigned full = cidr.network.v4 ? 32 : 128;
    if (cidr.prefix == 0) {
        *why = "covers every address";
        return keys;
    }
    if (!cidr.network.v4 && cidr.prefix != full) {
        // Sendmail looks up the client as inet_ntop prints it ("2001:db8::1"), dropping trailing ":group"s;
        // with "::" compression a network key such as "2001:db8:0" may never match, or match too much.
        *why = "Sendmail's access db cannot express an IPv6 network reliably (list the hosts as /128)";
        return keys;
    }
    const unsigned rounded = std::min(full, (cidr.prefix + unit - 1) / unit * unit);
    const unsigned extra_bits = rounded - cidr.prefix;
    if (extra_bits >= 9) {
        *why = "would need more than " + std::to_string(kMaxExpansion) + " lines";
        return keys;
    }
    for (unsigned n = 0; n < (1u << extra_bits); ++n) {
        auto b = cidr.network.bytes;
        // set the extra bits (just below the prefix) to n
        for (unsigned k = 0; k < extra_bits; ++k) {
            const unsigned bit = cidr.prefix + k;
            const bool on = (n >> (extra_bits - 1 - k)) & 1u;
            if (on) b[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
        }
        if (cidr.network.v4) {
            keys.push_back(ipv4_key(b, rounded / 8));
        } else if (rounded == full) {
            // a host: written as inet_ntop prints it, which is how Sendmail shows the client address
            IpAddress host;
            host.v4 = false;
            host.bytes = b;
            keys.push_back("IPv6:" + host.str());
        } else {
            keys.push_back("IPv6:" + ipv6_key(b, rounded / 16));
        }
    }
    return keys;
}

}  // namespace

int cmd_export(Context& ctx, const Args& args) {
    Command cmd("export sendmail-access",
                "Prints Sendmail access-db lines (Connect:192.0.2.10 RELAY) for the client networks of every "
                "active, current auth_mode=ip account, each group under a comment naming the account. Build the "
                "map with: relayctl export sendmail-access > /etc/mail/relay-authority.access && makemap hash "
                "... (see docs/relayctl.md).");
    auto vm = cmd.parse(ctx, args);
    auto grants = ctx.store().ip_grants();
    Json list = Json::array();
    std::string last;
    if (!ctx.json) std::cout << "# relay-authority: IP-authorised accounts (relayctl export sendmail-access)\n";
    for (const auto& g : grants) {
        std::string why;
        auto cidr = Cidr::parse(g.cidr, &why);
        std::vector<std::string> keys;
        if (cidr) keys = access_keys(*cidr, &why);
        if (keys.empty())
            std::cerr << "warning: " << g.login << ": network " << g.cidr << " skipped: " << why << "\n";
        if (ctx.json) {
            Json k = Json::array();
            for (const auto& key : keys) k.push("Connect:" + key);
            list.push(Json::object().set("login", g.login).set("authority_id", g.authority_id).set("cidr", g.cidr)
                          .set("keys", k).set("skipped", keys.empty() ? Json(why) : Json()));
            continue;
        }
        if (g.login != last) std::cout << "# " << g.login << " (authority " << g.authority_id << ")\n";
        last = g.login;
        if (keys.empty()) std::cout << "#   skipped " << g.cidr << ": " << why << "\n";
        else if (keys.size() > 1) std::cout << "#   " << g.cidr << "\n";
        for (const auto& key : keys) std::cout << "Connect:" << key << "\tRELAY\n";
    }
    if (ctx.json) emit(list);
    return kExitOk;
}

}  // namespace relay::ctl
