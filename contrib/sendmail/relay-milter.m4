dnl relay-authority: relay-milter for Sendmail. Paste these lines into sendmail.mc (after the
dnl FEATURE lines, before the MAILER lines) and rebuild sendmail.cf (Debian: sendmailconfig; elsewhere
dnl m4 sendmail.mc > sendmail.cf), then restart sendmail. docs/sendmail.md explains every line.
dnl
dnl S=  the socket of relay-milter: the same value as [milter] listen in relay-authority.conf.
dnl F=T if relay-milter cannot be reached, Sendmail answers 4xx (temporary failure): mail waits at the
dnl     client, it is never accepted unchecked. (F=R would refuse with 5xx; no F= would accept unchecked.)
dnl T=  timeouts: connect 10 s, sending 30 s, reading 30 s, end of message 60 s (the end of message may
dnl     wait for the database: rate-limit charging).
INPUT_MAIL_FILTER(`relay-milter', `S=inet:10041@127.0.0.1, F=T, T=C:10s;S:30s;R:30s;E:60s')dnl
dnl
dnl Macros: relay-milter asks Sendmail for the ones it needs during option negotiation ({auth_authen},
dnl {auth_type}, {client_addr}, {client_name}, {tls_version}, {cipher}, i, {daemon_name}); Sendmail 8.14
dnl and later honour that, so no confMILTER_MACROS_* line is needed for relay-milter.
dnl
dnl IP-authorised relay accounts (auth_mode = ip: printers, routers): a milter cannot grant relaying, the
dnl access database does. Enable it (most sendmail.mc files already have this line) and add one
dnl "Connect:ADDRESS RELAY" entry per authority_networks row (relayctl export sendmail-access prints them):
dnl FEATURE(`access_db', `hash -T<TMPF> -o /etc/mail/access')dnl
