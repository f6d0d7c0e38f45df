// Password hashes in the form Dovecot's passdb reads: "{SHA512-CRYPT}$6$..." or "{BLF-CRYPT}$2y$...".
// Hashing goes through libxcrypt (crypt_gensalt_rn + crypt_r) with salt bytes from OpenSSL's RAND_bytes,
// so Dovecot (which calls crypt() for both schemes) verifies exactly what we wrote.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

enum class PasswordScheme { sha512_crypt, blf_crypt };

// "SHA512-CRYPT" / "BLF-CRYPT": the Dovecot scheme names, also accepted by relayctl --scheme.
const char* to_string(PasswordScheme scheme);
// Case-insensitive; also accepts "sha512" and "bcrypt"/"blowfish".
std::optional<PasswordScheme> password_scheme_from_string(std::string_view name);

struct HashOptions {
    PasswordScheme scheme = PasswordScheme::sha512_crypt;
    // 0: the default of the scheme as we choose it: SHA512-CRYPT 5000 rounds (crypt's and Dovecot's default,
    // written without "rounds="), BLF-CRYPT cost 10 (2^10 rounds; Dovecot's doveadm uses 5, which is
    // cheap to brute-force).
    unsigned long cost = 0;
};

// Returns "{SCHEME}<crypt hash>". Throws std::runtime_error if the password is empty, contains a NUL or
// line break, or if crypt refuses (libxcrypt without the scheme, no entropy).
std::string hash_password(std::string_view password, const HashOptions& options = {});

// True when password matches the stored value. Accepts "{SHA512-CRYPT}...", "{BLF-CRYPT}...", "{CRYPT}..."
// and a bare crypt hash ("$6$...", "$2y$..."); anything else (other schemes, NULL/empty, "!" locks)
// never verifies. The comparison takes constant time.
bool verify_password(std::string_view password, std::string_view stored);

// A random password for a device: `length` characters from an alphabet without look-alikes (no 0/O, 1/l/I),
// drawn from RAND_bytes without modulo bias. 20 characters carry about 115 bits.
std::string generate_password(std::size_t length = 20);

// Why a password is refused before hashing (empty string: acceptable). Kept separate so relayctl can
// say it before asking twice.
std::string password_problem(std::string_view password);

// Why a stored value "{SCHEME}hash" cannot be imported (empty string: fine): no {SCHEME} prefix, a scheme
// Dovecot does not know, nothing after the scheme, longer than the column, or a line break.
std::string stored_hash_problem(std::string_view stored);

// Why a password an admin chose is too weak for a relay account (empty string: acceptable): shorter than
// min_length characters, one character repeated, the login or its local part (ignoring case), or one of
// the most common passwords. A password problem (above) is reported first.
std::string password_weakness(std::string_view password, std::string_view login, std::size_t min_length);

}  // namespace relay
