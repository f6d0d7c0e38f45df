#include <boost/test/unit_test.hpp>

#include <crypt.h>

#include <set>
#include <string>

#include "core/admin/password.hpp"

using namespace relay;

namespace {

// The crypt hash after "{SCHEME}", checked independently of verify_password(): what Dovecot does.
bool crypt_accepts(const std::string& stored, const std::string& password) {
    auto close = stored.find('}');
    std::string hash = stored.substr(close + 1);
    crypt_data data{};
    const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
    return out != nullptr && hash == out;
}

struct SchemeCase {
    const char* name;
    PasswordScheme scheme;
    const char* prefix;  // what the stored value starts with
};

const SchemeCase kSchemeCases[] = {
    {"sha512", PasswordScheme::sha512_crypt, "{SHA512-CRYPT}$6$"},
    {"blowfish", PasswordScheme::blf_crypt, "{BLF-CRYPT}$2y$10$"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(password)

BOOST_AUTO_TEST_CASE(both_schemes_verify_with_crypt) {
    for (const auto& c : kSchemeCases) {
        const std::string pw = "S3cret pw with 'quotes' \"and\" ;\\%_";
        std::string stored = hash_password(pw, HashOptions{c.scheme, 0});
        BOOST_TEST(stored.rfind(c.prefix, 0) == 0, "case " << c.name << ": got " << stored << ", want prefix "
                                                           << c.prefix);
        BOOST_TEST(crypt_accepts(stored, pw), "case " << c.name << ": crypt() did not accept " << stored);
        BOOST_TEST(verify_password(pw, stored), "case " << c.name << ": verify_password rejected the password");
        BOOST_TEST(!verify_password(pw + "x", stored), "case " << c.name << ": a wrong password verified");
        BOOST_TEST(!crypt_accepts(stored, "wrong"), "case " << c.name << ": crypt() accepted a wrong password");
    }
}

BOOST_AUTO_TEST_CASE(random_salts_differ) {
    for (const auto& c : kSchemeCases) {
        std::set<std::string> seen;
        for (int i = 0; i < 5; ++i) seen.insert(hash_password("same password", HashOptions{c.scheme, 0}));
        BOOST_TEST(seen.size() == 5u, "case " << c.name << ": got " << seen.size() << " distinct hashes, want 5");
    }
}

BOOST_AUTO_TEST_CASE(cost_is_written_into_the_hash) {
    std::string sha = hash_password("pw", HashOptions{PasswordScheme::sha512_crypt, 10000});
    BOOST_TEST(sha.rfind("{SHA512-CRYPT}$6$rounds=10000$", 0) == 0, "got " << sha);
    BOOST_TEST(verify_password("pw", sha));
    std::string blf = hash_password("pw", HashOptions{PasswordScheme::blf_crypt, 5});
    BOOST_TEST(blf.rfind("{BLF-CRYPT}$2y$05$", 0) == 0, "got " << blf);
    BOOST_TEST(verify_password("pw", blf));
}

BOOST_AUTO_TEST_CASE(foreign_and_locked_values_never_verify) {
    struct Case { const char* name; const char* stored; const char* password; };
    const Case cases[] = {
        {"empty", "", ""},
        {"lock", "!", "!"},
        {"star", "*", "*"},
        {"plain scheme", "{PLAIN}secret", "secret"},
        {"des crypt", "abJnggxhB/yJU", "secret"},
        {"unterminated scheme", "{SHA512-CRYPT", "x"},
        // a valid hash of "pw" wrapped in a scheme we do not verify
        {"md5 label", "{MD5-CRYPT}$6$abc$def", "pw"},
    };
    for (const auto& c : cases)
        BOOST_TEST(!verify_password(c.password, c.stored), "case " << c.name << ": got verified, want refused");
}

BOOST_AUTO_TEST_CASE(bare_and_crypt_labelled_hashes_verify) {
    std::string stored = hash_password("pw");
    std::string bare = stored.substr(stored.find('}') + 1);
    BOOST_TEST(verify_password("pw", bare));
    BOOST_TEST(verify_password("pw", "{CRYPT}" + bare));
    BOOST_TEST(verify_password("pw", "{sha512-crypt}" + bare));
}

BOOST_AUTO_TEST_CASE(bad_passwords_are_refused) {
    struct Case { const char* name; std::string password; };
    const Case cases[] = {
        {"empty", ""},
        {"newline", "ab\ncd"},
        {"carriage return", "ab\rcd"},
        {"nul", std::string("ab\0cd", 5)},
        {"too long", std::string(501, 'a')},
    };
    for (const auto& c : cases) {
        BOOST_TEST(!password_problem(c.password).empty(), "case " << c.name << ": got no problem, want one");
        BOOST_CHECK_THROW(hash_password(c.password), std::runtime_error);
    }
}

BOOST_AUTO_TEST_CASE(weak_passwords_are_refused) {
    struct Case { const char* name; std::string password; bool weak; };
    const Case cases[] = {
        {"one character", "x", true},
        {"eleven characters", "Kq7#mZp2vLr", true},
        {"twelve characters", "Kq7#mZp2vLrT", false},
        {"one character repeated", std::string(20, 'a'), true},
        {"the login", "Printer.Floor2@Example.com", true},
        {"the local part", "printer.floor2", true},
        {"a common password", "Password1234", true},
        {"another common one", "qwertyuiop12", false},
        {"empty", "", true},
    };
    for (const auto& c : cases) {
        const std::string why = password_weakness(c.password, "printer.floor2@example.com", 12);
        BOOST_TEST(why.empty() == !c.weak, "case " << c.name << ": got '" << why << "', want "
                                                   << (c.weak ? "a reason" : "none"));
    }
    BOOST_TEST(password_weakness("short-pw", "a@b.example", 12).find("min_password_length") != std::string::npos);
    BOOST_TEST(password_weakness(generate_password(), "a@b.example", 12).empty());
    BOOST_TEST(password_weakness("abcdefgh", "a@b.example", 8).empty());
}

BOOST_AUTO_TEST_CASE(generated_passwords_are_random_and_readable) {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        std::string pw = generate_password();
        BOOST_TEST(pw.size() == 20u, "got length " << pw.size() << ", want 20");
        BOOST_TEST(pw.find_first_of("0O1lIo") == std::string::npos, "got look-alike character in " << pw);
        BOOST_TEST(password_problem(pw).empty());
        seen.insert(pw);
    }
    BOOST_TEST(seen.size() == 50u, "got " << seen.size() << " distinct passwords, want 50");
    BOOST_TEST(generate_password(32).size() == 32u);
}

BOOST_AUTO_TEST_CASE(scheme_names) {
    struct Case { const char* text; std::optional<PasswordScheme> want; };
    const Case cases[] = {
        {"SHA512-CRYPT", PasswordScheme::sha512_crypt}, {"sha512-crypt", PasswordScheme::sha512_crypt},
        {"{SHA512-CRYPT}", PasswordScheme::sha512_crypt}, {"BLF-CRYPT", PasswordScheme::blf_crypt},
        {"bcrypt", PasswordScheme::blf_crypt}, {"md5", std::nullopt}, {"", std::nullopt},
    };
    for (const auto& c : cases)
        BOOST_TEST((password_scheme_from_string(c.text) == c.want), "case " << c.text << ": wrong scheme");
    BOOST_TEST(std::string(to_string(PasswordScheme::blf_crypt)) == "BLF-CRYPT");
}

BOOST_AUTO_TEST_SUITE_END()
