-- relay-authority schema, migration 004: relay_events.repeat_count, repeated refusals in one row.
--
--     mariadb relay_authority < sql/migrations/004_event_aggregation.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
-- IF NOT EXISTS makes this file safe to apply again. docs/sql.md describes the column.
--
-- Under a flood of refusals (a stolen password hammering a disabled account, a misconfigured client
-- retrying) the daemons fold repeated refusals of one account, client address, stage, verdict and reason
-- within one second into the first row and count them here, so the audit trail keeps up instead of
-- dropping events. Count decisions with SUM(repeat_count), not COUNT(*). Older rows count 1.

ALTER TABLE relay_events
    ADD COLUMN IF NOT EXISTS repeat_count INT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'Decisions this row stands for: 1 = one; more = the same refusal (account, client address, stage, verdict, reason) repeated within one second of event_time, the other columns being those of the first. Count decisions with SUM(repeat_count)' AFTER detail;

INSERT INTO schema_version (version, name) VALUES (4, '004_event_aggregation')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
