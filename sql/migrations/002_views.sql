-- relay-authority schema, migration 002: read-only views for admins.
--
--     mariadb relay_authority < sql/migrations/002_views.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER). The views are
-- SQL SECURITY INVOKER: whoever selects needs SELECT on the tables, and no definer account has to exist.
-- CREATE OR REPLACE makes this file safe to apply again (for instance after editing a view).
-- Times are compared with NOW(), the database server's time zone, as the daemons do.

-- One row per SMTP authority: who it is, whether it can relay now, and why not.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW v_accounts AS
SELECT
    x.authority_id,
    x.login,
    x.user_id,
    x.domain_id,
    x.domain,
    x.customer_id,
    x.customer,
    x.authority_active,
    x.user_active,
    x.domain_active,
    x.customer_active,
    x.suspended,
    x.expired,
    CASE
        WHEN x.authority_active = 0 OR x.user_active = 0 OR x.domain_active = 0 OR x.customer_active = 0
            THEN 'disabled'
        WHEN x.suspended = 1 THEN 'suspended'
        WHEN x.expired = 1 THEN 'expired'
        ELSE 'active'
    END AS status,
    CASE
        WHEN x.authority_active = 0 OR x.user_active = 0 THEN 'account_disabled'
        WHEN x.domain_active = 0 THEN 'domain_disabled'
        WHEN x.customer_active = 0 THEN 'customer_disabled'
        WHEN x.suspended = 1 THEN 'account_suspended'
        WHEN x.expired = 1 THEN 'account_expired'
        ELSE NULL
    END AS refusal_reason,
    COALESCE(NULLIF(CONCAT(
        IF(x.may_relay_external = 1, 'R', ''),
        IF(x.require_tls = 1, 'T', ''),
        IF(x.auth_mode IN ('ip', 'sasl_and_ip'), 'I', ''),
        IF(x.network_count > 0, 'N', ''),
        IF(x.allow_null_sender = 1, 'Z', '')), ''), '-') AS facilities,
    x.sender_policy,
    x.auth_mode,
    x.may_relay_external,
    x.require_tls,
    x.allow_null_sender,
    x.max_recipients_per_message,
    x.max_message_bytes,
    x.valid_until,
    x.suspended_until,
    x.suspend_reason,
    x.sender_count,
    x.network_count,
    x.has_password,
    NULLIF(CONCAT_WS(' | ',
        IF(x.auth_mode IN ('ip', 'sasl_and_ip') AND x.network_count = 0,
           'auth_mode needs a network in authority_networks', NULL),
        IF(x.sender_policy = 'listed_only' AND x.sender_count = 0,
           'listed_only without authority_senders allows no sender', NULL),
        IF(x.auth_mode IN ('sasl', 'sasl_and_ip') AND x.has_password = 0,
           'no password_hash: SASL login impossible', NULL)), '') AS warnings,
    x.last_used_at,
    x.last_client_address,
    x.note,
    x.created_at,
    x.updated_at
FROM (
    SELECT
        a.id AS authority_id,
        CONCAT(u.local_part, '@', d.name) AS login,
        u.id AS user_id,
        d.id AS domain_id,
        d.name AS domain,
        a.customer_id,
        c.name AS customer,
        a.active AS authority_active,
        u.active AS user_active,
        d.active AS domain_active,
        c.active AS customer_active,
        IF(a.suspended_until IS NOT NULL AND a.suspended_until > NOW(), 1, 0) AS suspended,
        IF(a.valid_until IS NOT NULL AND a.valid_until < NOW(), 1, 0) AS expired,
        a.sender_policy,
        a.auth_mode,
        a.may_relay_external,
        a.require_tls,
        a.allow_null_sender,
        a.max_recipients_per_message,
        a.max_message_bytes,
        a.valid_until,
        a.suspended_until,
        a.suspend_reason,
        (SELECT COUNT(*) FROM authority_senders s WHERE s.authority_id = a.id) AS sender_count,
        (SELECT COUNT(*) FROM authority_networks n WHERE n.authority_id = a.id) AS network_count,
        IF(u.password_hash IS NULL, 0, 1) AS has_password,
        a.last_used_at,
        a.last_client_address,
        a.note,
        a.created_at,
        a.updated_at
    FROM smtp_authorities a
    JOIN users u ON u.id = a.user_id
    JOIN domains d ON d.id = u.domain_id
    JOIN customers c ON c.id = a.customer_id
) x;

