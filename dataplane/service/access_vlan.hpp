#pragma once
// An 802.1Q access link (--access-vlan): frames from the UEs carry the access VLAN's tag
// and lose it on the way in, so that everything after sees plain Ethernet (the tap stands
// for the VLAN interface); frames to the UEs get it on the way out, after fragmentation
// (the MTU is the untagged frame's). The port strips and inserts the tag where it can
// (RTE_ETH_RX_OFFLOAD_VLAN_STRIP, RTE_ETH_TX_OFFLOAD_VLAN_INSERT); otherwise the worker
// does it in the frame.
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <string_view>

namespace pcscf::dp {

struct AccessVlan {
    uint16_t id = 0;              // 1..4094; 0: an untagged access link
    bool strip_offload = false;   // the port strips the tag into m->vlan_tci
    bool insert_offload = false;  // the port inserts m->vlan_tci (RTE_MBUF_F_TX_VLAN)

    // From the access port: true when `m` came tagged with the access VLAN, and is now
    // untagged. A PMD may strip the tag even where the offload was not asked for
    // (net_af_packet always has the kernel's), so the mbuf's flag decides, not the setting.
    bool untag(rte_mbuf* m) const noexcept {
        if ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) == 0 &&
            (m->data_len < RTE_ETHER_HDR_LEN + sizeof(rte_vlan_hdr) || rte_vlan_strip(m) != 0))
            return false;  // untagged (rte_vlan_strip takes 802.1Q only)
        return (m->vlan_tci & 0xfff) == id;
    }

    // To the access port: false when the tag cannot go in (a shared or indirect first
    // segment, no headroom), and `m` is left as it was.
    bool tag(rte_mbuf* m) const noexcept {
        m->vlan_tci = id;
        if (insert_offload) {
            m->ol_flags |= RTE_MBUF_F_TX_VLAN;
            return true;
        }
        return rte_vlan_insert(&m) == 0;
    }

    // Who does it, for the log and telemetry: "offload" (the port) or "software".
    std::string_view strip_by() const noexcept { return strip_offload ? "offload" : "software"; }
    std::string_view insert_by() const noexcept { return insert_offload ? "offload" : "software"; }
};

}  // namespace pcscf::dp
