#pragma once
// Everything the running datapath needs to know, filled from pcscf-espd's options.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/esp/engine.hpp"
#include "net/ip_addr.hpp"

namespace pcscf::dp {

// The P-CSCF's protected ports (port_ps, port_pc) come from this range; any other local
// port is unprotected. Plain packets to or from a port in the range are dropped.
struct PortRange {
    uint16_t first = 0, last = 0;
    bool contains(uint16_t p) const noexcept { return p >= first && p <= last && first != 0; }
};

// The largest receive burst a worker takes (its batches are sized for it).
inline constexpr uint16_t kMaxBurst = 64;
// The most access addresses (--local-addr) the P-CSCF has, both families together.
inline constexpr size_t kMaxLocalAddrs = 8;

struct ServiceConfig {
    std::string access_port;               // DPDK port name, e.g. net_af_packet0 or a PCI address
    std::string tap_name = "pcscf0";       // the kernel's side of the exception path
    std::vector<net::IpAddr> local_addrs;  // the P-CSCF's access addresses (v4 and/or v6)
    PortRange protected_ports{5100, 5199};
    uint32_t workers = 1;
    std::vector<unsigned> worker_lcores;  // one per worker
    uint16_t burst = 32;                  // 1..kMaxBurst
    uint16_t rx_ring = 1024, tx_ring = 1024;
    uint32_t mbufs = 16383;  // per worker, access + tap
    // Once a worker finds its command ring drained, it looks again only after this long,
    // so records sent one by one are taken several at a time: each look moves the ring's
    // and the acknowledgements' lines between the control thread's core and the worker's.
    // A full take looks again at once. 0: every poll.
    uint32_t record_interval_us = 50;
    uint16_t access_mtu = 1500;  // IP MTU of the access link: ESP over it is fragmented
    uint16_t access_vlan = 0;    // 802.1Q VLAN ID of the access link (1..4094); 0: untagged
    // The tap leaves room for the ESP header and trailer, so TCP segments never need
    // fragmenting once protected; the kernel fragments large UDP itself (we reassemble).
    uint16_t tap_mtu = 1500 - 32;
    uint32_t reassembly_flows = 4096;
    uint32_t reassembly_timeout_ms = 2000;
    uint32_t max_datagram = 65000;  // largest datagram reassembled
    esp::EngineConfig engine;       // template: worker index and layout set per worker
};

}  // namespace pcscf::dp
