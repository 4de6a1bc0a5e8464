#include "bench/ideal_esp.hpp"

#include <rte_lcore.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "bench/cbc_burst.hpp"
#include "bench/hmac_burst.hpp"
#include "dataplane/esp/header_shift.hpp"
#include "dataplane/esp/inbound_checks.hpp"
#include "net/byte_order.hpp"
#include "net/ip_header.hpp"
#include "sa_contract/sa_record.hpp"

namespace pcscf::bench {

using esp::kEspHeaderLen;
using esp::kEspTrailerLen;
using net::load_be16;
using net::load_be32;
using net::store_be32;

namespace {

constexpr uint32_t kIpLen = 20;                                  // IPv4 without options
constexpr uint32_t kCbcIvLen = esp::iv_len(esp::Ealg::aes_cbc);  // AES-CBC's IV and block

// The ESP header and, for the AEADs, their 8-byte IV (RFC 4106 3.1, RFC 4543 3.1), for
// AES-CBC its 16-byte one (RFC 3602 3).
uint32_t hdr_len(const IdealSa& sa) noexcept {
    return kEspHeaderLen + (esp::is_aead(sa.xf) ? esp::kAeadIvLen : sa.cbc != nullptr ? kCbcIvLen : 0);
}

uint32_t load32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// RFC 4303 3.4.3: before the ICV, refuse what the window already saw or left behind
// (0 is never sent); after it, accept and slide.
bool replay_check(const IdealInboundSa& sa, uint32_t seq) noexcept {
    if (seq > sa.last) return true;
    const uint32_t behind = sa.last - seq;
    return seq != 0 && behind < 64 && ((sa.map >> behind) & 1) == 0;
}
bool replay_update(IdealInboundSa& sa, uint32_t seq) noexcept {
    if (!replay_check(sa, seq)) return false;  // a duplicate earlier in the burst
    if (seq > sa.last) {
        const uint32_t ahead = seq - sa.last;
        sa.map = ahead < 64 ? sa.map << ahead | 1 : 1;
        sa.last = seq;
    } else {
        sa.map |= uint64_t{1} << (sa.last - seq);
    }
    return true;
}

}  // namespace

IdealSa IdealSa::of(const esp::SaRecord& r, const AeadKey* aead, const esp::CipherKeys* cbc) {
    if ((r.sa.ealg == esp::Ealg::aes_cbc) != (cbc != nullptr) || r.sa.ealg == esp::Ealg::des_ede3_cbc)
        throw std::invalid_argument("the ideal loop takes AES-CBC SAs with their keys, no 3DES");
    IdealSa sa;
    sa.spi = r.sa.spi;
    sa.ue = load32(r.sa.ue_addr.v4_bytes());
    sa.alg = r.sa.alg;
    sa.xf = esp::transform(r.sa.alg, r.sa.ealg).value_or(esp::Transform::hmac);
    sa.key = r.key;
    sa.aead = aead;
    sa.cbc = cbc;
    return sa;
}

namespace {
esp::IvSource make_ivs(IMB_MGR* mgr) {
    auto ivs = esp::IvSource::create(mgr, 0, int(rte_socket_id()));
    if (!ivs) throw std::runtime_error(ivs.error());
    return std::move(*ivs);
}
}  // namespace

IdealEsp::IdealEsp(IMB_MGR* mgr) : mgr_(mgr), ivs_(make_ivs(mgr)) {
    std::memset(jobs_, 0, sizeof jobs_);
    std::memset(cbc_jobs_, 0, sizeof cbc_jobs_);
}

uint32_t IdealEsp::inbound(IdealInboundSa& sa, std::span<rte_mbuf* const> pkts, bool* ok, uint16_t l2_len) noexcept {
    HmacWork work[kMaxBurst];
    AeadPacket aead[kMaxBurst];
    CbcWork cbc[kMaxBurst];
    uint32_t n_work = 0;
    const bool is_aead = esp::is_aead(sa.xf), is_cbc = sa.cbc != nullptr;
    const uint32_t icv_bytes = esp::icv_len(sa.alg, sa.xf), hdr = hdr_len(sa);
    // Pass 1: is it ESP of this SA, and not a replay? Then its crypto is queued.
    for (size_t i = 0; i < pkts.size(); ++i) {
        rte_mbuf* m = pkts[i];
        const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
        const uint32_t total = load_be16(ip + 2);
        // The header's checksum as the NIC verified it (every NIC offloads it); IPv4
        // without options; ESP; a whole datagram (RFC 4303 3.4.1: fragments are
        // reassembled first, none is processed); the length within the frame and enough
        // for an ESP header, trailer and ICV.
        ok[i] = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD && ip[0] == 0x45 &&
                ip[9] == net::kProtoEsp && (load_be16(ip + 6) & 0x3fff) == 0 &&
                total >= kIpLen + hdr + kEspTrailerLen + icv_bytes && l2_len + total <= m->data_len;
        if (!ok[i]) continue;
        // RFC 4303 3.4.2: the SA by SPI (one here), then the replay pre-check before any
        // crypto is spent on the packet.
        const uint8_t* esp = ip + kIpLen;
        ok[i] = load_be32(esp) == sa.spi && replay_check(sa, load_be32(esp + 4));
        if (!ok[i]) continue;
        const uint32_t len = total - kIpLen - icv_bytes;
        // AES-CBC: what follows the IV is whole blocks (RFC 3602 3, RFC 4303 3.4.2).
        ok[i] = !is_cbc || (len > hdr && (len - hdr) % kCbcIvLen == 0);
        if (!ok[i]) continue;
        if (is_aead) {
            aead[n_work++] = {const_cast<uint8_t*>(esp), len, tags_[i], sa.aead};
            continue;
        }
        if (is_cbc) cbc[n_work] = {const_cast<uint8_t*>(esp), hdr, len - hdr, sa.cbc};
        work[n_work++] = {esp, len, tags_[i], &sa.key};
    }
    // GCM decrypts in place, the tag over the ciphertext (RFC 4106); a job that failed
    // leaves no tag to trust: the burst is refused. AES-CBC decrypts after the HMACs,
    // which cover the ciphertext (RFC 4303 3.4.4), all of the burst: pass 2 refuses a
    // forged packet on its ICV before its plaintext is read. With every packet good, as
    // in the benchmark, that is the engine's work less its compare before decrypting.
    if (is_aead) {
        if (aead_calls(mgr_, sa.xf, false, {aead, n_work}) != 0) std::fill(ok, ok + pkts.size(), false);
    } else {
        hmac_burst(mgr_, sa.alg, n_work, jobs_, [&](size_t k) { return work[k]; });
        if (is_cbc && !aes_cbc_burst(mgr_, false, n_work, cbc_jobs_, [&](size_t k) { return cbc[k]; }))
            std::fill(ok, ok + pkts.size(), false);
    }

    // Pass 2: ICV (RFC 4303 3.4.4), window update (3.4.3), trailer (2.4-2.6), the
    // selector the SA binds (RFC 4301 5.2: its source address), then the ESP header,
    // trailer and ICV removed in place: headers moved up, length, protocol and checksum
    // patched (RFC 1624).
    uint32_t good = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        if (!ok[i]) continue;
        rte_mbuf* m = pkts[i];
        uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
        uint8_t* ip = frame + l2_len;
        const uint8_t* esp = ip + kIpLen;
        const uint32_t total = load_be16(ip + 2);
        const uint8_t* icv = ip + total - icv_bytes;
        ok[i] = esp::icv_equal(tags_[i], icv, icv_bytes) && replay_update(sa, load_be32(esp + 4));
        if (!ok[i]) continue;
        const uint32_t pad_len = icv[-2];
        const uint8_t next = icv[-1];
        const uint32_t overhead = hdr + kEspTrailerLen + icv_bytes + pad_len;
        ok[i] = overhead <= total - kIpLen && esp::padding_ok(icv - kEspTrailerLen - pad_len, pad_len) &&
                next != net::kNoNextHeader && load32(ip + 12) == sa.ue;
        if (!ok[i]) continue;
        if (hdr == kEspHeaderLen) esp::shift_forward_8(frame, l2_len + kIpLen);
        else esp::shift_forward(frame, l2_len + kIpLen, hdr);
        rte_pktmbuf_adj(m, uint16_t(hdr));
        net::IpInfo info{4, net::kProtoEsp, kIpLen, 9, total};
        net::patch_ip(ip + hdr, info, next, -int32_t(overhead));
        m->data_len = uint16_t(l2_len + info.total_len);
        m->pkt_len = m->data_len;
        ++good;
    }
    return good;
}

