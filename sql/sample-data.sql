-- Sample data: a small hosting provider, for trying relay-authority out. NOT for production.
--
--     mariadb relay_authority < sql/sample-data.sql        (after all of sql/migrations/)
--
-- Every password is the login followed by -pw, e.g. alice@example.com / alice@example.com-pw,
-- hashed with: doveadm pw -s SHA512-CRYPT -p 'alice@example.com-pw'
-- Sample passwords are public: never load this file into a database that faces the Internet.
--
-- The provider "Example Net Hosting" runs the shared relay domain relay.example.net: one account per
-- device (printer, router, web form, camera), each sending on behalf of the customer it serves.
-- Times are relative to NOW() so that the suspended account stays suspended and the expired one
-- expired whenever the file is loaded.
--
-- What is where (see v_accounts after loading):
--   alice@example.com               sasl, own_address, TLS required, used recently
--   bob@example.com                 sasl, own_domain, caps: 50 recipients, 25 MiB
--   info@example.com                a mailbox user WITHOUT an SMTP authority (cannot relay)
--   marketing@example.com           listed_only (@news.example.com, newsletter@example.org), limit with action hold
--   carol@example.org               customer_domains, SUSPENDED for a week
--   contractor@example.com          own_address, EXPIRED a month ago
--   intern@example.org              authority disabled (active = 0)
--   ceo@old-acme.example            in a DISABLED domain
--   shop@bakery.example             customer_domains, null sender allowed
--   orders@bakery.example           a mailbox user WITHOUT an SMTP authority
--   baker@xn--bckerei-5wa.example   own_address in an IDN domain (baeckerei.example written as A-label)
--   printer-2f@relay.example.net    auth_mode ip (no password), Acme office network, listed_only, never used
--   router-office@relay.example.net sasl_and_ip, IPv4 + IPv6 networks, only local recipients, TLS
--   webform@relay.example.net       sasl, listed_only for the bakery, TLS, 5 recipients, 100 messages/hour
--   cam-lobby@relay.example.net     sasl_and_ip, IPv6 network, own_domain, unused for 200 days

START TRANSACTION;

-- Customers -------------------------------------------------------------------------------------------

INSERT INTO customers (name, note) VALUES ('Example Net Hosting', 'The provider itself: owns the shared relay domain');
SET @provider = LAST_INSERT_ID();
INSERT INTO customers (name, note) VALUES ('Acme GmbH', 'Contract 2019-0042, IT contact it@example.com');
SET @acme = LAST_INSERT_ID();
INSERT INTO customers (name, note) VALUES ('Bakery Example Ltd', 'Contract 2021-0107');
SET @bakery = LAST_INSERT_ID();

-- Domains ---------------------------------------------------------------------------------------------

INSERT INTO domains (customer_id, name, is_local, note) VALUES (@acme, 'example.com', 1, 'Acme main domain');
SET @d_example_com = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, is_local, note) VALUES (@acme, 'example.org', 1, 'Acme second brand');
SET @d_example_org = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, is_local, note)
    VALUES (@acme, 'news.example.com', 0, 'Hosted elsewhere (newsletter service), used only as a sender domain');
SET @d_news = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, active, is_local, note)
    VALUES (@acme, 'old-acme.example', 0, 1, 'Old brand, switched off, kept until the contract ends');
SET @d_old = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, is_local, note) VALUES (@bakery, 'bakery.example', 1, NULL);
SET @d_bakery = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, is_local, note)
    VALUES (@bakery, 'xn--bckerei-5wa.example', 1, 'The IDN baeckerei.example (with a-umlaut), stored as A-label');
SET @d_idn = LAST_INSERT_ID();
INSERT INTO domains (customer_id, name, is_local, note)
    VALUES (@provider, 'relay.example.net', 0, 'Shared relay domain: one account per customer device, no mailboxes');
SET @d_relay = LAST_INSERT_ID();

-- Accounts of Acme GmbH in its own domains (customer_id comes from the login domain) ----------------------

-- password: alice@example.com-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_com, 'alice',
    '{SHA512-CRYPT}$6$YVf3wMZJzaXQvxs5$Yha.uVjmsKdmu9th/M5aysw2UQk3h8kgwUZqw9pf7Sn4JKlVW4bjSkbbPpWYw4PndfqtCAtKDbDhOj9EWwWPX1');
INSERT INTO smtp_authorities (user_id, require_tls, last_used_at, last_client_address, note)
    VALUES (LAST_INSERT_ID(), 1, NOW() - INTERVAL 2 HOUR, '192.0.2.10', 'Managing director, laptop and phone');
