# shellcheck shell=bash
# A throw-away TLS server certificate for the test MTAs.
#
#   tls_make_cert DIR [CN]   self-signed RSA 2048 certificate for CN (default mail.example.test) with
#                            SANs mail/smtp.example.test and IP 127.0.0.1, valid 30 days.
#                            Sets TLS_CERT=DIR/cert.pem, TLS_KEY=DIR/key.pem (mode 0600: Sendmail silently
#                            stops offering STARTTLS with a group/world-readable key).
#
# Clients (swaks --tls) do not verify the certificate, so no CA set-up is needed.

tls_make_cert() {
    local dir=$1 cn=${2:-mail.example.test}
    mkdir -p "$dir"
    TLS_CERT=$dir/cert.pem
    TLS_KEY=$dir/key.pem
    if ! openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$cn" \
        -addext "subjectAltName=DNS:$cn,DNS:mail.example.test,DNS:smtp.example.test,IP:127.0.0.1" \
        -keyout "$TLS_KEY" -out "$TLS_CERT" >"$dir/openssl.log" 2>&1; then
        cat "$dir/openssl.log" >&2
        return 1
    fi
    chmod 0600 "$TLS_KEY"
    chmod 0644 "$TLS_CERT"
}
