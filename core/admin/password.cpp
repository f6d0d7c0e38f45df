#include "core/admin/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

namespace relay {
namespace {

struct SchemeInfo {
    PasswordScheme scheme;
    const char* name;          // Dovecot's scheme name
    const char* crypt_prefix;  // libxcrypt's method prefix
    unsigned long default_cost;
};

// SHA512-CRYPT's default (0 = 5000 rounds, no "rounds=" in the hash) is what Dovecot and glibc use.
// BLF-CRYPT uses "$2y$" because that is what Dovecot itself writes, so every Dovecot version reads it.
constexpr SchemeInfo kSchemes[] = {
    {PasswordScheme::sha512_crypt, "SHA512-CRYPT", "$6$", 0},
    {PasswordScheme::blf_crypt, "BLF-CRYPT", "$2y$", 10},
};

const SchemeInfo& info(PasswordScheme scheme) {
    for (const auto& s : kSchemes)
        if (s.scheme == scheme) return s;
    throw std::logic_error("unknown password scheme");
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// crypt_data is 32 KiB: on the heap, zeroed (required before first use), wiped afterwards because it
// held the password.
struct CryptArea {
    std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
    CryptArea() { std::fill_n(reinterpret_cast<char*>(data.get()), sizeof(crypt_data), '\0'); }
    ~CryptArea() { OPENSSL_cleanse(data.get(), sizeof(crypt_data)); }
};

// The crypt hash inside a stored value, or empty when the value is not a crypt hash we may verify.
std::string_view crypt_part(std::string_view stored) {
    if (!stored.empty() && stored.front() == '{') {
        auto close = stored.find('}');
        if (close == std::string_view::npos) return {};
        std::string scheme = upper(stored.substr(1, close - 1));
        if (scheme != "SHA512-CRYPT" && scheme != "BLF-CRYPT" && scheme != "CRYPT") return {};
        stored.remove_prefix(close + 1);
    }
    // Only modern methods: a DES crypt ("ab...") or a lock ("!", "*") must never verify by accident.
    if (stored.rfind("$6$", 0) == 0 || stored.rfind("$2y$", 0) == 0 || stored.rfind("$2b$", 0) == 0 ||
        stored.rfind("$2a$", 0) == 0)
        return stored;
    return {};
}

}  // namespace

const char* to_string(PasswordScheme scheme) { return info(scheme).name; }

std::optional<PasswordScheme> password_scheme_from_string(std::string_view name) {
    std::string n = upper(name);
    if (!n.empty() && n.front() == '{' && n.back() == '}') n = n.substr(1, n.size() - 2);
    if (n == "SHA512-CRYPT" || n == "SHA512") return PasswordScheme::sha512_crypt;
    if (n == "BLF-CRYPT" || n == "BCRYPT" || n == "BLOWFISH") return PasswordScheme::blf_crypt;
    return std::nullopt;
}

std::string password_problem(std::string_view password) {
    if (password.empty()) return "the password is empty";
    if (password.size() > 500) return "the password is longer than 500 characters";
    if (password.find('\0') != std::string_view::npos) return "the password contains a NUL byte";
    if (password.find_first_of("\r\n") != std::string_view::npos) return "the password contains a line break";
    return {};
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// The most common passwords of the public breach lists that are 8 characters or longer (shorter ones are
// refused by the length rule anyway), compared ignoring case. Not a dictionary check: it catches the
// passwords tried first by every brute-forcer.
constexpr const char* kCommonPasswords[] = {
    "123456789", "12345678", "1234567890", "123456789012", "1234567891", "qwertyuiop", "password",
    "password1", "password12", "password123", "password1234", "passw0rd", "p@ssw0rd", "p@ssword",
    "iloveyou", "sunshine", "princess", "football", "baseball", "welcome1", "welcome123", "letmein1",
    "qwerty123", "qwerty1234", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "zaq12wsx", "abc12345", "abcd1234",
    "aa12345678", "11111111", "00000000", "87654321", "987654321", "superman", "trustno1", "changeme",
    "changeme123", "administrator", "admin123", "admin1234", "123qweasd", "qweasdzxc", "starwars",
    "whatever", "asdfghjkl", "mypassword", "secret123", "passwort", "passwort123", "hallo123",
    "motdepasse", "contrasena", "1234qwer", "q1w2e3r4", "q1w2e3r4t5", "123123123", "1234512345",
};

// The schemes Dovecot's passdb understands (doveadm pw -l, Dovecot 2.3), by their upper-case names.
constexpr const char* kDovecotSchemes[] = {
    "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "MD5-CRYPT", "DES-CRYPT", "CRYPT", "ARGON2I", "ARGON2ID",
    "PBKDF2", "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256", "SHA1", "SHA", "SMD5", "MD5", "PLAIN-MD5",
    "PLAIN-MD4", "LDAP-MD5", "CRAM-MD5", "HMAC-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN",
    "CLEAR", "CLEARTEXT", "PLAIN-TRUNC", "OTP",
};

}  // namespace

std::string stored_hash_problem(std::string_view stored) {
    if (stored.empty() || stored.front() != '{') return "a password hash starts with {SCHEME}";
    const auto close = stored.find('}');
    if (close == std::string_view::npos) return "the {SCHEME} of the password hash is not closed";
    const std::string scheme = upper(stored.substr(1, close - 1));
    if (std::none_of(std::begin(kDovecotSchemes), std::end(kDovecotSchemes),
                     [&](const char* known) { return scheme == known; }))
        return "unknown password hash scheme {" + scheme.substr(0, 40) + "} (Dovecot's schemes: doveadm pw -l)";
    if (close + 1 == stored.size()) return "nothing after {" + scheme + "}";
    if (stored.size() > 255) return "the password hash is longer than 255 characters";
    if (stored.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return "the password hash contains a line break or NUL";
    return {};
}

std::string password_weakness(std::string_view password, std::string_view login, std::size_t min_length) {
    if (auto problem = password_problem(password); !problem.empty()) return problem;
    if (password.size() < min_length)
        return "the password has " + std::to_string(password.size()) + " characters, fewer than the minimum of " +
               std::to_string(min_length) + " ([relayctl] min_password_length)";
    if (password.find_first_not_of(password.front()) == std::string_view::npos)
        return "the password is one character repeated";
    const std::string pw = lower(password), user = lower(login);
    const std::string local = user.substr(0, user.rfind('@'));
    if (!user.empty() && (pw == user || pw == local)) return "the password is the login or its local part";
    for (const char* common : kCommonPasswords)
        if (pw == common) return "the password is one of the most common passwords";
    return {};
}

std::string hash_password(std::string_view password, const HashOptions& options) {
    if (auto problem = password_problem(password); !problem.empty()) throw std::runtime_error(problem);
    const SchemeInfo& s = info(options.scheme);
    unsigned char salt_bytes[16];
    if (RAND_bytes(salt_bytes, sizeof salt_bytes) != 1)
        throw std::runtime_error("no random bytes for a password salt (OpenSSL RAND_bytes failed)");
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    unsigned long cost = options.cost != 0 ? options.cost : s.default_cost;
    if (!crypt_gensalt_rn(s.crypt_prefix, cost, reinterpret_cast<const char*>(salt_bytes),
                          static_cast<int>(sizeof salt_bytes), setting, static_cast<int>(sizeof setting)))
        throw std::runtime_error(std::string("crypt_gensalt refused ") + s.name + " with cost " +
                                 std::to_string(cost));
    CryptArea area;
    std::string phrase(password);
    const char* out = crypt_r(phrase.c_str(), setting, area.data.get());
    OPENSSL_cleanse(phrase.data(), phrase.size());
    if (out == nullptr || out[0] == '*')
        throw std::runtime_error(std::string("crypt failed for scheme ") + s.name);
    return std::string("{") + s.name + "}" + out;
}

bool verify_password(std::string_view password, std::string_view stored) {
    std::string_view hash = crypt_part(stored);
    if (hash.empty() || !password_problem(password).empty()) return false;
    CryptArea area;
    std::string phrase(password);
    std::string setting(hash);
    const char* out = crypt_r(phrase.c_str(), setting.c_str(), area.data.get());
    OPENSSL_cleanse(phrase.data(), phrase.size());
    if (out == nullptr || out[0] == '*') return false;
    std::string_view computed(out);
    return computed.size() == hash.size() && CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

std::string generate_password(std::size_t length) {
    // 56 symbols: letters and digits minus 0 O 1 l I o, so it can be read off a screen and typed into a
    // printer's web form without guessing.
    static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    constexpr unsigned kSize = sizeof kAlphabet - 1;
    constexpr unsigned kLimit = 256 - (256 % kSize);  // reject bytes >= kLimit: no modulo bias
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        unsigned char buf[64];
        if (RAND_bytes(buf, sizeof buf) != 1)
            throw std::runtime_error("no random bytes for a password (OpenSSL RAND_bytes failed)");
        for (unsigned char b : buf) {
            if (b >= kLimit) continue;
            out.push_back(kAlphabet[b % kSize]);
            if (out.size() == length) break;
        }
        OPENSSL_cleanse(buf, sizeof buf);
    }
    return out;
}

}  // namespace relay
