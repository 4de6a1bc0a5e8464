// Outbound transport-mode ESP: SA by (UE address, UE port, P-CSCF port), next sequence
// number, ESP header (and the IV of a cipher or AES-GMAC) inserted after the IP header,
// trailer padded to a 4-byte boundary or the CBC block (RFC 4303 2.4), then encryption in
// place and the ICV over the ciphertext (RFC 4303 3.3.2; AES-GCM and AES-GMAC in one job),
// computed multi-buffer straight into the packet.
//
// A UDP-enc-tun SA (RFC 3948, TS 33.203 Annex M) takes a side step in pass 2: the
// packet's destination becomes the UE's own address and the whole packet the ESP
// payload (next header 4), behind a new IPv4 header and a UDP header from port 4500 to
// the NAT's port; the trailer and the crypto are those of transport mode.
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dataplane/esp/engine.hpp"
#include "dataplane/esp/header_shift.hpp"
#include "dataplane/esp/shared_counter.hpp"
#include "net/byte_order.hpp"
#include "net/mbuf_ip.hpp"

namespace pcscf::esp {

namespace {

constexpr uint32_t kMaxSeq = UINT32_MAX;  // no ESN: the sequence number never wraps
constexpr uint32_t kMaxIpLen = 65535;
constexpr uint32_t kMaxTailLen = 3 + kEspTrailerLen + kMaxIcvLen;  // padding, trailer, ICV (no CBC)
constexpr uint32_t kTunnelLen = 20 + net::kUdpHeaderLen;           // UDP-enc-tun: outer IPv4 and UDP

struct OutboundPacket {
    uint8_t* ip;
    net::IpInfo info;
    OutboundKey key;
    int32_t pos;   // SA position in the table
    uint32_t job;  // index in the HMAC batch
};

// Where a packet's IV goes, filled once the burst's IVs are made.
struct IvSlot {
    uint8_t* at;
    uint32_t len;
};

using net::load_be16;
using net::store_be16;
using net::store_be32;

// Padding 1, 2, 3 (RFC 4303 2.4), pad length, next header, written as one 8-byte word:
// byte stores followed by the HMAC's wide loads of the same bytes would stall. The
// word's last bytes land in the ICV's place, which the HMAC overwrites.
void store_trailer(uint8_t* tail, uint32_t pad_len, uint8_t next) noexcept {
    const uint32_t shift = 8 * pad_len;
    const uint64_t word = rte_cpu_to_le_64((0x030201ull & ((1ull << shift) - 1)) | uint64_t(pad_len) << shift |
                                           uint64_t(next) << (shift + 8));  // byte 0 first
    std::memcpy(tail, &word, 8);
}

// The same for a CBC cipher, whose block makes padding up to 15 bytes (RFC 4303 2.4:
// with no cipher-specified padding, 1, 2, 3, ...; RFC 3602 and 2451 specify none).
void store_cbc_trailer(uint8_t* tail, uint32_t pad_len, uint8_t next) noexcept {
    static constexpr uint8_t kPad[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    std::memcpy(tail, kPad, pad_len);
    tail[pad_len] = uint8_t(pad_len);
    tail[pad_len + 1] = next;
}

// UDP-enc-tun (RFC 3948 2.1 and 3.1.1, TS 33.203 Annex M): the IPv4 packet at `ip`
// (`info`; `l2_len` bytes of L2 header before it at the start of `m`) goes to the UE's
// own address (`ue_inner`; both checksums follow, RFC 1624) and becomes the inner packet
// of an outer one from the same source to the UE's public address (the packet's
// destination until now), in UDP from port 4500 to the NAT's `port`, with `esp_hdr`
// bytes of ESP header and IV after the UDP header and `esp_len` bytes of ESP in all.
// The outer header: TOS, Identification and DF copied from the inner one (the
// Identification is the one the kernel chose for this source and public destination,
// RFC 6864), TTL 64, no options; the UDP checksum 0 (RFC 3948 3.1.1). Returns the outer
// header; `info` then describes it. The caller checked the headroom.
[[gnu::noinline]] uint8_t* open_tunnel(rte_mbuf* m, uint8_t* ip, net::IpInfo& info, uint16_t l2_len, uint32_t esp_hdr,
                                       uint32_t esp_len, uint32_t ue_inner, uint16_t port) noexcept {
    const uint32_t total = kTunnelLen + esp_len;
    uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(kTunnelLen + esp_hdr)));
    std::memmove(frame, frame + kTunnelLen + esp_hdr, l2_len);
    uint8_t* outer = frame + l2_len;  // ends where the inner packet's L2 header was
    outer[0] = 0x45;
    outer[1] = ip[1];  // DSCP and ECN as the inner packet's (RFC 4301 5.1.2.1, RFC 6040 4)
    store_be16(outer + 2, uint16_t(total));
    outer[4] = ip[4];  // Identification
    outer[5] = ip[5];
    outer[6] = ip[6] & 0x40;  // DF; the inner packet is no fragment (parse_ip refused those)
    outer[7] = 0;
    outer[8] = 64;
    outer[9] = net::kProtoUdp;
    outer[10] = outer[11] = 0;
    std::memcpy(outer + 12, ip + 12, 8);  // source, and the public destination
    const uint16_t sum = uint16_t(~net::detail::header_sum(outer, 20));
    std::memcpy(outer + 10, &sum, 2);
    uint8_t* udp = outer + 20;
    store_be16(udp, kNatTPort);
    store_be16(udp + 2, port);
    store_be16(udp + 4, uint16_t(net::kUdpHeaderLen + esp_len));
    udp[6] = udp[7] = 0;
    net::set_v4_addr(ip, 16, ue_inner, ip + info.l3_len, info.proto);
    info.version = 4;
    info.proto = net::kProtoUdp;
    info.l3_len = 20;
    info.proto_offset = 9;
    info.total_len = total;
    return outer;
}

// The key blocks of the found SAs that have one, requested as soon as their records are
// in: with many SAs a key block is a miss to memory, which pass 2's work then hides
// instead of the cipher and hash bursts waiting on it.
void request_key_blocks(const OutboundTable& table, const CipherKeyPool& pool, const int32_t* pos,
                        uint32_t n) noexcept {
    KeyBlockPrefetch request;
    for (uint32_t k = 0; k < n; ++k) {
        if (pos[k] < 0) continue;
        const OutboundSa& sa = table.at(pos[k]);
        if (sa.xf != Transform::hmac)
            request(pool.at(sa.cipher), sa.xf, sa.ealg, false, sa.alg == Alg::hmac_sha256_128);
    }
}

}  // namespace

