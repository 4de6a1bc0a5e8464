#pragma once
// pcscf-espd's run-time interface: DPDK telemetry commands under /pcscf/, readable with
// DPDK's dpdk-telemetry.py or pcscf-espctl while the daemon runs.
//   /pcscf/stats                 counters per worker and in total
//   /pcscf/drops                 packets dropped, per reason, all workers
//   /pcscf/sa/count              SAs by direction and state
//   /pcscf/sa/list,<offset>      up to 40 SAs from <offset>, with their counters
//   /pcscf/sa/get,<id>           one SA
//   /pcscf/sa/add,k=v,...        install an SA by hand (see docs/operations.md)
//   /pcscf/sa/del,<id>           delete an SA
//   /pcscf/config                the running configuration
//   /pcscf/sip                   the SIP proxy's message counters and registered UEs
//   /pcscf/state                 the state store: what came back at start, writes since;
//                                on a standby, how far it has followed the store
//   /pcscf/role[,primary|standby] the node's role in a pair; keepalived's notify changes it
//   /pcscf/ue/list,<offset>      up to 20 UEs from <offset>, with their SA sets
//   /pcscf/ue/get,<IMPI>         the UEs (one per address) of an IMPI
//   /pcscf/sa/keys,<IMPI>        an IMPI's SAs with their keys (to decode a capture)
//   /pcscf/log[,<area>=<level>,...] the log's level per area; with a parameter, changes it
//   /pcscf/events[,<n>]          SA and registration events from number <n> (kept while
//                                someone asks at least every 10 s)
#include "control/control_plane.hpp"
#include "control/daemon/event_log.hpp"
#include "control/daemon/role.hpp"
#include "control/proxy/sip_round.hpp"
#include "control/sa/sa_manager.hpp"
#include "dataplane/service/dataplane.hpp"

namespace pcscf::ctl {

using proxy::SipStatus;

// A worker's drops, the engine's and the service's added up per reason.
net::DropCounters drops_of(const dp::Worker& w);

// The objects must outlive EAL (telemetry callbacks run on DPDK's telemetry thread).
// Returns why a command could not be registered, or nothing.
std::string register_telemetry(ControlPlane& plane, const dp::Dataplane& dataplane, RoleState& role, EventLog& events);

}  // namespace pcscf::ctl
