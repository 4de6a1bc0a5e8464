#include "dataplane/ipfrag/reassembler.hpp"

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace pcscf::ipfrag {

using net::DropReason;

namespace {
constexpr uint32_t kBucketEntries = 8;  // flows per hash bucket (associativity)
constexpr uint32_t kIpv6FixedLen = sizeof(rte_ipv6_hdr);
constexpr uint32_t kMaxIpLen = 65535;

uint16_t be16(const void* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return rte_be_to_cpu_16(v);
}

// The table of a fragment's protocol, or -1 for a protocol not reassembled here. The
// protocol is in every fragment: the IPv4 header's, or the IPv6 fragment header's next
// header (which librte_ip_frag wants right after the fixed header).
int table_of(const uint8_t* ip, uint32_t avail) noexcept {
    uint8_t proto;
    if ((ip[0] >> 4) == 4 && avail >= sizeof(rte_ipv4_hdr)) proto = ip[9];
    else if ((ip[0] >> 4) == 6 && avail >= kIpv6FixedLen + sizeof(rte_ipv6_fragment_ext) && ip[6] == IPPROTO_FRAGMENT)
        proto = ip[kIpv6FixedLen];
    else return 0;  // malformed: add() counts it
    switch (proto) {
        case IPPROTO_ESP: return 0;
        case IPPROTO_UDP: return 1;
        case IPPROTO_TCP: return 2;
        default: return -1;
    }
}
}  // namespace

std::expected<Reassembler, std::string> Reassembler::create(const ReassemblyConfig& cfg, rte_mempool* big_pool,
                                                            int socket) {
    if (cfg.max_flows == 0 || cfg.timeout_ms == 0)
        return std::unexpected("reassembly needs at least one flow and a non-zero timeout");
    if (big_pool == nullptr ||
        rte_pktmbuf_data_room_size(big_pool) < RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN + cfg.max_datagram)
        return std::unexpected("reassembly buffer pool is too small for the largest datagram");
    // Twice as many slots as flows keeps the buckets from filling before the table does.
    const uint32_t buckets = rte_align32pow2(std::max(1u, cfg.max_flows * 2 / kBucketEntries));
    const uint64_t cycles = (rte_get_tsc_hz() + 999) / 1000 * cfg.timeout_ms;
    std::array<rte_ip_frag_tbl*, kTables> t{};
    for (auto& table : t) {
        table = rte_ip_frag_table_create(buckets, kBucketEntries, cfg.max_flows, cycles, socket);
        if (table == nullptr) {
            for (auto* made : t)
                if (made != nullptr) rte_ip_frag_table_destroy(made);
            return std::unexpected("cannot create the reassembly tables (out of memory?)");
        }
    }
    return Reassembler(t, big_pool, std::min(cfg.max_datagram, kMaxIpLen));
}

Reassembler::Reassembler(Reassembler&& o) noexcept
    : tables_(std::exchange(o.tables_, {})), death_row_(o.death_row_), big_(o.big_), max_datagram_(o.max_datagram_) {
    o.death_row_.cnt = 0;
}

Reassembler::~Reassembler() {
    if (tables_[0] == nullptr) return;
    rte_ip_frag_free_death_row(&death_row_, 0);
    for (auto* t : tables_) rte_ip_frag_table_destroy(t);  // frees the fragments still held
}

bool Reassembler::wanted(const rte_mbuf* m, uint16_t l2_len) noexcept {
    if (m->nb_segs != 1 || m->data_len <= l2_len) return true;
    return table_of(rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len), m->data_len - l2_len) >= 0;
}