uint16_t Engine::outbound(std::span<rte_mbuf*> pkts, std::span<net::DropReason> reasons, uint16_t l2_len) noexcept {
    assert(reasons.size() >= pkts.size());
    for (size_t off = 0; off < pkts.size(); off += kChunk)
        outbound_chunk(pkts.subspan(off, std::min<size_t>(kChunk, pkts.size() - off)), reasons.data() + off, l2_len);
    return partition_good(pkts, reasons.data());
}

void Engine::outbound_chunk(std::span<rte_mbuf*> pkts, net::DropReason* why, uint16_t l2_len) noexcept {
    OutboundPacket p[kChunk];
    const OutboundKey* keys[kChunk];
    int32_t pos[kChunk];
    uint32_t owner[kChunk];  // packet index of keys[k]
    uint32_t nk = 0;
    IvSlot iv_at[kChunk];  // the packets of CBC SAs
    uint32_t iv_spi[kChunk];
    uint32_t n_iv = 0;
    alignas(16) uint8_t nonce[kChunk][16];  // AES-GCM/GMAC: salt || IV
    const CipherKeys* aead_keys[kChunk];
    uint32_t aead_of[kChunk];  // packet indexes of the AEAD jobs
    uint32_t n_aead = 0;
    const uint32_t n = uint32_t(pkts.size());
    batch_.clear();

    // Pass 1: headers and lookup keys.
    net::prefetch_first(pkts);
    for (uint32_t i = 0; i < n; ++i) {
        net::prefetch_ahead(pkts, i);
        rte_mbuf* m = pkts[i];
        const net::IpInfo& info = p[i].info;
        why[i] = net::parse_mbuf_ip(m, l2_len, p[i].ip, p[i].info);
        if (unlikely(why[i] != net::kPass)) continue;
        if (unlikely(info.proto != net::kProtoUdp && info.proto != net::kProtoTcp)) {
            why[i] = net::DropReason::bad_inner_protocol;
            continue;
        }
        const uint32_t l4_len = info.total_len - info.l3_len;
        if (unlikely(l4_len < (info.proto == net::kProtoUdp ? 8u : 20u))) {
            why[i] = net::DropReason::too_short;
            continue;
        }
        const uint8_t* l4 = p[i].ip + info.l3_len;
        // Pass 2 moves the headers 8 bytes back (into the headroom's last line, when the
        // frame starts on a line) and writes the trailer after the payload it hashes.
        net::prefetch_for_write(rte_pktmbuf_mtod(m, uint8_t*) - kEspHeaderLen);
        net::prefetch_rest(p[i].ip, p[i].ip + info.total_len + kMaxTailLen);
        p[i].key = OutboundKey{info.dst(p[i].ip), load_be16(l4 + 2), load_be16(l4)};
        keys[nk] = &p[i].key;
        owner[nk++] = i;
    }
    if (nk > 0) out_.find_bulk(keys, nk, pos);  // and brings the records in
    // With many SAs the key blocks too, as soon as the records are in.
    const bool early = keys_early(out_.count());
    if (early) request_key_blocks(out_, keys_, pos, nk);

    // Pass 2: sequence number, room, ESP header and trailer; queue the ICVs.
    KeyBlockPrefetch request_block;
    for (uint32_t k = 0; k < nk; ++k) {
        const uint32_t i = owner[k];
        OutboundPacket& pk = p[i];
        rte_mbuf* m = pkts[i];
        pk.pos = pos[k];
        if (unlikely(pk.pos < 0)) {
            why[i] = net::DropReason::no_outbound_sa;
            continue;
        }
        OutboundSa& sa = out_.at(pk.pos);
        net::DropReason bad = net::kPass;
        const Ealg ealg = sa.ealg;
        const Transform xf = sa.xf;
        const uint32_t hdr = kEspHeaderLen + iv_len(sa.alg, ealg);  // ESP header and IV
        const uint32_t block_mask = pad_block(ealg) - 1;
        // UDP-enc-tun: the whole packet is the payload, and the outer headers go in front too.
        const bool tunnel = unlikely(sa.flags & OutboundSa::kUdpEncTun);
        const uint32_t payload_len = tunnel ? pk.info.total_len : pk.info.total_len - pk.info.l3_len;
        const uint32_t front = tunnel ? kTunnelLen + hdr : hdr;  // what goes before the payload
        const uint32_t pad_len = (block_mask + 1 - ((payload_len + kEspTrailerLen) & block_mask)) & block_mask;
        const uint32_t icv_bytes = icv_len(sa.alg, xf);
        const uint32_t tail_len = pad_len + kEspTrailerLen + icv_bytes;
        // An IPv6 packet to ::ffff:a.b.c.d finds the IPv4 SA of a.b.c.d: the family decides
        // (an IPv4 packet's key is v4-mapped, so it finds IPv4 SAs only).
        if (unlikely((pk.info.version != 4 && sa.sel.ue_addr.is_v4()) ||
                     (!sa.pcscf_addr.is_unspecified() && !pk.info.src_is(pk.ip, sa.pcscf_addr)))) {
            bad = net::DropReason::selector_mismatch;
        } else if (unlikely(tunnel && out_.nat(pk.pos).encap_port == 0)) {
            bad = net::DropReason::natt_port_unknown;  // until a packet from the UE shows it
        } else if (unlikely(sa.seq >= kMaxSeq)) {
            bad = net::DropReason::seq_exhausted;
            if (!(sa.flags & OutboundSa::kExhaustedReported)) {
                sa.flags |= OutboundSa::kExhaustedReported;
                raise(EventKind::seq_exhausted, Direction::outbound, sa.spi, out_.cookie(pk.pos), sa.seq);
            }
        } else if (unlikely(pk.info.total_len + front + tail_len > kMaxIpLen)) {
            bad = net::DropReason::too_long;
        } else {
            // Whatever follows the IP datagram (L2 padding) goes before the trailer is added.
            m->data_len = uint16_t(l2_len + pk.info.total_len);
            m->pkt_len = m->data_len;
            if (unlikely(rte_pktmbuf_headroom(m) < front || rte_pktmbuf_tailroom(m) < tail_len))
                bad = net::DropReason::no_room;
        }
        if (bad != net::kPass) {
            why[i] = bad;
            bump(sa.drops);
            continue;
        }
        const uint32_t seq = uint32_t(++sa.seq);
        if (unlikely(crossed_checkpoint(seq - 1, seq)))
            raise(EventKind::seq_checkpoint, Direction::outbound, sa.spi, out_.cookie(pk.pos), seq);
        if (unlikely(seq >= cfg_.seq_near_end && !(sa.flags & OutboundSa::kNearEndReported))) {
            sa.flags |= OutboundSa::kNearEndReported;
            raise(EventKind::seq_near_end, Direction::outbound, sa.spi, out_.cookie(pk.pos), seq);
        }
        const uint8_t inner = tunnel ? net::kProtoIpv4 : pk.info.proto;
        if (likely(!tunnel)) {
            const uint32_t l23 = l2_len + pk.info.l3_len;
            uint8_t* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(hdr)));
            if (likely(hdr == kEspHeaderLen)) shift_back_8(start, l23);
            else shift_back(start, l23, hdr);
            pk.ip = start + l2_len;
        } else {
            const NatSide& nat = out_.nat(pk.pos);
            pk.ip =
                open_tunnel(m, pk.ip, pk.info, l2_len, hdr, hdr + payload_len + tail_len, nat.ue_inner, nat.encap_port);
        }
        uint8_t* esp = pk.ip + pk.info.l3_len + (tunnel ? net::kUdpHeaderLen : 0);
        store_be32(esp, sa.spi);
        store_be32(esp + 4, seq);
        // One segment (parse_mbuf_ip checked): rte_pktmbuf_append() would find the last
        // one through m->next, a cache line of the mbuf nothing else here reads.
        uint8_t* tail = rte_pktmbuf_mtod_offset(m, uint8_t*, m->data_len);
        m->data_len = uint16_t(m->data_len + tail_len);
        m->pkt_len = m->data_len;
        const uint32_t body = payload_len + pad_len + kEspTrailerLen;  // what the cipher covers
        uint8_t* icv = tail + pad_len + kEspTrailerLen;
        if (likely(!tunnel)) net::patch_ip(pk.ip, pk.info, net::kProtoEsp, int32_t(hdr + tail_len));
        if (likely(xf == Transform::hmac)) {
            store_trailer(tail, pad_len, inner);
            pk.job = batch_.add(sa.alg, sa.key, esp, kEspHeaderLen + body, icv);
            continue;
        }
        const CipherKeys& keys = keys_.at(sa.cipher);
        const bool sha256 = sa.alg == Alg::hmac_sha256_128;
        if (!early) request_block(keys, xf, ealg, false, sha256);
        const HmacRef hmac = sha256 ? HmacRef(keys.sha256) : HmacRef(sa.key);
        if (xf == Transform::hmac_sha256) {
            store_trailer(tail, pad_len, inner);
            pk.job = batch_.add(sa.alg, hmac, esp, kEspHeaderLen + body, icv);
            continue;
        }
        if (xf == Transform::cbc_hmac) {
            store_cbc_trailer(tail, pad_len, inner);
            iv_at[n_iv] = IvSlot{esp + kEspHeaderLen, hdr - kEspHeaderLen};
            iv_spi[n_iv++] = sa.spi;
            pk.job = batch_.add(sa.alg, hmac, esp, hdr + body, icv,
                                CbcPart{ealg, false, &keys, esp + kEspHeaderLen, hdr, body});
            continue;
        }
        // AES-GCM / GMAC: IV = SPI || sequence number. The sequence number never repeats
        // in an SA (it does not wrap) and the SAs that share a key (TS 33.203 7.1: one
        // key for the set) have different SPIs, so no nonce is used twice under a key,
        // as RFC 4106 3.1 and RFC 4543 3.1 require. The UE's SAs under that key carry our
        // SPIs, which sa_set allocates different from the UE's.
        store_trailer(tail, pad_len, inner);
        // One 8-byte store each: reading the IV back from two 4-byte stores would stall
        // on store forwarding.
        const uint64_t iv = uint64_t(rte_cpu_to_be_32(sa.spi)) | uint64_t(rte_cpu_to_be_32(seq)) << 32;
        std::memcpy(esp + kEspHeaderLen, &iv, kAeadIvLen);
        std::memcpy(nonce[i] + 4, &iv, kAeadIvLen);                     // the salt follows
        const uint32_t len = xf == Transform::gcm ? body : hdr + body;  // GMAC: all before the ICV
        pk.job = batch_.add(AeadPart{xf, false, &keys.gcm, nonce[i], esp, hdr, len, icv});
        aead_keys[n_aead] = &keys;
        aead_of[n_aead++] = i;
    }
    // The salts once the key blocks have had the pass to arrive.
    for (uint32_t k = 0; k < n_aead; ++k) std::memcpy(nonce[aead_of[k]], aead_keys[k]->salt, 4);
    // The IVs of the burst's ciphered packets, in one go, before their jobs run.
    bool ivs_ok = true;
    if (n_iv > 0) {
        alignas(16) uint8_t ivs[kChunk][16];
        ivs_ok = iv_.fill(imb(), ivs, iv_spi, n_iv);
        for (uint32_t k = 0; k < n_iv; ++k) std::memcpy(iv_at[k].at, ivs[k], iv_at[k].len);
    }
    if (batch_.size() > 0) batch_.run();

    // Pass 3: ICV status and counters (the worker's totals kept in registers for the chunk:
    // an add to memory per packet would chain each packet's load to the previous store).
    uint64_t packets = 0, bytes = 0;
    for (uint32_t k = 0; k < nk; ++k) {
        const uint32_t i = owner[k];
        if (why[i] != net::kPass) continue;
        OutboundSa& sa = out_.at(p[i].pos);
        if (unlikely(!batch_.ok(p[i].job) || (!ivs_ok && sa.xf == Transform::cbc_hmac))) {
            why[i] = net::DropReason::crypto_error;
            bump(sa.drops);
            continue;
        }
        bump(sa.packets);
        bump(sa.bytes, p[i].info.total_len);
        ++packets;
        bytes += pkts[i]->data_len;
    }
    stats_.out_packets += packets;
    stats_.out_bytes += bytes;
    for (uint32_t i = 0; i < n; ++i)
        if (why[i] != net::kPass) drops_.add(why[i]);
}

}  // namespace pcscf::esp
