-- Accounts and limits of tests/integration/test_rate_limits.sh. One account per scenario, so that the
-- scenarios do not share an allowance; all with default rules (own address, may relay anywhere, SASL).

INSERT INTO customers (name) VALUES ('RL Customer'), ('Pool Customer');
INSERT INTO domains (customer_id, name) SELECT id, 'rl.example' FROM customers WHERE name = 'RL Customer';
INSERT INTO domains (customer_id, name) SELECT id, 'pool.example' FROM customers WHERE name = 'Pool Customer';

INSERT INTO users (domain_id, local_part)
    SELECT d.id, x.local_part FROM domains d
    JOIN (SELECT 'messages' AS local_part UNION ALL SELECT 'recipients' UNION ALL SELECT 'bytes'
          UNION ALL SELECT 'calendar' UNION ALL SELECT 'shadow' UNION ALL SELECT 'hold'
          UNION ALL SELECT 'outage' UNION ALL SELECT 'allow' UNION ALL SELECT 'networks'
          UNION ALL SELECT 'refusals') x
    WHERE d.name = 'rl.example';
INSERT INTO users (domain_id, local_part)
    SELECT d.id, x.local_part FROM domains d
    JOIN (SELECT 'p1' AS local_part UNION ALL SELECT 'p2' UNION ALL SELECT 'p3' UNION ALL SELECT 'p4'
          UNION ALL SELECT 'p5') x
    WHERE d.name = 'pool.example';
INSERT INTO smtp_authorities (user_id) SELECT id FROM users;

INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'messages', 100, 3600 FROM v_accounts WHERE login = 'messages@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'recipients', 200, 3600 FROM v_accounts WHERE login = 'recipients@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'bytes', 100000, 3600 FROM v_accounts WHERE login = 'bytes@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, calendar)
    SELECT 'authority', authority_id, 'messages', 100, 86400, 'day' FROM v_accounts WHERE login = 'calendar@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, shadow)
    SELECT 'authority', authority_id, 'messages', 10, 3600, 1 FROM v_accounts WHERE login = 'shadow@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, action)
    SELECT 'authority', authority_id, 'messages', 5, 3600, 'hold' FROM v_accounts WHERE login = 'hold@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'messages', 1000, 3600 FROM v_accounts WHERE login IN ('outage@rl.example', 'allow@rl.example');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'messages', 1, 3600 FROM v_accounts WHERE login = 'refusals@rl.example';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, kind)
    SELECT 'domain', id, 'messages', 100, 3600, 'shared_pool' FROM domains WHERE name = 'pool.example';