SET @a_alice = LAST_INSERT_ID();

-- password: bob@example.com-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_com, 'bob',
    '{SHA512-CRYPT}$6$cd7yIkLO0ckco6KC$1Oh2sSYW8lABh.EYy0a5Hfh2KMFGIF.pDHmt/sd16kgYeecDa37SSV8HPSvLdFt8SrtFcwfNA6PJGDd3Ptufq0');
INSERT INTO smtp_authorities (user_id, sender_policy, max_recipients_per_message, max_message_bytes,
                              last_used_at, last_client_address, note)
    VALUES (LAST_INSERT_ID(), 'own_domain', 50, 26214400, NOW() - INTERVAL 1 DAY, '2001:db8:ac3e::25',
            'Office manager: sends as any example.com address (info@, jobs@)');
SET @a_bob = LAST_INSERT_ID();

-- password: info@example.com-pw (mailbox only: no SMTP authority, so SASL login alone cannot relay)
INSERT INTO users (domain_id, local_part, password_hash, note) VALUES (@d_example_com, 'info',
    '{SHA512-CRYPT}$6$n.tK6qdPrnq9hO4G$PfEnSCz4dZU7EbP3L7DS4iC06kVS7y4hx5P3sfeD3hoc2TuJbhWAcNhUBZcUVv9eV0oeH0Lzgxs4yO/mweokp/',
    'Shared mailbox, read via IMAP only');

-- password: marketing@example.com-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_com, 'marketing',
    '{SHA512-CRYPT}$6$YH/SPp6s454zyRIB$FRBl0n4DduXu9Bo9nIbNQOzuGKiVIGmH3stidbOSHd66PFAjqqGW6elUHzVe4m8/FRA4Nrq1kt18ISaTqktkA.');
INSERT INTO smtp_authorities (user_id, sender_policy, max_recipients_per_message, last_used_at,
                              last_client_address, note)
    VALUES (LAST_INSERT_ID(), 'listed_only', 500, NOW() - INTERVAL 3 DAY, '192.0.2.11',
            'Newsletter tool: only the newsletter senders');
SET @a_marketing = LAST_INSERT_ID();
INSERT INTO authority_senders (authority_id, pattern, note) VALUES
    (@a_marketing, '@news.example.com', 'Any address of the newsletter domain'),
    (@a_marketing, 'newsletter@example.org', NULL);

-- password: carol@example.org-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_org, 'carol',
    '{SHA512-CRYPT}$6$MeVt3AgwkKHfneVv$D2SATxSTwAXPxBMOljo9u8Ppl/CqIL4mQ1RB8T.RfiScdGCzj7SJ8XAB0wuagA6bmgSEHSC7JbbuimeOgQjTK.');
INSERT INTO smtp_authorities (user_id, sender_policy, suspended_until, suspend_reason, last_used_at,
                              last_client_address)
    VALUES (LAST_INSERT_ID(), 'customer_domains', NOW() + INTERVAL 7 DAY,
            'Password leaked, spam wave, ticket 4711', NOW() - INTERVAL 5 HOUR, '203.0.113.99');
SET @a_carol = LAST_INSERT_ID();

-- password: contractor@example.com-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_com, 'contractor',
    '{SHA512-CRYPT}$6$.05PVQNOB1.oA9na$j5fa1M0YJkUq4AqfnEfOQj8r0p4EUYS4xp3zq2vz0MOmldtND4sEyvJUekOE/zh6GLj2yF/L72LpH.nZw2FdI0');
INSERT INTO smtp_authorities (user_id, valid_until, last_used_at, last_client_address, note)
    VALUES (LAST_INSERT_ID(), NOW() - INTERVAL 30 DAY, NOW() - INTERVAL 60 DAY, '198.51.100.200',
            'External web agency, project ended');
SET @a_contractor = LAST_INSERT_ID();

-- password: intern@example.org-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_example_org, 'intern',
    '{SHA512-CRYPT}$6$15CwStecoBNwK39p$ePRHW.ujdWIKew3PfDIxB7SBwOXK8FkyyTR5aUaS3CKylWHG10wzhh5gqf/a3H75hGqS/VUFCRpXdHeRpeM8q1');
INSERT INTO smtp_authorities (user_id, active, note)
    VALUES (LAST_INSERT_ID(), 0, 'Disabled between internships');
SET @a_intern = LAST_INSERT_ID();

-- password: ceo@old-acme.example-pw (its domain is disabled)
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_old, 'ceo',
    '{SHA512-CRYPT}$6$7qNCPa4dAaQGgR8q$liftIR9GJofJZNBzX.l/XHFWh.lw/9K7fZtW6ywbWIVvTnXSf9.uu8667pwuj1eH35RSv14ayDY29fVSEB6vo.');
