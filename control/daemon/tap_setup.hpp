#pragma once
// Gives the kernel's side of the tap its addresses and brings it up with its MTU, over
// rtnetlink (libmnl; once, at start-up), so ARP / ND / ICMP and SIP sockets work on the
// P-CSCF's access addresses. Needs CAP_NET_ADMIN, nothing on PATH.
#include <expected>
#include <string>
#include <vector>

#include "control/daemon/options.hpp"

namespace pcscf::ctl {

Expected<void> configure_tap(const std::string& tap, const std::vector<LocalAddress>& addrs, unsigned mtu);

}  // namespace pcscf::ctl
