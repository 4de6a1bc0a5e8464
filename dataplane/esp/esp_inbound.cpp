// Inbound transport-mode ESP: SA by SPI, replay pre-check, ICV (multi-buffer) and, for a
// ciphered SA, decryption in place in the same IPsec-MB job (CBC after an HMAC, or
// AES-GCM; AES-GMAC authenticates only), replay update, trailer, inner selectors, then
// the ESP header, IV and trailer are removed in place. Three passes per chunk so that SA
// records and packet bytes are prefetched before they are read and all the chunk's
// crypto goes to IPsec-MB in one multi-buffer pass.
//
// UDP-encapsulated tunnel-mode ESP (RFC 3948, TS 33.203 Annex M) takes the same passes,
// with side steps that only its packets take: the UDP header is opened in pass 1, and in
// pass 3 the inner IPv4 packet is checked, delivered with its source rewritten to the
// UE's public address, and the NAT's port learnt.
#include <rte_branch_prediction.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dataplane/esp/engine.hpp"
#include "dataplane/esp/header_shift.hpp"
#include "dataplane/esp/inbound_checks.hpp"
#include "dataplane/esp/look_ahead.hpp"
#include "dataplane/esp/shared_counter.hpp"
#include "net/byte_order.hpp"
#include "net/mbuf_ip.hpp"

