// policy-bench --gen-sql K: one customer per bench domain, --accounts-per-domain users per domain, and an
// SMTP authority (all defaults: own_address, may relay externally) for every user. Rows carry explicit
// ids from --sql-id-base on, so the file can be loaded into a database that already holds other rows,
// and it is one transaction: the daemons see all accounts at once or none.
#include "tests/bench/policy-bench/gen_sql.hpp"

#include <functional>

#include "tests/bench/policy-bench/accounts.hpp"

namespace relay::bench {

namespace {

constexpr std::uint32_t kRowsPerInsert = 1000;

// INSERT ... VALUES in batches: row(i) prints the parenthesised values of row i.
void batched_insert(std::ostream& out, const char* head, std::uint32_t rows,
                    const std::function<void(std::ostream&, std::uint32_t)>& row) {
    for (std::uint32_t start = 0; start < rows; start += kRowsPerInsert) {
        out << head << "\n";
        const std::uint32_t end = std::min(rows, start + kRowsPerInsert);
        for (std::uint32_t i = start; i < end; ++i) {
            out << (i == start ? "  " : (i - start) % 4 == 0 ? ",\n  " : ", ");
            row(out, i);
        }
        out << ";\n";
    }
}

}  // namespace

void write_bench_sql(const Options& o, std::ostream& out) {
    AccountNaming naming;
    naming.per_domain = o.accounts_per_domain;
    const std::uint32_t accounts = o.gen_sql;
    const std::uint32_t domains = naming.domains_for(accounts);
    const std::uint64_t base = o.sql_id_base;
    out << "-- policy-bench --gen-sql " << accounts << " --accounts-per-domain " << o.accounts_per_domain
        << " --sql-id-base " << base << "\n"
        << "-- " << accounts << " accounts user<N>@bench<M>.example (M = N / " << o.accounts_per_domain << "), "
        << domains << " domains, one customer per domain, password {PLAIN}" << o.sql_password << ".\n"
        << "-- For a benchmark database: load with  mariadb relay_authority < this-file\n"
        << "START TRANSACTION;\n";
    batched_insert(out, "INSERT INTO customers (id, name, note) VALUES", domains, [&](std::ostream& s, std::uint32_t m) {
        s << "(" << base + m << ", 'bench customer " << m << "', 'policy-bench')";
    });
    batched_insert(out, "INSERT INTO domains (id, customer_id, name, is_local, note) VALUES", domains,
                   [&](std::ostream& s, std::uint32_t m) {
                       s << "(" << base + m << ", " << base + m << ", '" << naming.domain_name(m) << "', 1, 'policy-bench')";
                   });
    batched_insert(out, "INSERT INTO users (id, domain_id, local_part, password_hash) VALUES", accounts,
                   [&](std::ostream& s, std::uint32_t n) {
                       s << "(" << base + n << ", " << base + naming.domain_of(n) << ", '" << naming.local_part(n)
                         << "', '{PLAIN}" << o.sql_password << "')";
                   });
    batched_insert(out, "INSERT INTO smtp_authorities (id, user_id, customer_id, note) VALUES", accounts,
                   [&](std::ostream& s, std::uint32_t n) {
                       s << "(" << base + n << ", " << base + n << ", " << base + naming.domain_of(n) << ", 'policy-bench')";
                   });
    out << "COMMIT;\n";
}

}  // namespace relay::bench
