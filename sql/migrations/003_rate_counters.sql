-- relay-authority schema, migration 003: rate-limit counters, abuse observations, v_rate_usage.
--
--     mariadb relay_authority < sql/migrations/003_rate_counters.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
-- docs/rate-limits.md explains the semantics, docs/sql.md describes the tables.
--
-- These tables are written by the daemons on every message (not rule tables): they have no change
-- generation triggers. Times the admin reads are DATETIME in the server's time zone, the two counter
-- columns the arithmetic runs on (tat_us, period_end) are UNIX times, exact to the microsecond and free
-- of the ambiguous hour when the server's clock goes back in autumn.

CREATE TABLE rate_counters (
    rate_limit_id   INT UNSIGNED NOT NULL COMMENT 'The limit (rate_limits.id). Deleted with it (CASCADE)',
    subject_id      INT UNSIGNED NOT NULL COMMENT 'Whose allowance: smtp_authorities.id for kind each_account (and client_network limits per account), 0 = the one shared pool of a shared_pool limit',
    tat_us          BIGINT NOT NULL DEFAULT 0 COMMENT 'Rolling windows: when the allowance is complete again, in microseconds since 1970-01-01 UTC (GCRA theoretical arrival time). In the past = full allowance available',
    period_end      BIGINT NOT NULL DEFAULT 0 COMMENT 'Calendar windows: when the counted hour or day ends, in seconds since 1970-01-01 UTC. In the past = nothing used in the current period',
    used            BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Calendar windows: amount of the meter used in the period ending at period_end',
    last_charge_at  DATETIME NULL DEFAULT NULL COMMENT 'When a message was last counted against this allowance (server time zone). NULL = never',
    last_refusal_at DATETIME NULL DEFAULT NULL COMMENT 'When this allowance last refused a message. NULL = never',
    refusals        BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Messages refused by this allowance since the row was created (refusals at RCPT made without asking the database are not counted)',
    authority_ref   INT UNSIGNED AS (NULLIF(subject_id, 0)) STORED COMMENT 'Generated, do not set: subject_id of an account, so a foreign key deletes the counter with its authority',
    PRIMARY KEY (rate_limit_id, subject_id),
    KEY rate_counters_authority_ref (authority_ref),
    CONSTRAINT rate_counters_limit_fk FOREIGN KEY (rate_limit_id) REFERENCES rate_limits (id)
        ON DELETE CASCADE,
    CONSTRAINT rate_counters_authority_fk FOREIGN KEY (authority_ref) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Rate-limit counters: one row per limit and allowance, written by the daemons in one locked transaction per message. DELETE a row to give the allowance back in full. v_rate_usage shows them readably.';

CREATE TABLE abuse_client_networks (
    authority_id  INT UNSIGNED NOT NULL COMMENT 'The SMTP authority (smtp_authorities.id). Deleted with it (CASCADE)',
    network       VARCHAR(64) NOT NULL COMMENT 'Client network the account sent from: the /24 of an IPv4 or the /48 of an IPv6 address, e.g. 192.0.2.0/24',
    first_seen_at DATETIME NOT NULL COMMENT 'When the account was first seen sending from it (since the rows were last cleared)',
    last_seen_at  DATETIME NOT NULL COMMENT 'When it was last seen sending from it (written at most every few minutes per daemon)',
    PRIMARY KEY (authority_id, network),
    KEY abuse_client_networks_last_seen (last_seen_at),
    CONSTRAINT abuse_client_networks_authority_fk FOREIGN KEY (authority_id) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Abuse detection: distinct client networks per account ([abuse] max_networks within networks_window). Cleared for an account when it is suspended automatically; old rows are purged by the daemons.';

CREATE TABLE abuse_rate_refusals (
    authority_id INT UNSIGNED NOT NULL COMMENT 'The SMTP authority (smtp_authorities.id). Deleted with it (CASCADE)',
    refused_at   DATETIME NOT NULL COMMENT 'The second in which the refusals happened (server time zone)',
    refusals     INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Rate-limit refusals of the account in that second (at RCPT and at end of message), summed over all daemons',
    PRIMARY KEY (authority_id, refused_at),
    KEY abuse_rate_refusals_time (refused_at),
    CONSTRAINT abuse_rate_refusals_authority_fk FOREIGN KEY (authority_id) REFERENCES smtp_authorities (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Abuse detection: rate-limit refusals per account ([abuse] max_rate_refusals within refusals_window). Cleared for an account when it is suspended automatically; old rows are purged by the daemons.';

-- Per account and per shared pool, every counter in use: how much is used now, what remains, when the
-- full allowance is back, the last refusal. Computed against NOW() like the daemons' own arithmetic
-- (rolling: the allowance refills steadily, calendar: it resets at period_end). Rows appear once a
-- message has been counted.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW v_rate_usage AS
SELECT
    z.subject,
    z.login,
    z.authority_id,
    z.rate_limit_id,
    z.scope,
    z.kind,
    z.meter,
    z.amount,
    z.description,
    z.used,
    z.amount - z.used AS remaining,
    z.regained_at,
    z.action,
    z.shadow,
    z.last_charge_at,
    z.last_refusal_at,
    z.refusals
FROM (
    SELECT
        CASE
            WHEN c.subject_id <> 0 THEN COALESCE(CONCAT(u.local_part, '@', d.name), CONCAT('authority ', c.subject_id))
            WHEN r.scope = 'customer' THEN CONCAT('pool of customer ', COALESCE(pc.name, r.scope_id))
            WHEN r.scope = 'domain' THEN CONCAT('pool of domain ', COALESCE(pd.name, r.scope_id))
            WHEN r.scope = 'authority' THEN CONCAT('pool of authority ', r.scope_id)
            WHEN r.scope = 'client_network' THEN CONCAT('pool of network ', r.cidr)
            ELSE 'pool of all accounts'
        END AS subject,
        IF(c.subject_id <> 0, CONCAT(u.local_part, '@', d.name), NULL) AS login,
        NULLIF(c.subject_id, 0) AS authority_id,
        r.id AS rate_limit_id,
        r.scope,
        r.kind,
        r.meter,
        r.amount,
        CONCAT(r.amount, ' ', r.meter, ' per ',
            CASE r.calendar
                WHEN 'hour' THEN 'calendar hour'
                WHEN 'day' THEN 'calendar day'
                ELSE CONCAT(r.window_seconds, ' s (rolling)')
            END) AS description,
        CASE
            WHEN r.calendar IS NULL THEN LEAST(r.amount, CEIL(
                GREATEST(c.tat_us - UNIX_TIMESTAMP(NOW(6)) * 1000000, 0) * r.amount / (r.window_seconds * 1000000)))
            WHEN c.period_end > UNIX_TIMESTAMP(NOW()) THEN LEAST(c.used, r.amount)
            ELSE 0
        END AS used,
        CASE
            WHEN r.calendar IS NULL THEN
                IF(c.tat_us > UNIX_TIMESTAMP(NOW(6)) * 1000000, FROM_UNIXTIME((c.tat_us + 999999) DIV 1000000), NULL)
            WHEN c.period_end > UNIX_TIMESTAMP(NOW()) AND c.used > 0 THEN FROM_UNIXTIME(c.period_end)
            ELSE NULL
        END AS regained_at,
        r.action,
        r.shadow,
        c.last_charge_at,
        c.last_refusal_at,
        c.refusals
    FROM rate_counters c
    JOIN rate_limits r ON r.id = c.rate_limit_id
    LEFT JOIN smtp_authorities a ON c.subject_id <> 0 AND a.id = c.subject_id
    LEFT JOIN users u ON u.id = a.user_id
    LEFT JOIN domains d ON d.id = u.domain_id
    LEFT JOIN customers pc ON r.scope = 'customer' AND pc.id = r.scope_id
    LEFT JOIN domains pd ON r.scope = 'domain' AND pd.id = r.scope_id
) z;

INSERT INTO schema_version (version, name) VALUES (3, '003_rate_counters')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
