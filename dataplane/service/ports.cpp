#include "dataplane/service/ports.hpp"

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace pcscf::dp {

namespace {
std::string err(const std::string& what, int rc) { return what + ": " + rte_strerror(rc < 0 ? -rc : rc); }

// The largest MTU the port receives: what rte_eth_dev_set_mtu lets through (the PMD's
// limit, and its largest frame less the overhead it counts: DPDK 22.11 ethdev's rule),
// within the frames the buffers hold.
uint32_t largest_mtu(const rte_eth_dev_info& info, uint32_t max_frame) {
    const uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                                  ? info.max_rx_pktlen - info.max_mtu
                                  : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    const uint32_t frame = max_frame != 0 ? std::min(max_frame, info.max_rx_pktlen) : info.max_rx_pktlen;
    return frame > overhead ? std::min<uint32_t>(info.max_mtu, frame - overhead) : info.max_mtu;
}
}  // namespace

std::expected<uint16_t, std::string> find_port(const std::string& name) {
    uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) return id;
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (ec == std::errc() && end == name.data() + name.size() && rte_eth_dev_is_valid_port(n)) return uint16_t(n);
    std::string known;
    RTE_ETH_FOREACH_DEV(id) {
        char buf[RTE_ETH_NAME_MAX_LEN];
        if (rte_eth_dev_get_name_by_port(id, buf) == 0) known += std::string(known.empty() ? "" : ", ") + buf;
    }
    return std::unexpected("no DPDK port named '" + name +
                           "' (ports: " + (known.empty() ? "none; give the NIC to DPDK or add a --vdev" : known) + ")");
}

uint32_t rx_data_room(uint16_t port) noexcept {
    constexpr uint32_t kDefault = RTE_MBUF_DEFAULT_BUF_SIZE;
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == nullptr ||
        std::strcmp(info.driver_name, "net_af_packet") != 0 || info.device == nullptr)
        return kDefault;
    const rte_devargs* da = rte_dev_devargs(info.device);
    if (da == nullptr || da->args == nullptr) return kDefault;
    // "iface=eth1,qpairs=2,framesz=4096": the PMD itself refuses a malformed value.
    std::string_view args(da->args);
    for (size_t at = 0; at <= args.size();) {
        const size_t end = std::min(args.find(',', at), args.size());
        const std::string_view kv = args.substr(at, end - at);
        uint32_t framesz = 0;
        if (kv.starts_with("framesz=") &&
            std::from_chars(kv.data() + 8, kv.data() + kv.size(), framesz).ec == std::errc())
            return std::clamp<uint32_t>(framesz + RTE_PKTMBUF_HEADROOM, kDefault, UINT16_MAX);
        at = end + 1;
    }
    return kDefault;
}

std::expected<void, std::string> start_port(const PortSetup& p) {
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(p.port, &info); rc != 0) return std::unexpected(err("port info", rc));
    if (p.queues > info.max_rx_queues || p.queues > info.max_tx_queues)
        return std::unexpected("port " + std::string(info.driver_name) + " supports " +
                               std::to_string(info.max_rx_queues) + " queues, " + std::to_string(p.queues) +
                               " workers need one each");
    if (const uint32_t most = largest_mtu(info, p.max_frame); p.mtu > most)
        return std::unexpected("MTU " + std::to_string(p.mtu) + " is more than " + info.driver_name +
                               " can receive (at most " + std::to_string(most) + ")");
    rte_eth_conf conf{};
    conf.rxmode.offloads = p.rx_offloads;
    conf.txmode.offloads = p.tx_offloads;
    if (p.queues > 1) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
    }
    if (int rc = rte_eth_dev_configure(p.port, p.queues, p.queues, &conf); rc != 0)
        return std::unexpected(err("configuring port", rc));
    uint16_t rx = p.rx_ring, tx = p.tx_ring;
    rte_eth_dev_adjust_nb_rx_tx_desc(p.port, &rx, &tx);
    const int socket = rte_eth_dev_socket_id(p.port);
    for (uint16_t q = 0; q < p.queues; ++q) {
        if (int rc = rte_eth_rx_queue_setup(p.port, q, rx, socket, nullptr, p.rx_pools[q]); rc != 0)
            return std::unexpected(err("RX queue " + std::to_string(q), rc) +
                                   (std::string_view(info.driver_name) == "net_af_xdp"
                                        ? " (libbpf and libxdp say why above; a veth takes no XDP while its"
                                          " peer's MTU is above about 3500)"
                                        : ""));
        if (int rc = rte_eth_tx_queue_setup(p.port, q, tx, socket, nullptr); rc != 0)
            return std::unexpected(err("TX queue " + std::to_string(q), rc));
    }
    // Not every PMD can change the MTU (net_pcap cannot); the link's own MTU then applies.
    if (int rc = rte_eth_dev_set_mtu(p.port, p.mtu); rc != 0 && rc != -ENOTSUP)
        return std::unexpected(err("setting MTU " + std::to_string(p.mtu), rc));
    if (int rc = rte_eth_dev_start(p.port); rc != 0) return std::unexpected(err("starting port", rc));
    rte_eth_promiscuous_enable(p.port);  // the tap shares the NIC's MAC, but ND/ARP multicast must pass
    return {};
}

void stop_port(uint16_t port) noexcept {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
}

std::expected<AccessVlan, std::string> plan_access_vlan(uint16_t id, PortSetup& p) {
    AccessVlan v{.id = id};
    if (id == 0) return v;
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(p.port, &info); rc != 0) return std::unexpected(err("port info", rc));
    v.strip_offload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP) != 0;
    v.insert_offload = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_VLAN_INSERT) != 0;
    if (v.strip_offload) p.rx_offloads |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
    if (v.insert_offload) p.tx_offloads |= RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
    return v;
}

std::string mac_string(const rte_ether_addr& mac) {
    char buf[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(buf, sizeof buf, &mac);
    return buf;
}

std::expected<uint16_t, std::string> create_tap(const std::string& iface, const rte_ether_addr& mac) {
    const std::string name = "net_tap_" + iface;
    const std::string args = "iface=" + iface + ",mac=" + mac_string(mac);
    if (int rc = rte_vdev_init(name.c_str(), args.c_str()); rc != 0)
        return std::unexpected(err("creating tap " + iface + " (" + args + ")", rc));
    return find_port(name);
}

}  // namespace pcscf::dp
