-- relay-authority schema, migration 005: nodes, the heartbeat of every running daemon.
--
--     mariadb relay_authority < sql/migrations/005_nodes.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
-- docs/sql.md describes the table, docs/monitoring.md how `relayctl status` reads it.
--
-- Written by the daemons every few seconds from a background thread (never on the request path), one
-- row per node and daemon. It is not a rule table: no trigger, so a heartbeat never moves
-- change_generation (which would make every daemon reload its rules every few seconds).

CREATE TABLE nodes (
    node             VARCHAR(64) NOT NULL COMMENT 'The host, as [general] node names it (default: the host name)',
    daemon           VARCHAR(32) NOT NULL COMMENT 'relay-policyd or relay-milter',
    version          VARCHAR(32) NOT NULL COMMENT 'Version of the running daemon, e.g. 0.1.0',
    started_at       DATETIME NOT NULL COMMENT 'When the running process started (server time zone)',
    last_seen_at     DATETIME(3) NOT NULL COMMENT 'When the daemon last wrote its heartbeat (server time zone, NOW() of the database: no clock skew between hosts)',
    rules_generation BIGINT UNSIGNED NULL DEFAULT NULL COMMENT 'The change_generation of the rules it serves. NULL = no rules loaded yet',
    database_server  VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'The database server it uses, as the config names it: tcp:HOST:PORT or unix:/path',
    state            VARCHAR(16) NOT NULL DEFAULT 'starting' COMMENT 'starting (no rules yet), serving, stale (serving rules older than [cache] max_stale_seconds: refusing with a temporary failure), stopped (clean shutdown)',
    PRIMARY KEY (node, daemon),
    KEY nodes_last_seen (last_seen_at),
    CONSTRAINT nodes_state_known CHECK (state IN ('starting', 'serving', 'stale', 'stopped'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Heartbeats: one row per node and daemon, refreshed every few seconds. relayctl status lists them and flags old heartbeats and rules generations behind change_generation. DELETE a row of a retired host; a running daemon writes its row again.';

INSERT INTO schema_version (version, name) VALUES (5, '005_nodes')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