uint32_t IdealEsp::outbound(IdealOutboundSa& sa, std::span<rte_mbuf* const> pkts, bool* ok, uint16_t l2_len) noexcept {
    HmacWork work[kMaxBurst];
    AeadPacket aead[kMaxBurst];
    CbcWork cbc[kMaxBurst];
    uint32_t n_work = 0;
    const bool is_aead = esp::is_aead(sa.xf), is_cbc = sa.cbc != nullptr;
    const uint32_t icv_bytes = esp::icv_len(sa.alg, sa.xf), hdr = hdr_len(sa);
    const uint32_t block_mask = is_cbc ? kCbcIvLen - 1 : 3;  // padding to the block, or to 4 bytes (RFC 4303 2.4)
    // Per packet: the ESP header (and IV) in front of the payload, the trailer after it, the ICV's
    // room reserved (RFC 4303 3.3); the IVs, ciphers and HMACs of the burst after.
    for (size_t i = 0; i < pkts.size(); ++i) {
        rte_mbuf* m = pkts[i];
        uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
        const uint32_t total = load_be16(ip + 2);
        const uint8_t proto = ip[9];
        const uint32_t payload = total - kIpLen;
        const uint32_t pad_len = (block_mask + 1 - ((payload + kEspTrailerLen) & block_mask)) & block_mask;
        const uint32_t tail_len = pad_len + kEspTrailerLen + icv_bytes;
        // IPv4 without options (the move below takes 20 bytes), its length within the
        // frame, to the SA's UE (the one SA's selector); the sequence number must not
        // cycle (RFC 4303 3.3.3, no ESN); then room in the buffer once whatever follows
        // the datagram (L2 padding) is dropped.
        ok[i] = ip[0] == 0x45 && total >= kIpLen && l2_len + total <= m->data_len && load32(ip + 16) == sa.ue &&
                sa.seq != UINT32_MAX;
        if (!ok[i]) continue;
        m->data_len = uint16_t(l2_len + total);
        m->pkt_len = m->data_len;
        ok[i] = rte_pktmbuf_headroom(m) >= hdr && rte_pktmbuf_tailroom(m) >= tail_len;
        if (!ok[i]) continue;
        uint8_t* start = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(hdr)));
        if (hdr == kEspHeaderLen) esp::shift_back_8(start, l2_len + kIpLen);
        else esp::shift_back(start, l2_len + kIpLen, hdr);
        ip = start + l2_len;
        uint8_t* esp = ip + kIpLen;
        store_be32(esp, sa.spi);
        store_be32(esp + 4, ++sa.seq);
        if (is_aead) {  // IV = SPI || sequence number: unique under the key (RFC 4106 3.1)
            store_be32(esp + kEspHeaderLen, sa.spi);
            store_be32(esp + kEspHeaderLen + 4, sa.seq);
        }
        // One segment: rte_pktmbuf_append() would walk m->next, on a line of the mbuf
        // nothing else here reads, to find the same place.
        uint8_t* tail = rte_pktmbuf_mtod_offset(m, uint8_t*, m->data_len);
        m->data_len = uint16_t(m->data_len + tail_len);
        m->pkt_len = m->data_len;
        for (uint32_t k = 0; k < pad_len; ++k) tail[k] = uint8_t(k + 1);
        tail[pad_len] = uint8_t(pad_len);
        tail[pad_len + 1] = proto;
        net::IpInfo info{4, proto, kIpLen, 9, total};
        net::patch_ip(ip, info, net::kProtoEsp, int32_t(hdr + tail_len));
        const uint32_t body = payload + pad_len + kEspTrailerLen;
        uint8_t* icv = tail + pad_len + kEspTrailerLen;
        if (is_aead) {
            aead[n_work++] = {esp, hdr + body, icv, sa.aead};
            continue;
        }
        if (is_cbc) cbc[n_work] = {esp, hdr, body, sa.cbc};
        work[n_work++] = {esp, hdr + body, icv, &sa.key};
    }
    if (is_aead) {
        if (aead_calls(mgr_, sa.xf, true, {aead, n_work}) != 0) std::fill(ok, ok + pkts.size(), false);
    } else {
        // AES-CBC: an unpredictable IV each (RFC 3602 2.3), then encryption before the
        // HMACs, which cover the ciphertext (RFC 4303 3.3.2).
        if (is_cbc && !cbc_ivs_and_encrypt(sa.spi, cbc, n_work)) std::fill(ok, ok + pkts.size(), false);
        hmac_burst(mgr_, sa.alg, n_work, jobs_, [&](size_t k) { return work[k]; });
    }
    uint32_t good = 0;
    for (size_t i = 0; i < pkts.size(); ++i) good += ok[i];
    return good;
}

bool IdealEsp::cbc_ivs_and_encrypt(uint32_t spi, CbcWork* cbc, uint32_t n) noexcept {
    if (n == 0) return true;
    alignas(16) uint8_t ivs[kMaxBurst][16];
    uint32_t spis[kMaxBurst];
    std::fill(spis, spis + n, spi);
    if (!ivs_.fill(mgr_, ivs, spis, n)) return false;
    for (uint32_t k = 0; k < n; ++k) std::memcpy(cbc[k].esp + kEspHeaderLen, ivs[k], kCbcIvLen);
    return aes_cbc_burst(mgr_, true, n, cbc_jobs_, [&](size_t k) { return cbc[k]; });
}

}  // namespace pcscf::bench
