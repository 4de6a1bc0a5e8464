#pragma once
// Checks and steps of pcscf-espd's start that talk to the host: another instance on the
// same prefix, an address no interface has, EAL started without its usage page, the
// telemetry socket opened to a group.
#include <string>
#include <vector>

#include "control/error.hpp"
#include "net/ip_addr.hpp"

namespace pcscf::ctl {

// rte_eal_init with stdout silenced (EAL prints a page of usage text there when it refuses
// its arguments; its own lines on stderr say which); rte_errno as EAL left it.
bool start_eal(std::vector<char*>& argv);
// Where EAL keeps its runtime files, as it chooses (eal_create_runtime_dir): under
// /var/run for root, else under $XDG_RUNTIME_DIR or /tmp.
std::string dpdk_runtime_dir(const std::string& prefix);
// The telemetry socket of a pcscf-espd already running with this prefix, or "".
std::string running_instance(const std::string& prefix);
// --telemetry-group: EAL makes its runtime directories 0700; the group may read them and
// use the telemetry socket (pcscf-espctl) too. After EAL started.
Expected<void> share_telemetry(const std::string& group);
// Whether an interface of this host has the address (all of 127/8 counts).
bool has_local_address(const net::IpAddr& a);

}  // namespace pcscf::ctl
