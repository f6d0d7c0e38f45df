#!/usr/bin/env bash
# The exactness checks of test_rate_limits.sh (two daemons on one database, 50 concurrent connections,
# 300 messages against an allowance of 100: exactly 100 accepted, for each meter, a shared pool and a
# calendar day) with leases of allowance on ([rate_limits] lease_size = 64, docs/rate-limits.md "Leases"):
# leases must never admit more, and near the limit they shrink to the message alone, so exactly the limit.
# Also checks that the daemons really ran with leases (their start line), and that they counted the four
# daemons on the database from their heartbeats (table nodes) for the block size (their log).
export RL_EXTRA_CONFIG=$'[rate_limits]\nlease_size = 64'
export RL_EXPECT_LOG='leases of up to 64 messages'
export RL_EXPECT_DAEMONS=4
exec bash "$(dirname "$0")/test_rate_limits.sh" "$@"