-- Per account: the rate_limits rows that apply to it and where each comes from.
-- each_account limits: for the same meter, window_seconds and calendar only the most specific scope
-- applies (authority > domain > customer > global). Shadow limits are resolved among themselves, so a
-- shadow limit being tried never replaces an enforced one. shared_pool limits all apply.
-- client_network limits depend on the client address, not on the account: they are not shown here.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW v_effective_limits AS
SELECT
    y.authority_id,
    y.login,
    y.rate_limit_id,
    y.source_scope,
    y.scope_id,
    y.scope_name,
    y.meter,
    y.amount,
    y.window_seconds,
    y.calendar,
    y.kind,
    y.action,
    y.shadow,
    CONCAT(y.amount, ' ', y.meter, ' per ',
        CASE y.calendar
            WHEN 'hour' THEN 'calendar hour'
            WHEN 'day' THEN 'calendar day'
            ELSE CONCAT(y.window_seconds, ' s (rolling)')
        END,
        IF(y.kind = 'shared_pool', CONCAT(', shared by all of ', y.source_scope, ' ', y.scope_name), ''),
        IF(y.shadow = 1, ', shadow', '')) AS description
FROM (
    SELECT
        a.id AS authority_id,
        CONCAT(u.local_part, '@', d.name) AS login,
        r.id AS rate_limit_id,
        r.scope AS source_scope,
        r.scope_id,
        CASE r.scope
            WHEN 'authority' THEN CONCAT(u.local_part, '@', d.name)
            WHEN 'domain' THEN d.name
            WHEN 'customer' THEN c.name
            ELSE '(all accounts)'
        END AS scope_name,
        r.meter,
        r.amount,
        r.window_seconds,
        r.calendar,
        r.kind,
        r.action,
        r.shadow,
        CASE r.scope WHEN 'authority' THEN 4 WHEN 'domain' THEN 3 WHEN 'customer' THEN 2 ELSE 1 END
            AS specificity,
        MAX(CASE r.scope WHEN 'authority' THEN 4 WHEN 'domain' THEN 3 WHEN 'customer' THEN 2 ELSE 1 END)
            OVER (PARTITION BY a.id, r.kind, r.shadow, r.meter, r.window_seconds, r.calendar)
            AS best_specificity
    FROM smtp_authorities a
    JOIN users u ON u.id = a.user_id
    JOIN domains d ON d.id = u.domain_id
    JOIN customers c ON c.id = a.customer_id
    JOIN rate_limits r ON r.active = 1 AND (
        r.scope = 'global'
        OR (r.scope = 'customer' AND r.scope_id = a.customer_id)
        OR (r.scope = 'domain' AND r.scope_id = d.id)
        OR (r.scope = 'authority' AND r.scope_id = a.id))
) y
WHERE y.kind = 'shared_pool' OR y.specificity = y.best_specificity;

-- Extra allowed senders with the login they belong to.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW v_authority_senders AS
SELECT
    s.id,
    s.authority_id,
    CONCAT(u.local_part, '@', d.name) AS login,
    s.pattern,
    s.note,
    s.created_at
FROM authority_senders s
JOIN smtp_authorities a ON a.id = s.authority_id
JOIN users u ON u.id = a.user_id
JOIN domains d ON d.id = u.domain_id;

-- Client networks with the login they belong to.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW v_authority_networks AS
SELECT
    n.id,
    n.authority_id,
    CONCAT(u.local_part, '@', d.name) AS login,
    a.auth_mode,
    n.cidr,
    n.note,
    n.created_at
FROM authority_networks n
JOIN smtp_authorities a ON a.id = n.authority_id
JOIN users u ON u.id = a.user_id
JOIN domains d ON d.id = u.domain_id;

INSERT INTO schema_version (version, name) VALUES (2, '002_views')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
