#pragma once
// Bringing up the two ports a P-CSCF host uses: the access port (any DPDK port: a PCI NIC,
// net_af_packet or net_af_xdp on a veth, net_pcap) and the net_tap exception port whose
// kernel side carries the P-CSCF's addresses. One RX/TX queue pair per worker on each.
#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "dataplane/service/access_vlan.hpp"

namespace pcscf::dp {

struct PortSetup {
    uint16_t port = 0;
    uint16_t queues = 1;
    uint16_t rx_ring = 1024, tx_ring = 1024;
    std::vector<rte_mempool*> rx_pools;  // one per queue
    uint16_t mtu = 1500;                 // IP MTU; ports that cannot set it keep theirs
    uint32_t max_frame = 0;              // largest frame the rx pools' buffers hold, where
                                         // less than the PMD says (0: the PMD's limit)
    // Offloads to enable: RTE_ETH_RX_OFFLOAD_*, RTE_ETH_TX_OFFLOAD_*.
    uint64_t rx_offloads = 0, tx_offloads = 0;
};

// A port by DPDK name ("net_af_packet0", "0000:03:00.0") or number.
std::expected<uint16_t, std::string> find_port(const std::string& name);
// The data room the receive pools of `port` need: DPDK's default (a 2,048-byte frame), or
// for net_af_packet with a larger `framesz` devarg that frame and the headroom: the PMD
// copies each frame whole into one mbuf and refuses a queue whose buffers are smaller.
// The kernel reassembles IP fragments for net_af_packet, so its frame size is the largest
// datagram that gets through (a SIP request of a UE offering every algorithm passes
// 2 kB over IPv4).
uint32_t rx_data_room(uint16_t port) noexcept;
// Configures queues (RSS over IP addresses when there are several), MTU (refused above
// what the port can receive), promiscuous mode, and starts the port.
std::expected<void, std::string> start_port(const PortSetup& p);
void stop_port(uint16_t port) noexcept;
// VLAN `id` (0: none) on port `p.port`: stripping and inserting the tag offloaded where the
// port offers it, and those offloads added to what `p` asks of start_port.
std::expected<AccessVlan, std::string> plan_access_vlan(uint16_t id, PortSetup& p);
// Creates the tap: kernel interface `iface`, with MAC address `mac`.
std::expected<uint16_t, std::string> create_tap(const std::string& iface, const rte_ether_addr& mac);
std::string mac_string(const rte_ether_addr& mac);

}  // namespace pcscf::dp
