-- relay-authority schema, migration 008: relay_events.event_key, which makes writing an audit event
-- idempotent.
--
--     mariadb relay_authority < sql/migrations/008_event_keys.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
-- IF NOT EXISTS makes this file safe to apply again. docs/sql.md describes the column.
--
-- Every event a daemon writes carries a random 128-bit key, chosen when the decision is made. When the
-- answer to the COMMIT of a batch is lost (the server or the connection went away, a Galera node left the
-- cluster), or a replay of the audit spool (events kept on disk while no database server answered) is
-- interrupted, the daemon writes the same events again: the unique key makes the server keep the first
-- copy and skip the second (INSERT ... ON DUPLICATE KEY UPDATE), so every decision is in relay_events
-- once. Rows written before this migration, and by older daemons, have no key (NULL, which UNIQUE allows
-- many times).

ALTER TABLE relay_events
    ADD COLUMN IF NOT EXISTS event_key BINARY(16) NULL DEFAULT NULL COMMENT 'Random key of the event, chosen by the daemon: a batch written again after a lost COMMIT or an interrupted spool replay is stored once. NULL: written before migration 008' AFTER repeat_count,
    ADD UNIQUE KEY IF NOT EXISTS relay_events_event_key (event_key);

INSERT INTO schema_version (version, name) VALUES (8, '008_event_keys')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
