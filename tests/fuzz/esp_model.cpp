#include "tests/fuzz/esp_model.hpp"

#include <rte_mbuf_core.h>

#include <algorithm>
#include <utility>

#include "tests/esp/aead_reference.hpp"
#include "tests/esp/cbc_reference.hpp"
#include "tests/fuzz/wire.hpp"

namespace pcscf::fuzz {

using net::DropReason;
using net::IpAddr;
using net::kPass;

namespace {

constexpr uint32_t kMinEspLen = esp::kEspHeaderLen + esp::kEspTrailerLen + esp::kIcvLen;
constexpr uint8_t kTcp = 6, kUdp = 17, kEsp = 50;
constexpr uint8_t kNoNextHeader = 59;  // RFC 4303 2.6: a dummy packet

struct IpView {
    int version;
    uint8_t proto;
    uint32_t l3_len, proto_offset, total_len;
};

// RFC 8200 extension headers with the (next header, length in 8-octet units) layout.
bool is_extension(uint8_t nh) {
    constexpr uint8_t kExt[] = {0, 43, 60, 135, 139, 140, 253, 254};
    return std::find(std::begin(kExt), std::end(kExt), nh) != std::end(kExt);
}

DropReason parse_ipv4(const uint8_t* ip, uint32_t avail, bool trust_checksum, IpView& v) {
    if (avail < 20) return DropReason::too_short;
    v.l3_len = (ip[0] & 15u) * 4;
    v.total_len = be16(ip + 2);
    if (v.l3_len < 20 || v.l3_len > avail || v.total_len < v.l3_len || v.total_len > avail)
        return DropReason::bad_ip_header;
    if (!trust_checksum && ones_sum(ip, v.l3_len) != 0xffff) return DropReason::bad_ip_header;
    if ((be16(ip + 6) & 0x3fff) != 0) return DropReason::ip_fragment;  // MF or an offset
    v.version = 4;
    v.proto = ip[9];
    v.proto_offset = 9;
    return kPass;
}

DropReason parse_ipv6(const uint8_t* ip, uint32_t avail, IpView& v) {
    if (avail < 40) return DropReason::too_short;
    v.total_len = 40 + be16(ip + 4);
    if (v.total_len > avail) return DropReason::bad_ip_header;
    v.proto = ip[6];
    v.proto_offset = 6;
    v.l3_len = 40;
    for (int headers = 0; is_extension(v.proto); ++headers) {
        if (headers == 16) return DropReason::bad_ip_header;  // a hostile chain
        if (v.l3_len + 8 > v.total_len) return DropReason::too_short;
        v.proto_offset = v.l3_len;
        v.proto = ip[v.l3_len];
        v.l3_len += (ip[v.l3_len + 1] + 1u) * 8;
        if (v.l3_len > v.total_len) return DropReason::too_short;
    }
    if (v.proto == 44) return DropReason::ip_fragment;
    v.version = 6;
    return kPass;
}

}  // namespace

bool ReplayModel::fresh(uint32_t seq) const {
    if (seq == 0) return false;
    if (seq > top_) return true;
    return top_ - seq < window_ && !seen_.contains(seq);
}

bool ReplayModel::accept(uint32_t seq) {
    if (!fresh(seq)) return false;
    top_ = std::max(top_, seq);
    seen_.insert(seq);
    if (top_ >= window_) seen_.erase(seen_.begin(), seen_.lower_bound(top_ - window_ + 1));
    return true;
}

EspModel::EspModel(uint32_t window, std::vector<ModelSa> sas) : sas_(std::move(sas)) {
    for (size_t i = 0; i < sas_.size(); ++i) state_.push_back({ReplayModel(window), ReplayModel(window)});
}

void EspModel::start_chunk() {
    for (auto& s : state_) s.at_chunk_start = s.replay;
}

Verdict EspModel::judge(const ModelPacket& p) {
    Verdict v;
    auto drop = [&](DropReason r) {
        v.reason = r;
        return v;
    };
    if (p.chained) return drop(DropReason::multi_segment);
    if (p.l2_len >= p.frame.size()) return drop(DropReason::too_short);
    if (p.rx_cksum == RTE_MBUF_F_RX_IP_CKSUM_BAD) return drop(DropReason::bad_ip_header);
    const uint8_t* ip = p.frame.data() + p.l2_len;
    const auto avail = uint32_t(p.frame.size() - p.l2_len);
    const bool trusted = p.rx_cksum == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    IpView h{};
    DropReason why = ip[0] >> 4 == 4   ? parse_ipv4(ip, avail, trusted, h)
                     : ip[0] >> 4 == 6 ? parse_ipv6(ip, avail, h)
                                       : DropReason::bad_ip_header;
    if (why != kPass) return drop(why);
    const uint8_t* esp = ip + h.l3_len;
    uint32_t esp_len = h.total_len - h.l3_len;
    if (h.proto != kEsp) {
        // RFC 3948 2.1-2.3: UDP to port 4500 over IPv4 holds a keep-alive, the non-ESP
        // marker or ESP; the model's SAs are all transport mode, which that ESP must not reach.
        if (h.proto != kUdp || h.version != 4) return drop(DropReason::not_esp);
        if (esp_len < 8) return drop(DropReason::too_short);
        if (be16(esp + 2) != esp::kNatTPort) return drop(DropReason::not_esp);
        if (be16(esp + 4) != esp_len) return drop(DropReason::bad_ip_header);
        esp += 8;
        esp_len -= 8;
        if (esp_len == 1 && esp[0] == 0xff) return drop(DropReason::natt_keepalive);
        if (esp_len >= 4 && be32(esp) == 0) return drop(DropReason::natt_non_esp);
    }
    if (esp_len < kMinEspLen) return drop(DropReason::too_short);

    const uint32_t spi = be32(esp);
    const auto sa_it = std::find_if(sas_.begin(), sas_.end(), [&](const ModelSa& s) { return s.spi == spi; });
    if (sa_it == sas_.end()) return drop(DropReason::unknown_spi);
    const ModelSa& sa = *sa_it;
    ModelSaState& st = state_[size_t(sa_it - sas_.begin())];
    v.sa = int(sa_it - sas_.begin());
    v.seq = be32(esp + 4);
    v.esp_bytes = h.total_len;
    if (h.proto != kEsp) return drop(DropReason::selector_mismatch);  // in UDP, to a transport SA
    const esp::Transform xf = *esp::transform(sa.alg, sa.ealg);
    const uint32_t icv_len = esp::icv_len(sa.alg, xf);
    const uint32_t iv_len = esp::iv_len(sa.alg, sa.ealg);
    const uint32_t fixed = esp::kEspHeaderLen + iv_len + esp::kEspTrailerLen + icv_len;  // all but payload, padding
    // Room for the trailer and a 16-byte ICV (RFC 4868), and AES-GCM/GMAC's IV (RFC 4106,
    // RFC 4543); a CBC packet's IV is the block rule's.
    if (esp_len < fixed - (esp::is_cbc(sa.ealg) ? iv_len : 0)) return drop(DropReason::too_short);
    // With a CBC cipher, whole blocks after the IV (RFC 4303 2.4, RFC 3602, RFC 2451).
    const uint32_t body = esp_len - esp::kEspHeaderLen - icv_len;
    if (xf == esp::Transform::cbc_hmac && (body <= iv_len || (body - iv_len) % esp::pad_block(sa.ealg) != 0))
        return drop(DropReason::bad_cipher_length);
    if (!st.at_chunk_start.fresh(v.seq)) return drop(DropReason::replay);

    // Verified (and decrypted), the ESP part reads as with NULL encryption plus the IV.
    std::vector<uint8_t> clear(esp, esp + esp_len);
    const uint8_t* tag = esp + esp_len - icv_len;
    if (xf == esp::Transform::gcm) {
        const auto pt = test::openssl_gcm(false, sa.ckey, esp + 8, {esp, esp + 8}, {esp + 16, esp + esp_len});
        if (!pt) return drop(DropReason::bad_icv);
        std::copy(pt->begin(), pt->end(), clear.begin() + 16);
    } else if (xf == esp::Transform::gmac) {
        const auto want = *test::openssl_gcm(true, sa.ckey, esp + 8, {esp, tag}, {});
        if (!std::equal(want.begin(), want.end(), tag)) return drop(DropReason::bad_icv);
    } else {
        const auto icv = test::openssl_icv(sa.alg, sa.key, esp, esp_len - icv_len);
        if (!std::equal(icv.begin(), icv.end(), tag)) return drop(DropReason::bad_icv);
    }
    if (!st.replay.accept(v.seq)) return drop(DropReason::replay);
    if (xf == esp::Transform::cbc_hmac) {
        const auto pt = test::openssl_cbc(false, sa.ealg, sa.ckey, esp + 8, esp + 8 + iv_len, body - iv_len);
        std::copy(pt.begin(), pt.end(), clear.begin() + 8 + iv_len);
    }
    const uint32_t hdr = esp::kEspHeaderLen + iv_len;
    const uint32_t pad_len = clear[esp_len - icv_len - 2];
    const uint8_t next = clear[esp_len - icv_len - 1];
    if (fixed + pad_len > esp_len) return drop(DropReason::bad_trailer);
    const uint32_t payload_len = esp_len - fixed - pad_len;
    const uint8_t* l4 = clear.data() + hdr;
    for (uint32_t k = 0; k < pad_len; ++k)
        if (l4[payload_len + k] != k + 1) return drop(DropReason::bad_trailer);
    if (next == kNoNextHeader) return drop(DropReason::dummy_packet);
    if (next != kUdp && next != kTcp) return drop(DropReason::bad_inner_protocol);
    if (payload_len < (next == kUdp ? 8u : 20u)) return drop(DropReason::too_short);

    // What the engine must make of it if the selectors match: the ESP header and trailer
    // gone, the IP header's protocol and length fixed (the IPv4 checksum computed whole).
    const uint32_t new_total = h.total_len - fixed - pad_len;
    v.output.assign(p.frame.begin(), p.frame.begin() + p.l2_len + h.l3_len);
    v.output.insert(v.output.end(), l4, l4 + payload_len);
    uint8_t* out_ip = v.output.data() + p.l2_len;
    out_ip[h.proto_offset] = next;
    if (h.version == 4) {
        v.checksum_known = ones_sum(ip, h.l3_len) == 0xffff;
        put16(out_ip + 2, new_total);
        set_ipv4_checksum(out_ip, h.l3_len);
    } else {
        put16(out_ip + 4, new_total - 40);
    }

    const IpAddr src = h.version == 4 ? IpAddr::v4(ip + 12) : IpAddr::v6(ip + 8);
    const IpAddr dst = h.version == 4 ? IpAddr::v4(ip + 16) : IpAddr::v6(ip + 24);
    // The address family too: an IPv6 packet from a v4-mapped address is no IPv4 SA's.
    if ((h.version == 4) != sa.ue.is_v4() || src != sa.ue || (!sa.pcscf.is_unspecified() && dst != sa.pcscf) ||
        (sa.ue_port != 0 && be16(l4) != sa.ue_port) || (sa.pcscf_port != 0 && be16(l4 + 2) != sa.pcscf_port))
        return drop(DropReason::selector_mismatch);
    return v;
}

bool EspModel::count(const Verdict& v) {
    if (v.sa < 0) return false;
    ModelSaState& st = state_[size_t(v.sa)];
    if (v.reason != kPass) {
        if (v.reason != DropReason::dummy_packet) ++st.drops;
        return false;
    }
    ++st.packets;
    st.bytes += v.esp_bytes;
    return !std::exchange(st.used, true);
}

}  // namespace pcscf::fuzz
