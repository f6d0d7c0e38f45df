-- relay-authority schema, migration 007: charge keys, which make a rate-limit charge idempotent.
--
--     mariadb relay_authority < sql/migrations/007_charge_keys.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
--
-- Every END-OF-MESSAGE charge carries a random key, written here in the same transaction as its counters.
-- When the answer to a COMMIT is lost (the server or the connection went away, a Galera node left the
-- cluster) the daemon cannot know whether the charge was stored. It runs the charge again, and the
-- transaction that finds the key already here leaves the counters alone: a message is never counted twice.
-- A key is only needed while its charge may still be retried (at most [rate_limits] charge_timeout, 60 s):
-- the daemons delete keys older than an hour every minute (the abuse-detection thread) and `relayctl
-- prune` deletes them too. No trigger: a charge never moves change_generation.

CREATE TABLE rate_charge_keys (
    charge_key  BINARY(16) NOT NULL COMMENT 'Random key of one charge (one message), chosen by the daemon',
    charged_at  DATETIME NOT NULL COMMENT 'When the charge was made (the daemon clock, like rate_counters.last_charge_at)',
    PRIMARY KEY (charge_key),
    KEY rate_charge_keys_charged (charged_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Keys of recent rate-limit charges, so that a charge retried after a lost COMMIT is not counted twice. Pruned after an hour.';

INSERT INTO schema_version (version, name) VALUES (7, '007_charge_keys')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
