// Dropping root, in one function and in the order that cannot be undone by mistake (as Postfix's
// chroot_uid does): look up user and group first, then supplementary groups, group, user, and verify.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace relay {

struct PolicydConfig;

// uid/gid of a user or group name (or a decimal number). nullopt when unknown.
std::optional<uid_t> lookup_user(const std::string& name, gid_t* primary_group = nullptr);
std::optional<gid_t> lookup_group(const std::string& name);

// Becomes [policyd] user/group. Refuses (std::runtime_error) to go on as root unless allow_root = true,
// and refuses unknown names. When not started as root there is nothing to drop: the process keeps
// its identity. Returns a sentence for the start-up log.
std::string drop_privileges(const PolicydConfig& config);

}  // namespace relay