rte_mbuf* Reassembler::add(rte_mbuf* m, uint16_t l2_len, uint64_t now_tsc, net::DropCounters& drops) noexcept {
    auto invalid = [&]() -> rte_mbuf* {
        drops.add(DropReason::fragment_invalid);
        rte_pktmbuf_free(m);
        return nullptr;
    };
    if (m->nb_segs != 1 || m->data_len <= l2_len) return invalid();
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
    const uint32_t avail = m->data_len - l2_len;
    const int table = table_of(ip, avail);
    if (table < 0) return invalid();  // not one of ours: the caller asks wanted() first
    rte_ip_frag_tbl* tbl = tables_[size_t(table)];
    rte_mbuf* whole = nullptr;
    m->l2_len = l2_len;
    if ((ip[0] >> 4) == 4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        const uint32_t ihl = (ip[0] & 0xfu) * 4u;
        if (avail < sizeof(rte_ipv4_hdr) || ihl < sizeof(rte_ipv4_hdr)) return invalid();
        const uint32_t total = be16(&h->total_length);
        if (total <= ihl || total > avail || !rte_ipv4_frag_pkt_is_fragmented(h)) return invalid();
        m->l3_len = ihl;
        whole = rte_ipv4_frag_reassemble_packet(tbl, &death_row_, m, now_tsc, h);
    } else if ((ip[0] >> 4) == 6) {
        // The fragment header must come right after the fixed header: librte_ip_frag reads
        // it there and removes it from there.
        auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
        if (avail < kIpv6FixedLen + sizeof(rte_ipv6_fragment_ext)) return invalid();
        const uint32_t payload = be16(&h->payload_len);
        if (kIpv6FixedLen + payload > avail || payload <= sizeof(rte_ipv6_fragment_ext)) return invalid();
        rte_ipv6_fragment_ext* frag = rte_ipv6_frag_get_ipv6_fragment_header(h);
        if (frag == nullptr) return invalid();
        m->l3_len = kIpv6FixedLen + sizeof(rte_ipv6_fragment_ext);
        whole = rte_ipv6_frag_reassemble_packet(tbl, &death_row_, m, now_tsc, h, frag);
    } else {
        return invalid();
    }
    // Whatever the library gave up on (bad offsets, overlaps, too many pieces, no free
    // flow entry) it put on the death row.
    free_dropped(drops, DropReason::fragment_invalid);
    if (whole == nullptr) return nullptr;
    return linearize(whole, drops);
}

// One contiguous buffer (the engine and the frame classifier read the packet in place),
// with a valid IPv4 header checksum (the library leaves it to a TX offload we do not use).
rte_mbuf* Reassembler::linearize(rte_mbuf* chain, net::DropCounters& drops) noexcept {
    const uint32_t ip_len = chain->pkt_len - chain->l2_len;
    if (ip_len > max_datagram_) {
        drops.add(ip_len > kMaxIpLen ? DropReason::fragment_invalid : DropReason::reassembly_failed);
        rte_pktmbuf_free(chain);
        return nullptr;
    }
    rte_mbuf* flat = chain;
    if (chain->nb_segs > 1) {
        flat = rte_pktmbuf_alloc(big_);
        char* dst = flat ? rte_pktmbuf_append(flat, chain->pkt_len) : nullptr;
        if (dst == nullptr) {
            if (flat) rte_pktmbuf_free(flat);
            drops.add(DropReason::reassembly_failed);
            rte_pktmbuf_free(chain);
            return nullptr;
        }
        for (const rte_mbuf* s = chain; s != nullptr; s = s->next) {
            std::memcpy(dst, rte_pktmbuf_mtod(s, const char*), s->data_len);
            dst += s->data_len;
        }
        flat->port = chain->port;
        flat->l2_len = chain->l2_len;
        flat->l3_len = chain->l3_len;
        rte_pktmbuf_free(chain);
    }
    flat->ol_flags = 0;
    uint8_t* ip = rte_pktmbuf_mtod_offset(flat, uint8_t*, flat->l2_len);
    if ((ip[0] >> 4) == 4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        h->hdr_checksum = 0;
        h->hdr_checksum = rte_ipv4_cksum(h);
    }
    return flat;
}

void Reassembler::expire(uint64_t now_tsc, net::DropCounters& drops) noexcept {
    for (auto* t : tables_) {  // the death row holds a bounded number: emptied per table
        rte_ip_frag_table_del_expired_entries(t, &death_row_, now_tsc);
        free_dropped(drops, DropReason::reassembly_timeout);
    }
}

void Reassembler::free_dropped(net::DropCounters& drops, DropReason why) noexcept {
    if (death_row_.cnt == 0) return;
    drops.count[size_t(why)] += death_row_.cnt;
    rte_ip_frag_free_death_row(&death_row_, 0);
}

}  // namespace pcscf::ipfrag
