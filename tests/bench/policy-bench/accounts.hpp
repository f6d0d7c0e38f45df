// policy-bench: the names of the benchmark accounts. The request generator and --gen-sql must agree on
// them, so they are defined here once: account N logs in as user<N>@bench<M>.example, M = N / per_domain.
#pragma once

#include <cstdint>
#include <string>

namespace relay::bench {

struct AccountNaming {
    std::uint32_t per_domain = 10;  // accounts per bench domain (--accounts-per-domain)

    std::uint32_t domain_of(std::uint32_t account) const { return account / per_domain; }
    std::string domain_name(std::uint32_t domain) const { return "bench" + std::to_string(domain) + ".example"; }
    std::string local_part(std::uint32_t account) const { return "user" + std::to_string(account); }
    std::string login(std::uint32_t account) const {
        return local_part(account) + "@" + domain_name(domain_of(account));
    }
    std::uint32_t domains_for(std::uint32_t accounts) const { return (accounts + per_domain - 1) / per_domain; }
};

// The client address an account always sends from: one fixed address per account in 10.0.0.0/8, as a
// real user's mail client would mostly use (and so that abuse detection, which counts distinct client
// networks per account, sees ordinary behaviour).
inline std::string account_client_address(std::uint32_t account) {
    return "10." + std::to_string((account >> 16) & 255) + "." + std::to_string((account >> 8) & 255) + "." +
           std::to_string(account & 255);
}

}  // namespace relay::bench