INSERT INTO smtp_authorities (user_id, last_used_at, last_client_address)
    VALUES (LAST_INSERT_ID(), NOW() - INTERVAL 400 DAY, '192.0.2.10');
SET @a_ceo = LAST_INSERT_ID();

-- Accounts of Bakery Example Ltd ------------------------------------------------------------------------

-- password: shop@bakery.example-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_bakery, 'shop',
    '{SHA512-CRYPT}$6$7/0pSLz47Jumij2x$ul.PeEPkY/nyW//1rR5VbPOGYlNAew6rYt8slMaDN8DdknFptI5WR9wVqZTS48AMb3IpcBeHAtWcnOjBS.M7./');
INSERT INTO smtp_authorities (user_id, sender_policy, allow_null_sender, last_used_at, last_client_address,
                              note)
    VALUES (LAST_INSERT_ID(), 'customer_domains', 1, NOW() - INTERVAL 20 MINUTE, '203.0.113.5',
            'Web shop: order mails from both bakery domains, sends delivery receipts with MAIL FROM:<>');
SET @a_shop = LAST_INSERT_ID();

-- password: orders@bakery.example-pw (mailbox only: no SMTP authority)
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_bakery, 'orders',
    '{SHA512-CRYPT}$6$DVPG3V4ju5TS8hev$dtINFhaBac3ShrMOSELd9nTYRzvZu37s1ry.AwNnlSy3rG4.SR9XcpTYOOaerfFtYg3SSi877SSNCugNXNgEc/');

-- password: baker@xn--bckerei-5wa.example-pw
INSERT INTO users (domain_id, local_part, password_hash) VALUES (@d_idn, 'baker',
    '{SHA512-CRYPT}$6$RjD99vqHD5swg0Gh$KasHc3AkZDByyAziChpbBogX81ZgMUzgckv/LUgOofj0vc6/VxyFHJUzBkq/7WguPBLrUlrHBJJQQqZUa4wzg0');
INSERT INTO smtp_authorities (user_id, last_used_at, last_client_address)
    VALUES (LAST_INSERT_ID(), NOW() - INTERVAL 6 DAY, '203.0.113.6');
SET @a_baker = LAST_INSERT_ID();

-- Device accounts in the provider's relay domain, each on behalf of a customer --------------------------

-- No password: authorised by its network only (auth_mode ip). Scans are large.
INSERT INTO users (domain_id, local_part, password_hash, note)
    VALUES (@d_relay, 'printer-2f', NULL, 'Acme multifunction printer, 2nd floor');
INSERT INTO smtp_authorities (user_id, customer_id, sender_policy, auth_mode, max_message_bytes, note)
    VALUES (LAST_INSERT_ID(), @acme, 'listed_only', 'ip', 20971520, 'Scan-to-mail, cannot do SMTP AUTH');
SET @a_printer = LAST_INSERT_ID();
INSERT INTO authority_senders (authority_id, pattern) VALUES (@a_printer, 'scanner@example.com');
INSERT INTO authority_networks (authority_id, cidr, note) VALUES (@a_printer, '192.0.2.32/28', 'Acme office LAN, printer VLAN');

-- password: router-office@relay.example.net-pw
INSERT INTO users (domain_id, local_part, password_hash, note) VALUES (@d_relay, 'router-office',
    '{SHA512-CRYPT}$6$tNwZCIE1NI/EztwW$c/wh6PqhbpuG8VsXYJeIRXdPLkSRLawuHJBRnF2NX4VWajLdpiyQ4bXLGHNPjT2kMEfv0Mwu31sAPiFsafm.s/',
    'Acme office router');
INSERT INTO smtp_authorities (user_id, customer_id, sender_policy, may_relay_external, require_tls, auth_mode,
                              last_used_at, last_client_address, note)
    VALUES (LAST_INSERT_ID(), @acme, 'customer_domains', 0, 1, 'sasl_and_ip', NOW() - INTERVAL 10 DAY,
            '198.51.100.7', 'Alerts to Acme mailboxes only');
SET @a_router = LAST_INSERT_ID();
INSERT INTO authority_networks (authority_id, cidr, note) VALUES
    (@a_router, '198.51.100.7', 'Office uplink, fixed IPv4 address'),
    (@a_router, '2001:db8:ac3e::/48', 'Office IPv6 prefix');

