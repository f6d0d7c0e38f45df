// Random keys that make a retried write idempotent: relay_events.event_key and rate_charge_keys.charge_key
// (BINARY(16) columns, written with UNHEX()).
#pragma once

#include <string>

namespace relay {

// 128 random bits as 32 upper-case hex digits (what HEX() answers). Each thread has its own generator,
// seeded from 256 bits of the system's entropy, so that keys of different threads, processes and hosts do
// not collide (about 2^-64 for a billion keys): a collision would make a charge look already stored.
std::string random_key();

}  // namespace relay
