#include "dataplane/ipfrag/fragmenter.hpp"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_random.h>

#include <cerrno>
#include <cstring>

namespace pcscf::ipfrag {

using net::DropReason;

namespace {
constexpr uint16_t kMaxL2 = 32;

// librte_ip_frag refuses DF packets; this one is ours to split (see the header).
void clear_df(rte_ipv4_hdr* h) noexcept {
    const uint16_t df = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    if ((h->fragment_offset & df) == 0) return;
    h->fragment_offset &= uint16_t(~df);
}

bool ipv6_has_extensions(const rte_ipv6_hdr* h) noexcept {
    return h->proto != IPPROTO_UDP && h->proto != IPPROTO_TCP && h->proto != IPPROTO_ESP;
}
}  // namespace

Fragmenter::Fragmenter(rte_mempool* direct, rte_mempool* indirect, uint32_t worker, uint32_t workers) noexcept
    : direct_(direct),
      indirect_(indirect),
      next_id_(uint32_t(rte_rand() % (UINT32_MAX / workers)) * workers + worker),
      id_step_(workers) {}

uint16_t Fragmenter::fragment(rte_mbuf* frame, uint16_t l2_len, uint16_t mtu, std::span<rte_mbuf*> out,
                              DropReason& why) noexcept {
    why = DropReason::unsplittable;
    uint8_t l2[kMaxL2];
    if (frame->nb_segs != 1 || l2_len > kMaxL2 || frame->data_len <= l2_len + 20u) {
        rte_pktmbuf_free(frame);
        return 0;
    }
    std::memcpy(l2, rte_pktmbuf_mtod(frame, const uint8_t*), l2_len);
    rte_pktmbuf_adj(frame, l2_len);
    uint8_t* ip = rte_pktmbuf_mtod(frame, uint8_t*);
    // An Ethernet frame says what it carries; only IP is split, whatever its first byte.
    uint8_t version = ip[0] >> 4;
    if (l2_len >= RTE_ETHER_HDR_LEN) {
        const uint16_t type = uint16_t(l2[12] << 8 | l2[13]);
        if (type != (version == 4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6)) version = 0;
    }
    if (version != 4 && version != 6) {
        rte_pktmbuf_free(frame);
        return 0;
    }
    const uint16_t cap = uint16_t(out.size() > UINT16_MAX ? UINT16_MAX : out.size());
    const uint32_t id = next_id_;
    next_id_ += id_step_;
    int32_t n = -1;
    if (version == 4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        clear_df(h);
        h->packet_id = rte_cpu_to_be_16(uint16_t(id));  // every piece copies it
        // Copies each piece into its own mbuf: single-segment output for any PMD.
        n = rte_ipv4_fragment_copy_nonseg_packet(frame, out.data(), cap, mtu, direct_);
    } else if (version == 6 && frame->data_len >= sizeof(rte_ipv6_hdr) &&
               !ipv6_has_extensions(reinterpret_cast<rte_ipv6_hdr*>(ip))) {
        n = rte_ipv6_fragment_packet(frame, out.data(), cap, mtu, direct_, indirect_);
    }
    rte_pktmbuf_free(frame);                                   // the pieces hold their own copy or reference
    if (n == -ENOMEM) why = DropReason::fragmentation_failed;  // else: more pieces than fit, or not splittable
    if (n <= 0) return 0;

    for (int32_t i = 0; i < n; ++i) {
        rte_mbuf* f = out[size_t(i)];
        char* hdr = nullptr;
        if (rte_pktmbuf_linearize(f) == 0) hdr = rte_pktmbuf_prepend(f, l2_len);
        if (hdr == nullptr) {  // no room in a direct buffer: give up on the whole packet
            for (int32_t j = 0; j < n; ++j) rte_pktmbuf_free(out[size_t(j)]);
            why = DropReason::fragmentation_failed;
            return 0;
        }
        std::memcpy(hdr, l2, l2_len);
        f->ol_flags = 0;
        if (version == 4) {
            auto* h = reinterpret_cast<rte_ipv4_hdr*>(hdr + l2_len);
            h->hdr_checksum = 0;
            h->hdr_checksum = rte_ipv4_cksum(h);
        } else {  // the fragment header follows the fixed header (see the header file)
            auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(hdr + l2_len + sizeof(rte_ipv6_hdr));
            fh->id = rte_cpu_to_be_32(id);
        }
    }
    return uint16_t(n);
}

}  // namespace pcscf::ipfrag