-- password: webform@relay.example.net-pw
INSERT INTO users (domain_id, local_part, password_hash, note) VALUES (@d_relay, 'webform',
    '{SHA512-CRYPT}$6$Lw8HB9vl8cGCfw7Q$fEw15li2368FnZ0rX1qWJjJY3VQqcOaUG.0xHijfD3LdyjmlZ8tl5/EbYeT8X.NgXFxEAYODbVNzomCO1tL.d/',
    'Bakery contact form on the web server');
INSERT INTO smtp_authorities (user_id, customer_id, sender_policy, require_tls, max_recipients_per_message,
                              last_used_at, last_client_address, note)
    VALUES (LAST_INSERT_ID(), @bakery, 'listed_only', 1, 5, NOW() - INTERVAL 1 HOUR, '203.0.113.80',
            'Contact form: a web form must never become a spam cannon');
SET @a_webform = LAST_INSERT_ID();
INSERT INTO authority_senders (authority_id, pattern) VALUES
    (@a_webform, 'webform@bakery.example'),
    (@a_webform, '@xn--bckerei-5wa.example');

-- password: cam-lobby@relay.example.net-pw
INSERT INTO users (domain_id, local_part, password_hash, note) VALUES (@d_relay, 'cam-lobby',
    '{SHA512-CRYPT}$6$s.FZDNiU3MCXSpj6$nrJzyub9CUyOSgIikjHPUpc3/XrFdOgIfHX6fpng5d6Fl62arg7Czg9Ig8IBmAY6k26/X1GE/zyt8K9BYKv2./',
    'Bakery lobby camera');
INSERT INTO smtp_authorities (user_id, customer_id, sender_policy, auth_mode, last_used_at,
                              last_client_address, note)
    VALUES (LAST_INSERT_ID(), @bakery, 'own_domain', 'sasl_and_ip', NOW() - INTERVAL 200 DAY,
            '2001:db8:b4e::17', 'Motion alerts, sends as any @relay.example.net address');
SET @a_cam = LAST_INSERT_ID();
INSERT INTO authority_networks (authority_id, cidr, note) VALUES (@a_cam, '2001:db8:b4e::/64', 'Bakery shop IPv6 LAN');

-- Rate limits ------------------------------------------------------------------------------------------

INSERT INTO rate_limits (scope, meter, amount, window_seconds, calendar, note) VALUES
    ('global', 'messages', 1000, 86400, 'day', 'Default: 1000 messages per account and day'),
    ('global', 'recipients', 5000, 86400, 'day', 'Default: 5000 recipients per account and day');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, calendar, note)
    VALUES ('customer', @bakery, 'messages', 300, 86400, 'day', 'Small contract: replaces the global 1000/day');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, kind, note)
    VALUES ('domain', @d_example_com, 'messages', 2000, 3600, 'shared_pool', 'All example.com accounts together');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, note)
    VALUES ('authority', @a_webform, 'messages', 100, 3600, 'Web form: 100 messages per hour, rolling');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, action, note)
    VALUES ('authority', @a_marketing, 'recipients', 2000, 3600, 'hold', 'Bigger bursts are held for a look');
INSERT INTO rate_limits (scope, cidr, meter, amount, window_seconds, kind, shadow, note)
    VALUES ('client_network', '192.0.2.0/24', 'messages', 500, 3600, 'shared_pool', 1,
            'Trying out: the whole Acme office network, log only');

-- A few audit events, so that the cookbook queries in docs/sql.md show something --------------------------

INSERT INTO relay_events (event_time, node, stage, authority_id, login, client_address, sender,
                          recipient_count, size_bytes, verdict, reason, queue_id, detail) VALUES
    (NOW(6) - INTERVAL 2 HOUR, 'mx1', 'rcpt', @a_alice, 'alice@example.com', '192.0.2.10',
     'alice@example.com', 1, 0, 'continue', 'ok', '4XyZ1a2B3c', NULL),
    (NOW(6) - INTERVAL 90 MINUTE, 'mx1', 'rcpt', @a_carol, 'carol@example.org', '203.0.113.99',
     'carol@example.org', 0, 0, 'reject', 'account_suspended', '', 'Password leaked, spam wave, ticket 4711'),
    (NOW(6) - INTERVAL 30 MINUTE, 'mx2', 'mail', @a_bob, 'bob@example.com', '2001:db8:ac3e::25',
     'ceo@bakery.example', 0, 0, 'reject', 'sender_not_owned', '', 'sender_policy own_domain'),
    (NOW(6) - INTERVAL 5 MINUTE, 'mx1', 'rcpt', NULL, 'nobody@example.com', '203.0.113.250',
     'nobody@example.com', 0, 0, 'reject', 'no_authority', '', NULL);

COMMIT;
