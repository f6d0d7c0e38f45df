-- relay-authority schema, migration 001: the rule tables, the audit trail, the change generation.
--
-- Apply to an existing, empty database with the plain client:
--     mariadb relay_authority < sql/migrations/001_initial.sql
-- docs/sql.md describes every table and column and has a cookbook of admin edits.
--
-- Conventions of this file (relied on by tools that apply migrations without the mariadb client):
--   * every statement ends with a semicolon at the end of a line, and no other semicolon appears
--   * no DELIMITER and no BEGIN ... END: each trigger body is one statement
--   * names are a contract (docs/sql.md "Conventions", the contract columns are listed in
--     tests/integration/test_schema.sh): rename nothing, add columns only with defaults
--
-- Text: utf8mb4. Names admins search for (customer names, domain names) use utf8mb4_unicode_ci, so
-- WHERE name = 'Example.COM' finds the row. Values the engine compares byte for byte (local parts,
-- sender patterns, password hashes) use utf8mb4_bin: unicode_ci would treat jose and jos+e-acute as
-- duplicates. CHECK constraints keep domains and local parts lower-case, so UNIQUE means what it says.
--
-- Times are DATETIME in the database server's time zone (what NOW() shows).

CREATE TABLE schema_version (
    version     INT UNSIGNED NOT NULL COMMENT 'Migration number: NNN of sql/migrations/NNN_name.sql',
    name        VARCHAR(100) NOT NULL COMMENT 'Migration file name without .sql, e.g. 001_initial',
    applied_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the migration was applied (server time zone)',
    PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Applied migrations. The daemons refuse to start when MAX(version) is older than they need.';

CREATE TABLE change_generation (
    id          TINYINT UNSIGNED NOT NULL COMMENT 'Always 1: this table has exactly one row',
    generation  BIGINT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'Moves up by one on every change of a rule table (triggers). Daemons poll it about once a second and reload the rules when it moved',
    changed_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'When generation last moved (server time zone)',
    PRIMARY KEY (id),
    CONSTRAINT change_generation_single_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row (id = 1). Bumped by triggers on every rule table, so daemons notice any SQL edit cheaply. Do not edit by hand (bumping it is harmless: it only forces a reload).';

INSERT INTO change_generation (id, generation, changed_at) VALUES (1, 1, NOW(6));

CREATE TABLE customers (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Customer number',
    name        VARCHAR(200) NOT NULL COMMENT 'Customer name as staff know it, unique ignoring case, e.g. Acme GmbH',
    active      TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = enabled. 0 = every SMTP authority sending on behalf of this customer is refused (customer_disabled)',
    note        VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff (contract number, contact). Not used by the daemons',
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed',
    PRIMARY KEY (id),
    UNIQUE KEY customers_name_unique (name),
    CONSTRAINT customers_name_not_empty CHECK (TRIM(name) <> ''),
    CONSTRAINT customers_active_is_boolean CHECK (active IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Hosting customers. A customer owns domains and is the party on whose behalf an SMTP authority sends.';

CREATE TABLE domains (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Domain number',
    customer_id INT UNSIGNED NOT NULL COMMENT 'The customer owning the domain (customers.id). A customer with domains cannot be deleted (RESTRICT)',
    name        VARCHAR(253) NOT NULL COMMENT 'Domain name, lower-case, IDNA A-label (xn--...) for international names, no trailing dot',
    active      TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = enabled. 0 = logins in this domain are refused (domain_disabled) and customer_domains no longer includes it',
    is_local    TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = mail for this domain is hosted here: sending to it is not external relay. 0 = hosted elsewhere (may still be used as a sender domain)',
    note        VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff. Not used by the daemons',
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed',
    PRIMARY KEY (id),
    UNIQUE KEY domains_name_unique (name),
    KEY domains_customer (customer_id),
    CONSTRAINT domains_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT domains_name_lower_a_label CHECK (
        name COLLATE utf8mb4_bin REGEXP '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT domains_active_is_boolean CHECK (active IN (0, 1)),
    CONSTRAINT domains_is_local_is_boolean CHECK (is_local IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Mail domains. A login is local_part@domain. Deleting a domain deletes its users and their SMTP authorities (CASCADE).';

CREATE TABLE users (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'User number',
    domain_id     INT UNSIGNED NOT NULL COMMENT 'The domain of the login (domains.id). Deleting the domain deletes the user (CASCADE)',
    local_part    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'Part of the login before the @, lower-case, no @ or white space. The SASL login is local_part@domain',
    password_hash VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL COMMENT 'Dovecot-style {SCHEME}hash, e.g. {SHA512-CRYPT}$6$... (doveadm pw). NULL = no SASL login possible (devices authorised by IP only). Changing it does not move the change generation',
    active        TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = enabled. 0 = the login is refused (account_disabled), also by the Dovecot passdb query',
    note          VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff. Not used by the daemons',
    created_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed (a password change counts)',
    PRIMARY KEY (id),
    UNIQUE KEY users_login_unique (domain_id, local_part),
    CONSTRAINT users_domain_fk FOREIGN KEY (domain_id) REFERENCES domains (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
    CONSTRAINT users_local_part_lower_case CHECK (
        local_part REGEXP '^[^@[:space:][:cntrl:]]+$' AND local_part = LOWER(local_part)),
    CONSTRAINT users_password_hash_has_scheme CHECK (
        password_hash IS NULL OR password_hash REGEXP '^[{][A-Za-z0-9._-]+[}].+$'),
    CONSTRAINT users_active_is_boolean CHECK (active IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Domain users: the SASL logins (local_part@domain) and their passwords. A user may exist without an SMTP authority: SASL success alone never grants relay.';

CREATE TABLE smtp_authorities (
    id                         INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Authority number (relay_events.authority_id refers to it)',
    user_id                    INT UNSIGNED NOT NULL COMMENT 'The login this authority belongs to (users.id). At most one authority per user (UNIQUE). Deleting the user deletes the authority (CASCADE)',
    customer_id                INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Customer on whose behalf the account sends (customers.id), used by customer_domains and customer rate limits. Omitted (or 0) on INSERT: the customer of the login domain',
    active                     TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = enabled. 0 = refused (account_disabled)',
    sender_policy              ENUM('own_address', 'own_domain', 'customer_domains', 'listed_only') NOT NULL DEFAULT 'own_address' COMMENT 'Which envelope senders are allowed: own_address = the login itself (+extension allowed), own_domain = any address in the login domain, customer_domains = any address in an active domain of customer_id, listed_only = only authority_senders. authority_senders are allowed in addition under every policy',
    may_relay_external         TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = may send to any domain. 0 = only to domains with is_local = 1 (external_relay_denied)',
    require_tls                TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1 = refused unless the SMTP session uses TLS (tls_required)',
    auth_mode                  ENUM('sasl', 'ip', 'sasl_and_ip') NOT NULL DEFAULT 'sasl' COMMENT 'sasl = SASL login required. ip = no SASL, the client address must be in authority_networks (printers, routers). sasl_and_ip = both',
    allow_null_sender          TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1 = the null sender MAIL FROM:<> (bounces, receipts) is allowed',
    max_recipients_per_message INT UNSIGNED NULL DEFAULT NULL COMMENT 'Most recipients per message (too_many_recipients). NULL = no per-account cap',
    max_message_bytes          BIGINT UNSIGNED NULL DEFAULT NULL COMMENT 'Largest message in bytes (message_too_large). NULL = no per-account cap (the MTA limit still applies)',
    valid_until                DATETIME NULL DEFAULT NULL COMMENT 'After this time the account is refused (account_expired). NULL = no expiry',
    suspended_until            DATETIME NULL DEFAULT NULL COMMENT 'Until this time the account is refused (account_suspended), afterwards it works again by itself. NULL = not suspended',
    suspend_reason             VARCHAR(255) NULL DEFAULT NULL COMMENT 'Why it was suspended (staff or automatic abuse detection). NULL = none given',
    last_used_at               DATETIME NULL DEFAULT NULL COMMENT 'Last time a daemon accepted relay for this account. Written by the daemons, does not move the change generation. NULL = never used',
    last_client_address        VARCHAR(45) NULL DEFAULT NULL COMMENT 'Client IP address of that last use. Written by the daemons',
    note                       VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff (device, location, ticket). Not used by the daemons',
    created_at                 DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at                 DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When a rule column last changed (not touched by last_used_at / last_client_address / note updates)',
    PRIMARY KEY (id),
    UNIQUE KEY smtp_authorities_one_per_user (user_id),
    KEY smtp_authorities_customer (customer_id),
    CONSTRAINT smtp_authorities_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
    CONSTRAINT smtp_authorities_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT smtp_authorities_sender_policy_valid CHECK (
        sender_policy IN ('own_address', 'own_domain', 'customer_domains', 'listed_only')),
    CONSTRAINT smtp_authorities_auth_mode_valid CHECK (auth_mode IN ('sasl', 'ip', 'sasl_and_ip')),
    CONSTRAINT smtp_authorities_active_is_boolean CHECK (active IN (0, 1)),
    CONSTRAINT smtp_authorities_may_relay_external_is_boolean CHECK (may_relay_external IN (0, 1)),
    CONSTRAINT smtp_authorities_require_tls_is_boolean CHECK (require_tls IN (0, 1)),
    CONSTRAINT smtp_authorities_allow_null_sender_is_boolean CHECK (allow_null_sender IN (0, 1)),
    CONSTRAINT smtp_authorities_max_recipients_positive CHECK (
        max_recipients_per_message IS NULL OR max_recipients_per_message > 0),
    CONSTRAINT smtp_authorities_max_message_bytes_positive CHECK (
        max_message_bytes IS NULL OR max_message_bytes > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='SMTP authority: the right of one login to relay mail, and its rules. No row = no relay, whatever SASL says. Deleting a row (or its user) immediately disables SMTP access.';

CREATE TABLE authority_senders (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Row number',
    authority_id INT UNSIGNED NOT NULL COMMENT 'The SMTP authority (smtp_authorities.id). Deleted with it (CASCADE)',
    pattern      VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'Extra allowed envelope sender, lower-case: user@example.com (that address and its +extensions) or @example.com (any address in the domain). Domain as A-label',
    note         VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff. Not used by the daemons',
    created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed',
    PRIMARY KEY (id),
    UNIQUE KEY authority_senders_unique (authority_id, pattern),
    CONSTRAINT authority_senders_authority_fk FOREIGN KEY (authority_id) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
    CONSTRAINT authority_senders_pattern_valid CHECK (
        pattern REGEXP '^[^@[:space:][:cntrl:]]*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
        AND pattern = LOWER(pattern))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Extra envelope senders an SMTP authority may use, in addition to its sender_policy (the only ones under listed_only).';

CREATE TABLE authority_networks (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Row number',
    authority_id INT UNSIGNED NOT NULL COMMENT 'The SMTP authority (smtp_authorities.id). Deleted with it (CASCADE)',
    cidr         VARCHAR(64) NOT NULL COMMENT 'IPv4 or IPv6 network, e.g. 192.0.2.0/28, 2001:db8:1::/48, or a single address (= /32 or /128). Host bits must be zero',
    note         VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff (site, device). Not used by the daemons',
    created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed',
    PRIMARY KEY (id),
    UNIQUE KEY authority_networks_unique (authority_id, cidr),
    CONSTRAINT authority_networks_authority_fk FOREIGN KEY (authority_id) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
    CONSTRAINT authority_networks_cidr_valid CHECK (
        cidr REGEXP '^[0-9a-f:.]+(/[0-9]{1,3})?$'
        AND INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1)) IS NOT NULL
        AND IF(LOCATE('/', cidr) = 0, 0, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED))
            <= 8 * LENGTH(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1)))
        AND TRIM(LEADING '0' FROM SUBSTRING(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))),
            IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4 + 2)) = ''
        AND (IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4
                >= LENGTH(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))))
            OR (CONV(SUBSTRING(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))),
                    IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4 + 1, 1), 16, 10)
                & (15 >> (IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) MOD 4))) = 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Client networks of an SMTP authority. When an authority has any, the client address must be inside one of them (every auth_mode). auth_mode ip / sasl_and_ip need at least one.';

CREATE TABLE rate_limits (
    id             INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Limit number',
    scope          ENUM('global', 'customer', 'domain', 'authority', 'client_network') NOT NULL DEFAULT 'global' COMMENT 'What the limit covers: global = every account, customer / domain / authority = the one named by scope_id, client_network = clients inside cidr',
    scope_id       INT UNSIGNED NULL DEFAULT NULL COMMENT 'customers.id, domains.id (the login domain) or smtp_authorities.id for those scopes. NULL for global and client_network. Must exist, the limit is deleted with it',
    cidr           VARCHAR(64) NULL DEFAULT NULL COMMENT 'Client network for scope client_network (same syntax as authority_networks.cidr). NULL otherwise',
    meter          ENUM('messages', 'recipients', 'bytes') NOT NULL DEFAULT 'messages' COMMENT 'What is counted: messages (one per message), recipients (accepted recipients), bytes (final message size)',
    amount         BIGINT UNSIGNED NOT NULL COMMENT 'How much of the meter is allowed per window, > 0',
    window_seconds INT UNSIGNED NOT NULL DEFAULT 3600 COMMENT 'Window length in seconds, > 0. With calendar: 3600 for hour, 86400 for day',
    calendar       ENUM('hour', 'day') NULL DEFAULT NULL COMMENT 'NULL = rolling window (a smooth allowance refilling steadily). hour / day = calendar window resetting at the top of the hour / at midnight',
    kind           ENUM('each_account', 'shared_pool') NOT NULL DEFAULT 'each_account' COMMENT 'each_account = every account in the scope has its own allowance, the most specific scope wins (authority > domain > customer > global, same meter and window). shared_pool = one allowance shared by everything in the scope',
    action         ENUM('defer', 'reject', 'hold') NOT NULL DEFAULT 'defer' COMMENT 'When over the limit: defer = temporary refusal (4.7.1), reject = permanent refusal, hold = accept into the Postfix HOLD queue / milter quarantine',
    shadow         TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1 = only log what would happen, enforce nothing (for trying a new limit). A shadow limit never replaces an enforced one',
    active         TINYINT(1) NOT NULL DEFAULT 1 COMMENT '1 = in force. 0 = ignored (kept for later)',
    note           VARCHAR(1000) NULL DEFAULT NULL COMMENT 'Free text for staff. Not used by the daemons',
    customer_ref   INT UNSIGNED AS (IF(scope = 'customer', scope_id, NULL)) STORED COMMENT 'Generated, do not set: scope_id for scope customer, so a foreign key checks it and deletes the limit with the customer',
    domain_ref     INT UNSIGNED AS (IF(scope = 'domain', scope_id, NULL)) STORED COMMENT 'Generated, do not set: scope_id for scope domain (foreign key, deleted with the domain)',
    authority_ref  INT UNSIGNED AS (IF(scope = 'authority', scope_id, NULL)) STORED COMMENT 'Generated, do not set: scope_id for scope authority (foreign key, deleted with the authority)',
    created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'When the row was created',
    updated_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'When the row last changed',
    PRIMARY KEY (id),
    KEY rate_limits_scope (scope, scope_id),
    KEY rate_limits_customer_ref (customer_ref),
    KEY rate_limits_domain_ref (domain_ref),
    KEY rate_limits_authority_ref (authority_ref),
    CONSTRAINT rate_limits_customer_fk FOREIGN KEY (customer_ref) REFERENCES customers (id)
        ON DELETE CASCADE,
    CONSTRAINT rate_limits_domain_fk FOREIGN KEY (domain_ref) REFERENCES domains (id)
        ON DELETE CASCADE,
    CONSTRAINT rate_limits_authority_fk FOREIGN KEY (authority_ref) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE,
    CONSTRAINT rate_limits_scope_valid CHECK (
        scope IN ('global', 'customer', 'domain', 'authority', 'client_network')),
    CONSTRAINT rate_limits_scope_target CHECK (
        (scope = 'global' AND scope_id IS NULL AND cidr IS NULL)
        OR (scope IN ('customer', 'domain', 'authority') AND scope_id IS NOT NULL AND cidr IS NULL)
        OR (scope = 'client_network' AND scope_id IS NULL AND cidr IS NOT NULL)),
    CONSTRAINT rate_limits_cidr_valid CHECK (
        cidr IS NULL OR (
        cidr REGEXP '^[0-9a-f:.]+(/[0-9]{1,3})?$'
        AND INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1)) IS NOT NULL
        AND IF(LOCATE('/', cidr) = 0, 0, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED))
            <= 8 * LENGTH(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1)))
        AND TRIM(LEADING '0' FROM SUBSTRING(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))),
            IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4 + 2)) = ''
        AND (IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4
                >= LENGTH(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))))
            OR (CONV(SUBSTRING(HEX(INET6_ATON(SUBSTRING_INDEX(cidr, '/', 1))),
                    IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) DIV 4 + 1, 1), 16, 10)
                & (15 >> (IF(LOCATE('/', cidr) = 0, 128, CAST(SUBSTRING_INDEX(cidr, '/', -1) AS UNSIGNED)) MOD 4))) = 0))),
    CONSTRAINT rate_limits_meter_valid CHECK (meter IN ('messages', 'recipients', 'bytes')),
    CONSTRAINT rate_limits_amount_positive CHECK (amount > 0),
    CONSTRAINT rate_limits_window_positive CHECK (window_seconds > 0),
    CONSTRAINT rate_limits_calendar_matches_window CHECK (
        calendar IS NULL
        OR (calendar = 'hour' AND window_seconds = 3600)
        OR (calendar = 'day' AND window_seconds = 86400)),
    CONSTRAINT rate_limits_kind_valid CHECK (kind IN ('each_account', 'shared_pool')),
    CONSTRAINT rate_limits_action_valid CHECK (action IN ('defer', 'reject', 'hold')),
    CONSTRAINT rate_limits_shadow_is_boolean CHECK (shadow IN (0, 1)),
    CONSTRAINT rate_limits_active_is_boolean CHECK (active IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Rate limits (docs/rate-limits.md). Several limits may apply to one account, each is enforced. v_effective_limits shows which apply to an account.';

CREATE TABLE relay_events (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Event number',
    event_time      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'When the decision was made (server time zone, microseconds)',
    node            VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'Which daemon host wrote it ([general] node of the config)',
    stage           VARCHAR(32) NOT NULL DEFAULT '' COMMENT 'SMTP stage: connect, helo, mail, rcpt, data, end_of_message',
    authority_id    INT UNSIGNED NULL DEFAULT NULL COMMENT 'smtp_authorities.id of the account, NULL when none. No foreign key: history survives deleting the account',
    login           VARCHAR(320) NOT NULL DEFAULT '' COMMENT 'SASL login as given (or the login of the IP-authorised account), empty when none',
    client_address  VARCHAR(45) NOT NULL DEFAULT '' COMMENT 'Client IP address',
    sender          VARCHAR(512) NOT NULL DEFAULT '' COMMENT 'Envelope sender as sent (empty = null sender or not yet known)',
    recipient_count INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Recipients accepted so far (all of them at end_of_message)',
    size_bytes      BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Message size in bytes: declared SIZE before DATA, real size at end_of_message, 0 = unknown',
    verdict         VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'continue, permit, reject, defer or hold',
    reason          VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'Stable reason code, e.g. sender_not_owned, rate_limited, account_suspended (docs/sql.md lists them)',
    queue_id        VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'MTA queue id when known, to find the message in the mail log',
    detail          TEXT NULL DEFAULT NULL COMMENT 'Free text: which limit, which rule, what was refused',
    PRIMARY KEY (id),
    KEY relay_events_authority_time (authority_id, event_time),
    KEY relay_events_time (event_time),
    KEY relay_events_reason_time (reason, event_time),
    KEY relay_events_login_time (login, event_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Audit trail of decisions, written by the daemons, append only. Codes are free text (no CHECK) so that an event from a newer daemon is never lost. Purge old rows by event_time.';

-- The change generation. Every INSERT, UPDATE and DELETE on a rule table moves it, except UPDATEs that
-- only touch bookkeeping: smtp_authorities.last_used_at / last_client_address / note / updated_at
-- (written by the daemons on every use) and users.password_hash / note / updated_at (passwords are
-- Dovecot's business, not a relay rule). Those triggers compare the rule columns with <=> (NULL-safe).
-- Rows deleted by ON DELETE CASCADE fire no triggers in MariaDB, but the DELETE that caused the
-- cascade does, so every delete moves the generation.
-- A migration that adds a rule column to smtp_authorities or users must re-create its UPDATE trigger.

CREATE TRIGGER customers_generation_insert AFTER INSERT ON customers FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER customers_generation_update AFTER UPDATE ON customers FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER customers_generation_delete AFTER DELETE ON customers FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

CREATE TRIGGER domains_generation_insert AFTER INSERT ON domains FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER domains_generation_update AFTER UPDATE ON domains FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER domains_generation_delete AFTER DELETE ON domains FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

CREATE TRIGGER users_generation_insert AFTER INSERT ON users FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER users_generation_update AFTER UPDATE ON users FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6)
    WHERE id = 1 AND NOT (
        OLD.id <=> NEW.id
        AND OLD.domain_id <=> NEW.domain_id
        AND OLD.local_part <=> NEW.local_part
        AND OLD.active <=> NEW.active);
CREATE TRIGGER users_generation_delete AFTER DELETE ON users FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

-- customer_id omitted (the DEFAULT 0) or NULL: the customer of the login domain, so an admin's INSERT may
-- name only user_id. 0 is never stored: it is replaced here, or the row is refused (no such user).
CREATE TRIGGER smtp_authorities_default_customer BEFORE INSERT ON smtp_authorities FOR EACH ROW
    SET NEW.customer_id = IF(NEW.customer_id IS NULL OR NEW.customer_id = 0,
        (SELECT d.customer_id FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = NEW.user_id),
        NEW.customer_id);
-- updated_at means "a rule changed": the daemons' last_used_at updates must not touch it.
CREATE TRIGGER smtp_authorities_updated_at BEFORE UPDATE ON smtp_authorities FOR EACH ROW
    SET NEW.updated_at = IF(
        OLD.id <=> NEW.id
        AND OLD.user_id <=> NEW.user_id
        AND OLD.customer_id <=> NEW.customer_id
        AND OLD.active <=> NEW.active
        AND OLD.sender_policy <=> NEW.sender_policy
        AND OLD.may_relay_external <=> NEW.may_relay_external
        AND OLD.require_tls <=> NEW.require_tls
        AND OLD.auth_mode <=> NEW.auth_mode
        AND OLD.allow_null_sender <=> NEW.allow_null_sender
        AND OLD.max_recipients_per_message <=> NEW.max_recipients_per_message
        AND OLD.max_message_bytes <=> NEW.max_message_bytes
        AND OLD.valid_until <=> NEW.valid_until
        AND OLD.suspended_until <=> NEW.suspended_until
        AND BINARY OLD.suspend_reason <=> BINARY NEW.suspend_reason,
        NEW.updated_at, NOW());
CREATE TRIGGER smtp_authorities_generation_insert AFTER INSERT ON smtp_authorities FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER smtp_authorities_generation_update AFTER UPDATE ON smtp_authorities FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6)
    WHERE id = 1 AND NOT (
        OLD.id <=> NEW.id
        AND OLD.user_id <=> NEW.user_id
        AND OLD.customer_id <=> NEW.customer_id
        AND OLD.active <=> NEW.active
        AND OLD.sender_policy <=> NEW.sender_policy
        AND OLD.may_relay_external <=> NEW.may_relay_external
        AND OLD.require_tls <=> NEW.require_tls
        AND OLD.auth_mode <=> NEW.auth_mode
        AND OLD.allow_null_sender <=> NEW.allow_null_sender
        AND OLD.max_recipients_per_message <=> NEW.max_recipients_per_message
        AND OLD.max_message_bytes <=> NEW.max_message_bytes
        AND OLD.valid_until <=> NEW.valid_until
        AND OLD.suspended_until <=> NEW.suspended_until
        AND BINARY OLD.suspend_reason <=> BINARY NEW.suspend_reason);
CREATE TRIGGER smtp_authorities_generation_delete AFTER DELETE ON smtp_authorities FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

CREATE TRIGGER authority_senders_generation_insert AFTER INSERT ON authority_senders FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER authority_senders_generation_update AFTER UPDATE ON authority_senders FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER authority_senders_generation_delete AFTER DELETE ON authority_senders FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

CREATE TRIGGER authority_networks_generation_insert AFTER INSERT ON authority_networks FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER authority_networks_generation_update AFTER UPDATE ON authority_networks FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER authority_networks_generation_delete AFTER DELETE ON authority_networks FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

CREATE TRIGGER rate_limits_generation_insert AFTER INSERT ON rate_limits FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER rate_limits_generation_update AFTER UPDATE ON rate_limits FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;
CREATE TRIGGER rate_limits_generation_delete AFTER DELETE ON rate_limits FOR EACH ROW
    UPDATE change_generation SET generation = generation + 1, changed_at = NOW(6) WHERE id = 1;

INSERT INTO schema_version (version, name) VALUES (1, '001_initial');