namespace pcscf::esp {

namespace {

constexpr uint32_t kMinEspLen = kEspHeaderLen + kEspTrailerLen + kIcvLen;  // of any SA; each checks its own

struct InboundPacket {
    uint8_t* ip;
    uint8_t* esp;
    net::IpInfo info;
    uint32_t esp_len;  // ESP header to the end of the ICV
    uint32_t spi;
    uint32_t slot;
    uint32_t seq;
    uint32_t job;
    uint32_t hdr;  // ESP header plus IV: what decapsulation removes before the payload
    uint32_t icv_len;
    bool udp;        // UDP-encapsulated (RFC 3948): the SA must be udp_enc_tun
    uint16_t sport;  // udp: the outer UDP source port (the NAT's)
};

using net::load_be16;
using net::load_be32;

bool selectors_match(const InboundSa& sa, const InboundPacket& p, const uint8_t* l4) noexcept {
    return p.info.src_is(p.ip, sa.ue_addr) && (sa.pcscf_addr.is_unspecified() || p.info.dst_is(p.ip, sa.pcscf_addr)) &&
           sa.ports_match(l4);
}

// A packet that is not bare ESP: UDP to port 4500 over IPv4 is UDP-encapsulated
// (RFC 3948 2.1-2.3). One 0xFF byte is a NAT keep-alive, four zero bytes (SPI 0, never
// allocated) the non-ESP marker of IKE, anything else ESP after the UDP header, whose
// length must be what the IP header leaves for it.
[[gnu::noinline]] net::DropReason open_udp(InboundPacket& pk) noexcept {
    using net::DropReason;
    const net::IpInfo& info = pk.info;
    if (info.proto != net::kProtoUdp || info.version != 4) return DropReason::not_esp;
    const uint8_t* udp = pk.ip + info.l3_len;
    const uint32_t l4_len = info.total_len - info.l3_len;
    if (l4_len < net::kUdpHeaderLen) return DropReason::too_short;
    if (load_be16(udp + 2) != kNatTPort) return DropReason::not_esp;
    if (load_be16(udp + 4) != l4_len) return DropReason::bad_ip_header;
    const uint8_t* payload = udp + net::kUdpHeaderLen;
    const uint32_t len = l4_len - net::kUdpHeaderLen;
    if (len == 1 && payload[0] == 0xff) return DropReason::natt_keepalive;
    if (len >= 4 && load_be32(payload) == 0) return DropReason::natt_non_esp;
    pk.udp = true;
    pk.sport = load_be16(udp);
    pk.esp = pk.ip + info.l3_len + net::kUdpHeaderLen;
    pk.esp_len = len;
    return net::kPass;
}

// The decrypted payload of a UDP-enc-tun SA (RFC 3948, TS 33.203 Annex M): one whole
// IPv4 datagram (RFC 4303 2.6, next header 4) from the UE's own address to the P-CSCF,
// carrying UDP or TCP between the SA's ports, inside an outer packet from the UE's
// public address. `in` describes the inner header afterwards.
[[gnu::noinline]] net::DropReason check_tunnel(const InboundSa& sa, const NatSide& nat, const InboundPacket& pk,
                                               const uint8_t* inner, uint32_t len, uint8_t next,
                                               net::IpInfo& in) noexcept {
    using net::DropReason;
    if (next != net::kProtoIpv4) return DropReason::bad_inner_protocol;
    // Version, header length, lengths, header checksum, no fragment.
    if (const DropReason why = net::parse_ip(inner, len, in); why != net::kPass) return why;
    if (in.version != 4 || in.total_len != len) return DropReason::bad_ip_header;
    if (in.proto != net::kProtoUdp && in.proto != net::kProtoTcp) return DropReason::bad_inner_protocol;
    if (in.total_len - in.l3_len < (in.proto == net::kProtoUdp ? 8u : 20u)) return DropReason::too_short;
    uint32_t inner_src;
    std::memcpy(&inner_src, inner + 12, 4);
    if (!pk.info.src_is(pk.ip, sa.ue_addr) || inner_src != nat.ue_inner ||
        (!sa.pcscf_addr.is_unspecified() && !in.dst_is(inner, sa.pcscf_addr)) || !sa.ports_match(inner + in.l3_len))
        return DropReason::selector_mismatch;
    return net::kPass;
}

// Gives the kernel the inner packet as the UE's public address sent it: the source
// becomes `ue_addr` (both checksums follow, RFC 1624), the outer IP and UDP headers, the
// ESP header and IV and the trailer go, and the L2 header moves up to the inner packet.
[[gnu::noinline]] void deliver_tunnel(rte_mbuf* m, uint8_t* inner, const net::IpInfo& in, uint16_t l2_len,
                                      const net::IpAddr& ue_addr) noexcept {
    uint32_t pub;
    std::memcpy(&pub, ue_addr.v4_bytes(), 4);
    net::set_v4_addr(inner, 12, pub, inner + in.l3_len, in.proto);
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const auto strip = uint16_t(inner - frame - l2_len);  // outer IP, UDP, ESP header, IV
    std::memmove(frame + strip, frame, l2_len);
    rte_pktmbuf_adj(m, strip);
    m->data_len = uint16_t(l2_len + in.total_len);  // drops trailer and L2 padding
    m->pkt_len = m->data_len;
}

// The key blocks of the packets' SAs that have one, once their records are in (the
// look-ahead requested them a burst ago): with many SAs a key block is a miss to memory,
// which pass 2's work then hides instead of the hash bursts and AEAD calls waiting on it.
void request_key_blocks(const InboundTable& table, const CipherKeyPool& pool, const InboundPacket* p,
                        const net::DropReason* why, uint32_t n) noexcept {
    KeyBlockPrefetch request;
    for (uint32_t i = 0; i < n; ++i) {
        if (why[i] != net::kPass) continue;
        const InboundSa& sa = table.at(p[i].slot);
        if (sa.xf != Transform::hmac && sa.spi == p[i].spi)
            request(pool.at(sa.cipher), sa.xf, sa.ealg, true, sa.alg == Alg::hmac_sha256_128);
    }
}

}  // namespace

uint16_t Engine::inbound(std::span<rte_mbuf*> pkts, std::span<net::DropReason> reasons, uint16_t l2_len,
                         std::span<rte_mbuf* const> next) noexcept {
    assert(reasons.size() >= pkts.size());
    const bool ahead = looks_ahead();
    for (size_t off = 0; off < pkts.size(); off += kChunk) {
        const size_t n = std::min<size_t>(kChunk, pkts.size() - off);
        const bool last = off + n == pkts.size();
        inbound_chunk(pkts.subspan(off, n), reasons.data() + off, l2_len, last && ahead ? next : next.first(0));
    }
    return partition_good(pkts, reasons.data());
}

// During a burst's crypto, the SA slots of the packets the next call gets.
void Engine::prefetch_inbound_sas(std::span<rte_mbuf* const> pkts, uint16_t l2_len) const noexcept {
    for (const rte_mbuf* m : pkts)
        if (uint32_t slot; spi_.owned_slot(hinted_spi(m, l2_len), cfg_.worker, slot)) in_.prefetch(slot);
}

void Engine::inbound_chunk(std::span<rte_mbuf*> pkts, net::DropReason* why, uint16_t l2_len,
                           std::span<rte_mbuf* const> next) noexcept {
    InboundPacket p[kChunk];
    alignas(16) uint8_t tag[kChunk][kMaxIcvLen];
    alignas(16) uint8_t nonce[kChunk][16];  // AES-GCM/GMAC: salt || IV
    const CipherKeys* aead_keys[kChunk];
    uint32_t aead_of[kChunk];  // packet indexes of the AEAD jobs
    uint32_t n_aead = 0;
    const ReplayWindow& replay = in_.replay();
    const uint32_t n = uint32_t(pkts.size());
    batch_.clear();

    // Pass 1: headers and SPI; prefetch the SA slot.
    net::prefetch_first(pkts);
    for (uint32_t i = 0; i < n; ++i) {
        net::prefetch_ahead(pkts, i);
        rte_mbuf* m = pkts[i];
        const net::IpInfo& info = p[i].info;
        why[i] = net::parse_mbuf_ip(m, l2_len, p[i].ip, p[i].info);
        if (unlikely(why[i] != net::kPass)) continue;
        if (likely(info.proto == net::kProtoEsp)) {
            p[i].udp = false;
            p[i].esp = p[i].ip + info.l3_len;
            p[i].esp_len = info.total_len - info.l3_len;
        } else if (why[i] = open_udp(p[i]); why[i] != net::kPass) {
            continue;
        }
        if (unlikely(p[i].esp_len < kMinEspLen)) {
            why[i] = net::DropReason::too_short;
            continue;
        }
        p[i].spi = load_be32(p[i].esp);
        if (unlikely(!spi_.owned_slot(p[i].spi, cfg_.worker, p[i].slot))) {
            why[i] = net::DropReason::unknown_spi;
            continue;
        }
        in_.prefetch(p[i].slot);
        net::prefetch_rest(p[i].esp, p[i].esp + p[i].esp_len);  // hashed, then trailer and ICV read
    }

    // With many SAs the key blocks too, now that the records are in.
    const bool early = keys_early(in_.count());
    if (early) request_key_blocks(in_, keys_, p, why, n);

    // Pass 2: SA and replay pre-check; queue the HMACs over ESP header .. trailer.
    KeyBlockPrefetch request_block;
    for (uint32_t i = 0; i < n; ++i) {
        if (why[i] != net::kPass) continue;
        InboundSa& sa = in_.at(p[i].slot);
        if (unlikely(sa.spi != p[i].spi)) {
            why[i] = net::DropReason::unknown_spi;
            continue;
        }
        // Bare ESP for a transport SA, UDP-encapsulated for a UDP-enc-tun one; checked
        // before the ICV (no crypto spent on it), charged to the SA like a bad ICV.
        if (unlikely(bool(sa.flags & InboundSa::kUdpEncTun) != p[i].udp)) {
            why[i] = net::DropReason::selector_mismatch;
            bump(in_.drops(p[i].slot));
            continue;
        }
        const Transform xf = sa.xf;
        const uint32_t icv = icv_len(sa.alg, xf);
        const uint32_t iv = iv_len(sa.alg, sa.ealg);
        // Room for the trailer and a 16-byte ICV, and AES-GCM/GMAC's IV (the 96-bit HMACs'
        // minimum was pass 1's; a CBC packet's IV is the block rule's below).
        if (unlikely(p[i].esp_len < kEspHeaderLen + (is_aead(xf) ? kAeadIvLen : 0) + kEspTrailerLen + icv)) {
            why[i] = net::DropReason::too_short;
            bump(in_.drops(p[i].slot));
            continue;
        }
        // RFC 4303 3.4.2: with a CBC cipher, what follows the IV is whole blocks (at
        // least one: the trailer is inside); checked before the IPsec-MB job, which
        // would refuse it.
        const uint32_t body = p[i].esp_len - kEspHeaderLen - icv;  // IV, payload, trailer
        if (unlikely(xf == Transform::cbc_hmac && (body <= iv || ((body - iv) & (pad_block(sa.ealg) - 1)) != 0))) {
            why[i] = net::DropReason::bad_cipher_length;
            bump(in_.drops(p[i].slot));
            continue;
        }
        p[i].seq = load_be32(p[i].esp + 4);
        if (unlikely(!replay.check(sa.replay_last, in_.window(sa), p[i].seq))) {
            why[i] = net::DropReason::replay;
            bump(in_.drops(p[i].slot));
            continue;
        }
        p[i].hdr = kEspHeaderLen + iv;
        p[i].icv_len = icv;
        if (likely(xf == Transform::hmac)) {
            p[i].job = batch_.add(sa.alg, sa.key, p[i].esp, p[i].esp_len - icv, tag[i]);
            continue;
        }
        const CipherKeys& keys = keys_.at(sa.cipher);
        const bool sha256 = sa.alg == Alg::hmac_sha256_128;
        if (!early) request_block(keys, xf, sa.ealg, true, sha256);
        const HmacRef hmac = sha256 ? HmacRef(keys.sha256) : HmacRef(sa.key);
        if (xf == Transform::hmac_sha256) {
            p[i].job = batch_.add(sa.alg, hmac, p[i].esp, p[i].esp_len - icv, tag[i]);
            continue;
        }
        if (xf == Transform::cbc_hmac) {
            const CbcPart cbc{
                sa.ealg, true, &keys, p[i].esp + kEspHeaderLen, p[i].hdr, body - iv, p[i].esp + p[i].esp_len - icv,
                icv};
            p[i].job = batch_.add(sa.alg, hmac, p[i].esp, p[i].esp_len - icv, tag[i], cbc);
            continue;
        }
        // GCM: the ciphertext after the IV; GMAC: everything before the ICV (RFC 4543 3.3).
        const uint32_t len = xf == Transform::gcm ? body - iv : p[i].esp_len - icv;
        p[i].job = batch_.add(AeadPart{xf, true, &keys.gcm, nonce[i], p[i].esp, p[i].hdr, len, tag[i]});
        aead_keys[n_aead] = &keys;
        aead_of[n_aead++] = i;
    }
    // The nonces once the key blocks (and their salts) have had the pass to arrive.
    for (uint32_t k = 0; k < n_aead; ++k) {
        std::memcpy(nonce[aead_of[k]], aead_keys[k]->salt, 4);
        std::memcpy(nonce[aead_of[k]] + 4, p[aead_of[k]].esp + kEspHeaderLen, kAeadIvLen);
    }
    prefetch_inbound_sas(next, l2_len);  // during the crypto
    if (batch_.size() > 0) batch_.run();

    // Pass 3: verify, slide the window, check the trailer and selectors, strip ESP. The
    // worker's totals stay in registers for the chunk (see outbound_chunk).
    uint64_t packets = 0, bytes = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (why[i] != net::kPass) continue;
        InboundPacket& pk = p[i];
        InboundSa& sa = in_.at(pk.slot);
        const uint8_t* icv = pk.esp + pk.esp_len - pk.icv_len;
        const uint32_t before = sa.replay_last;
        net::DropReason bad = net::kPass;
        if (unlikely(!batch_.ok(pk.job))) bad = net::DropReason::crypto_error;
        else if (unlikely(!icv_equal(tag[i], icv, pk.icv_len))) bad = net::DropReason::bad_icv;
        else if (unlikely(!replay.update(sa.replay_last, in_.window(sa), pk.seq)))
            bad = net::DropReason::replay;  // a duplicate earlier in this burst
        else if (unlikely(crossed_checkpoint(before, sa.replay_last)))
            raise(EventKind::seq_checkpoint, Direction::inbound, sa.spi, in_.cookie(pk.slot),
                  sa.replay_last & ~checkpoint_mask_);
        if (bad != net::kPass) {
            why[i] = bad;
            bump(in_.drops(pk.slot));
            continue;
        }
        // Authentic (and, for a ciphered SA, decrypted) from here on: failures below are
        // the sender's policy errors.
        const uint32_t hdr = pk.hdr;
        const uint32_t pad_len = icv[-2];
        const uint8_t next = icv[-1];
        const uint32_t overhead = hdr + kEspTrailerLen + pk.icv_len + pad_len;  // all but the payload
        net::IpInfo tunneled;                                                   // pk.udp: the inner IPv4 header
        if (unlikely(overhead > pk.esp_len)) {
            bad = net::DropReason::bad_trailer;
        } else {
            const uint32_t payload_len = pk.esp_len - overhead;
            const uint8_t* l4 = pk.esp + hdr;
            if (unlikely(!padding_ok(l4 + payload_len, pad_len))) bad = net::DropReason::bad_trailer;
            else if (unlikely(next == net::kNoNextHeader)) bad = net::DropReason::dummy_packet;
            else if (unlikely(pk.udp)) bad = check_tunnel(sa, in_.nat(pk.slot), pk, l4, payload_len, next, tunneled);
            else if (unlikely(next != net::kProtoUdp && next != net::kProtoTcp))
                bad = net::DropReason::bad_inner_protocol;
            else if (unlikely(payload_len < (next == net::kProtoUdp ? 8u : 20u))) bad = net::DropReason::too_short;
            else if (unlikely(!selectors_match(sa, pk, l4))) bad = net::DropReason::selector_mismatch;
        }
        if (bad != net::kPass) {
            why[i] = bad;
            if (bad != net::DropReason::dummy_packet) bump(in_.drops(pk.slot));  // the sender's error
            continue;
        }
        rte_mbuf* m = pkts[i];
        const uint32_t esp_bytes = pk.info.total_len;
        if (unlikely(pk.udp)) {
            deliver_tunnel(m, pk.esp + hdr, tunneled, l2_len, sa.ue_addr);
            // The NAT's port, from the newest packet only: a late one from before a
            // rebinding must not take the SA back to the old port (RFC 3948 leaves
            // this to the implementation; RFC 7296 2.23 does the same for IKE).
            NatSide& nat = in_.nat(pk.slot);
            if (pk.sport != nat.encap_port && pk.seq == sa.replay_last) {
                nat.encap_port = pk.sport;
                raise(EventKind::encap_port, Direction::inbound, sa.spi, in_.cookie(pk.slot), pk.seq, pk.sport);
            }
        } else {
            // Headers moved first, then patched where they now are: the patch's narrow loads
            // are then forwarded from the wide stores of the move, not stalled by them.
            if (likely(hdr == kEspHeaderLen)) shift_forward_8(rte_pktmbuf_mtod(m, uint8_t*), l2_len + pk.info.l3_len);
            else shift_forward(rte_pktmbuf_mtod(m, uint8_t*), l2_len + pk.info.l3_len, hdr);
            rte_pktmbuf_adj(m, uint16_t(hdr));
            net::patch_ip(pk.ip + hdr, pk.info, next, -int32_t(overhead));
            m->data_len = uint16_t(l2_len + pk.info.total_len);  // drops trailer and L2 padding
            m->pkt_len = m->data_len;
        }
        bump(sa.packets);
        bump(sa.bytes, esp_bytes);
        ++packets;
        bytes += m->data_len;
        if (unlikely(!(sa.flags & InboundSa::kUsed))) {
            sa.flags |= InboundSa::kUsed;
            raise(EventKind::first_use, Direction::inbound, sa.spi, in_.cookie(pk.slot), pk.seq);
        }
    }

    stats_.in_packets += packets;
    stats_.in_bytes += bytes;
    for (uint32_t i = 0; i < n; ++i)
        if (why[i] != net::kPass) drops_.add(why[i]);
}

}  // namespace pcscf::esp
