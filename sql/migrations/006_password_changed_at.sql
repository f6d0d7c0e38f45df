-- relay-authority schema, migration 006: users.password_changed_at, when the password was last set.
--
--     mariadb relay_authority < sql/migrations/006_password_changed_at.sql
--
-- Same conventions as 001 (one statement per semicolon at a line end, no DELIMITER, no BEGIN ... END).
-- IF NOT EXISTS makes this file safe to apply again. docs/sql.md describes the column.
--
-- For password rotation (relayctl account list --password-older-than 180d). relayctl writes it with every
-- password it sets (account add, account passwd, import), and the two BEFORE triggers keep it right for
-- passwords set by hand in SQL or by a panel: a new password_hash moves it to NOW(), any other edit of
-- the row leaves it alone. An UPDATE or INSERT that names password_changed_at itself (an import from a
-- system that knows the date) keeps its value. No password (NULL hash): NULL.
-- These are BEFORE triggers that only set a column of the row being written: they touch no other table,
-- and users_generation_update does not compare this column, so a password change still does not move
-- change_generation (passwords are Dovecot's business, not a relay rule).

ALTER TABLE users
    ADD COLUMN IF NOT EXISTS password_changed_at DATETIME NULL DEFAULT NULL COMMENT 'When password_hash was last set (server time zone). Kept by relayctl and by triggers: changing password_hash moves it to NOW() unless the same statement sets this column, NULL = no password. Rows from before migration 006 got updated_at (the password is at least that old)' AFTER password_hash;

-- Rows from before this migration: the last change of the row is the latest the password can have been
-- set. updated_at = updated_at keeps ON UPDATE CURRENT_TIMESTAMP from moving it.
UPDATE users SET password_changed_at = updated_at, updated_at = updated_at
    WHERE password_hash IS NOT NULL AND password_changed_at IS NULL;

CREATE TRIGGER IF NOT EXISTS users_password_changed_at_insert BEFORE INSERT ON users FOR EACH ROW
    SET NEW.password_changed_at = IF(NEW.password_hash IS NULL, NULL,
        COALESCE(NEW.password_changed_at, NOW()));

CREATE TRIGGER IF NOT EXISTS users_password_changed_at_update BEFORE UPDATE ON users FOR EACH ROW
    SET NEW.password_changed_at = CASE
        WHEN NEW.password_hash IS NULL THEN NULL
        WHEN OLD.password_hash <=> NEW.password_hash THEN NEW.password_changed_at
        WHEN OLD.password_changed_at <=> NEW.password_changed_at THEN NOW()
        ELSE NEW.password_changed_at
    END;

INSERT INTO schema_version (version, name) VALUES (6, '006_password_changed_at')
    ON DUPLICATE KEY UPDATE name = VALUES(name), applied_at = NOW();
