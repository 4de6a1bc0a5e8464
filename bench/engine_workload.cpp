#include "bench/engine_workload.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

#include <rte_ip.h>
#include <rte_udp.h>

#include "bench/cbc_burst.hpp"
#include "bench/hmac_burst.hpp"
#include "net/ip_header.hpp"
#include "net/mbuf_ip.hpp"
#include "sa_contract/hmac_key.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/common/packet_builder.hpp"

namespace pcscf::bench {

using namespace pcscf::esp;
using namespace pcscf::net;

namespace {

constexpr uint32_t kSpiBase = 0x1000;
constexpr uint16_t kUePort = 5062, kPcscfPort = 5064;
// UDP-enc-tun: the NAT's public port for every UE's port 4500, and what the UDP header
// and the inner IPv4 header add to a packet over transport mode (the outer IPv4 header
// stands where the transport packet's own stands).
constexpr uint16_t kNatPort = 40000;
constexpr uint32_t kNattExtra = 20 + 8;
const net::IpAddr kPcscf4 = *net::IpAddr::parse("198.51.100.1");
const net::IpAddr kPcscf6 = *net::IpAddr::parse("2001:db8:1::1");

net::IpAddr pcscf_addr(bool v6) { return v6 ? kPcscf6 : kPcscf4; }

// UE i: 10.x.y.z, or 2001:db8:2::<i> (IPv6).
net::IpAddr ue_addr(uint32_t i, bool v6) {
    if (!v6) {
        const uint8_t b[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
        return net::IpAddr::v4(b);
    }
    net::IpAddr a = kPcscf6;
    a.bytes[5] = 2;
    for (int k = 0; k < 4; ++k) a.bytes[12 + k] = uint8_t(i >> (24 - 8 * k));
    return a;
}

// UE i's own address behind its NAT (UDP-enc-tun): 100.64.0.0/10 + i.
net::IpAddr ue_inner_addr(uint32_t i) {
    const uint8_t b[4] = {100, uint8_t(64 | ((i >> 16) & 63)), uint8_t(i >> 8), uint8_t(i)};
    return net::IpAddr::v4(b);
}

Transform transform_of(Alg alg, Ealg ealg) {
    const auto tf = transform(alg, ealg);
    if (!tf)
        throw std::runtime_error("no ESP transform pairs alg=" + std::string(name(alg)) +
                                 " with ealg=" + std::string(name(ealg)));
    return *tf;
}

uint32_t round_up_pow2(uint32_t v) {
    uint32_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

}  // namespace

EngineWorkload::EngineWorkload(Alg alg, uint32_t ip_size, uint32_t n_sas, uint32_t n_packets, bool ipv6, Ealg ealg,
                               Mode mode)
    : alg_(alg), ealg_(ealg), mode_(mode), tf_(transform_of(alg, ealg)), n_sas_(n_sas), ipv6_(ipv6) {
    if (mode_ == Mode::udp_enc_tun && (ipv6 || is_aead(tf_)))
        throw std::runtime_error("UDP-enc-tun workloads are IPv4 and not AES-GCM / AES-GMAC");
    auto e = Engine::create(engine_config(n_sas, tf_));
    if (!e) throw std::runtime_error(e.error());
    engine_ = std::move(*e);
    // A few thousand distinct keys are enough to defeat any caching of key state.
    for (uint32_t k = 0; k < std::min<uint32_t>(n_sas, 4096); ++k) {
        auto& raw = raw_keys_.emplace_back();
        for (size_t b = 0; b < raw.size(); ++b) raw[b] = uint8_t(k * 31 + b);
        keys_.push_back(is_hmac(alg) ? *expand_key(engine_->imb(), alg, {raw.data(), key_len(alg)}) : HmacKey{});
        auto& ck = raw_cipher_keys_.emplace_back();
        for (size_t b = 0; b < ck.size(); ++b) ck[b] = uint8_t(k * 17 + b * 3 + 1);
    }
    if (is_aead(tf_)) {
        aead_keys_.resize(raw_cipher_keys_.size());
        for (size_t k = 0; k < aead_keys_.size(); ++k)
            expand_aead_key(engine_->imb(), {raw_cipher_keys_[k].data(), kAeadKeyLen}, aead_keys_[k]);
    }
    if (tf_ == Transform::cbc_hmac) {
        auto pool = CipherKeyPool::create(uint32_t(raw_cipher_keys_.size()), SOCKET_ID_ANY);
        if (!pool) throw std::runtime_error(pool.error());
        cipher_keys_ = std::make_unique<CipherKeyPool>(std::move(*pool));
        for (const auto& ck : raw_cipher_keys_)
            if (cipher_keys_->add(engine_->imb(), Transform::cbc_hmac, ealg, {ck.data(), cipher_key_len(ealg)},
                                  HmacKey{}) < 0)
                throw std::runtime_error("cipher key pool");
    }
    for (uint32_t i = 0; i < n_sas; ++i)
        for (const SaRecord& r : {inbound_record(i), outbound_record(i)})
            if (const int rc = engine_->apply(r); rc != 0)
                throw std::runtime_error(std::string("the engine refused an ") +
                                         (r.sa.dir == Direction::inbound ? "inbound" : "outbound") +
                                         " SA add (alg=" + std::string(name(alg)) +
                                         ", ealg=" + std::string(name(ealg)) + "): " + std::to_string(rc));
    static uint32_t serial = 0;
    const std::string name = "bench_pool_" + std::to_string(serial++);
    pool_ =
        rte_pktmbuf_pool_create(name.c_str(), 2 * n_packets + 1024, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool_ == nullptr) throw std::runtime_error("cannot create the packet pool");
    try {
        build_packets(ip_size, n_packets);
        first_inbound_pass();
    } catch (...) {  // the destructor does not run for a constructor that throws
        release();
        throw;
    }
}

EngineConfig EngineWorkload::engine_config(uint32_t n_sas, Transform tf) {
    EngineConfig cfg;
    cfg.spi = SpiLayout{kSpiBase, 1, std::max<uint32_t>(n_sas, 1024)};
    cfg.outbound_capacity = round_up_pow2(std::max<uint32_t>(n_sas, 1024));
    cfg.look_ahead_from = look_ahead_from;
    cfg.early_keys_from = early_keys_from;
    // Key blocks (1,088 B each) for both directions' SAs if they need one, none otherwise:
    // as an operator sizes --cipher-sas for the SAs its policy lets have a cipher.
    cfg.cipher_capacity = tf == Transform::hmac ? 0 : 2 * std::max<uint32_t>(n_sas, 1024);
    return cfg;
}

EngineWorkload::~EngineWorkload() { release(); }

void EngineWorkload::release() noexcept {
    for (auto* v : {&in_, &out_})
        for (auto& t : *v) rte_pktmbuf_free(t.m);
    in_.clear();
    out_.clear();
    rte_mempool_free(pool_);
    pool_ = nullptr;
}

// Both directions share the selectors; SPIs differ (the P-CSCF's for inbound, the UE's
// for outbound).
SaRecord EngineWorkload::inbound_record(uint32_t i) const {
    SaRecord r;
    r.sa.dir = Direction::inbound;
    r.sa.alg = alg_;
    r.sa.spi = kSpiBase + i;
    r.sa.ue_addr = ue_addr(i, ipv6_);
    r.sa.pcscf_addr = pcscf_addr(ipv6_);
    r.sa.ue_port = kUePort;
    r.sa.pcscf_port = kPcscfPort;
    r.key = key(i);
    r.sa.ealg = ealg_;
    const auto& ck = raw_cipher_keys_[i % raw_cipher_keys_.size()];
    r.cipher.len = uint8_t(cipher_key_len(alg_, ealg_));
    std::copy_n(ck.begin(), r.cipher.len, r.cipher.bytes.begin());
    if (mode_ == Mode::udp_enc_tun) {
        r.sa.mode = Mode::udp_enc_tun;
        r.sa.ue_inner = ue_inner_addr(i);
        r.sa.encap_port = kNatPort;
    }
    return r;
}

SaRecord EngineWorkload::outbound_record(uint32_t i) const {
    SaRecord r = inbound_record(i);
    r.sa.dir = Direction::outbound;
    r.sa.spi = 0x10000000 + i;
    return r;
}

SaRecord EngineWorkload::ue_view(SaRecord r) {
    r.sa.dir = r.sa.dir == Direction::inbound ? Direction::outbound : Direction::inbound;
    std::swap(r.sa.ue_addr, r.sa.pcscf_addr);
    std::swap(r.sa.ue_port, r.sa.pcscf_port);
    return r;
}

void EngineWorkload::build_packets(uint32_t ip_size, uint32_t n_packets) {
    // UDP inside ESP: ip_size = 20 or 40 (IP) + 8 (ESP) + 8 (UDP) + payload + pad + 2 + ICV
    // (12 bytes, 16 for SHA-256); a multiple of 4 needs no padding.
    const uint32_t overhead = (ipv6_ ? 40 : 20) + 18 + icv_len(alg_, tf_);
    if (ip_size < overhead + 2 || ip_size % 4 != 0 || ip_size > 1500)
        throw std::runtime_error("packet size must be a multiple of 4 from " + std::to_string(overhead + 2) +
                                 " (this IP version and ICV) to 1500, not " + std::to_string(ip_size));
    uint32_t payload = ip_size - overhead;
    if (is_aead(tf_)) {
        // The IV and the 16-byte ICV too; UDP, payload and trailer in 4-byte steps (no
        // padding), at least one step beyond UDP and trailer.
        const uint32_t fixed = (ipv6_ ? 40 : 20) + kEspHeaderLen + kAeadIvLen + kAeadIcvLen;
        const uint32_t room = ip_size > fixed ? (ip_size - fixed) / 4 * 4 : 0;
        const uint32_t body = std::max<uint32_t>(12, room);
        payload = body - 8 - 2;
        ip_size = fixed + body;
    } else if (ealg_ != Ealg::null) {
        // The IV too, and what it encrypts (UDP, payload, trailer) in whole blocks: the
        // most that fits in ip_size, but at least one block.
        const uint32_t block = pad_block(ealg_), fixed = (ipv6_ ? 40 : 20) + 8 + iv_len(ealg_) + icv_len(alg_, tf_);
        const uint32_t room = ip_size > fixed ? (ip_size - fixed) / block * block : 0;
        const uint32_t body = std::max((8 + 2 + block - 1) / block * block, room);
        payload = body - 8 - 2;
        ip_size = fixed + body;
    }
    const bool natt = mode_ == Mode::udp_enc_tun;
    ip_size_ = ip_size + (natt ? kNattExtra : 0);
    const net::IpAddr pcscf_ip = pcscf_addr(ipv6_);
    std::mt19937 rng(7);
    std::vector<uint32_t> sa_of(n_packets);
    for (auto& s : sa_of) s = n_sas_ == 1 ? 0 : uint32_t(rng() % n_sas_);
    used_sas_ = sa_of;
    std::sort(used_sas_.begin(), used_sas_.end());
    used_sas_.erase(std::unique(used_sas_.begin(), used_sas_.end()), used_sas_.end());

    auto alloc = [&](const std::vector<uint8_t>& bytes) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        if (m == nullptr) throw std::runtime_error("packet pool exhausted");
        std::memcpy(rte_pktmbuf_append(m, uint16_t(bytes.size())), bytes.data(), bytes.size());
        return m;
    };
    // The first 64 bytes cover every header the engine rewrites; a shorter packet copies
    // some of its (unused) tailroom along, which is harmless.
    auto remember = [](Template& t) {
        t.data_off = t.m->data_off;
        t.len = t.m->data_len;
        std::memcpy(t.hdr.data(), rte_pktmbuf_mtod(t.m, uint8_t*), t.hdr.size());
    };

    // Inbound packets are sealed by a second engine playing the UE, one SA at a time so
    // each SA's packets carry sequence numbers 1, 2, 3, ... in ring order. AES-GCM and
    // AES-GMAC: laid out here with those numbers, sealed below by IPsec-MB's own jobs.
    if (is_aead(tf_)) {
        in_.resize(n_packets);
        std::vector<uint32_t> next_seq(n_sas_, 1);
        for (uint32_t p = 0; p < n_packets; ++p) {
            const std::vector<uint8_t> plain =
                test::make_packet(test::Flow{ue_addr(sa_of[p], ipv6_), pcscf_ip, kUePort, kPcscfPort, 17}, payload);
            in_[p].sa = sa_of[p];
            in_[p].m = alloc(
                esp_transport(plain, inbound_record(sa_of[p]).sa.spi, next_seq[sa_of[p]]++, kAeadIvLen, kAeadIcvLen));
        }
    } else {
        EngineConfig ue_cfg;
        ue_cfg.spi = SpiLayout{kSpiBase, 1, 1024};
        ue_cfg.outbound_capacity = 1024;
        auto ue = Engine::create(ue_cfg);
        if (!ue) throw std::runtime_error(ue.error());
        in_.resize(n_packets);
        for (uint32_t p = 0; p < n_packets; ++p) {
            in_[p].sa = sa_of[p];
            // UDP-enc-tun: the UE sends from its own address, which the NAT hides.
            const net::IpAddr src = natt ? ue_inner_addr(sa_of[p]) : ue_addr(sa_of[p], ipv6_);
            in_[p].m = alloc(test::make_packet(test::Flow{src, pcscf_ip, kUePort, kPcscfPort, 17}, payload));
        }
        std::vector<uint32_t> by_sa(n_packets);  // packet indices grouped by SA, in ring order
        for (uint32_t p = 0; p < n_packets; ++p) by_sa[p] = p;
        std::stable_sort(by_sa.begin(), by_sa.end(), [&](uint32_t a, uint32_t b) { return sa_of[a] < sa_of[b]; });
        for (size_t g = 0; g < by_sa.size();) {
            const uint32_t sa = sa_of[by_sa[g]];
            std::vector<rte_mbuf*> burst;
            for (; g < by_sa.size() && sa_of[by_sa[g]] == sa; ++g) burst.push_back(in_[by_sa[g]].m);
            SaRecord r = ue_view(inbound_record(sa));  // the UE's outbound: to the P-CSCF's port
            if (natt) {
                // The UE's end: from its own address in UDP to the P-CSCF's port 4500 (no
                // NAT on the P-CSCF's side, so its inner address is its outer one).
                r.sa.pcscf_addr = ue_inner_addr(sa);
                r.sa.ue_inner = pcscf_ip;
                r.sa.encap_port = kNatTPort;
            }
            if ((*ue)->apply(r) != 0) throw std::runtime_error("UE-side SA add");
            std::vector<net::DropReason> why(burst.size());
            for (size_t at = 0; at < burst.size(); at += 4096) {  // a call takes < 65536 packets
                const size_t n = std::min<size_t>(4096, burst.size() - at);
                if (const uint16_t good = (*ue)->outbound({&burst[at], n}, why); good != n)
                    throw std::runtime_error("sealing failed: " + std::string(name(why[good])));
            }
            r.op = SaOp::remove;
            (*ue)->apply(r);
        }
        if (natt)
            for (Template& t : in_) {  // through the NAT: from the UE's public address and port
                auto* ip = rte_pktmbuf_mtod(t.m, rte_ipv4_hdr*);
                const auto pub = ue_addr(t.sa, false);
                std::memcpy(&ip->src_addr, pub.v4_bytes(), 4);
                ip->hdr_checksum = 0;
                ip->hdr_checksum = rte_ipv4_cksum(ip);
                auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
                udp->src_port = rte_cpu_to_be_16(kNatPort);
            }
    }
    for (auto& t : in_) {
        uint8_t* ip = rte_pktmbuf_mtod(t.m, uint8_t*);
        const auto info = *net::parse_ip(ip, t.m->data_len);
        if (info.total_len != ip_size_) throw std::runtime_error("size arithmetic is off");
        remember(t);
        const uint32_t udp = natt ? 8 : 0;  // the ESP follows the UDP header
        t.esp = ip + info.l3_len + udp;
        t.esp_len = info.total_len - info.l3_len - udp - icv_len(alg_, tf_);
        t.seq = rte_be_to_cpu_32(*reinterpret_cast<const rte_be32_t*>(t.esp + 4));
        const uint32_t ct = kEspHeaderLen + iv_len(alg_, ealg_);
        if (tf_ == Transform::cbc_hmac) t.ciphertext.assign(t.esp + ct, t.esp + t.esp_len);
        if (tf_ == Transform::gcm) t.plaintext.assign(t.esp + ct, t.esp + t.esp_len);
    }
    if (is_aead(tf_)) seal_inbound(0);
    // Outbound packets: the same flows, plain, from the P-CSCF to each UE.
    out_.resize(n_packets);
    for (uint32_t p = 0; p < n_packets; ++p) {
        out_[p].sa = sa_of[p];
        out_[p].m =
            alloc(test::make_packet(test::Flow{pcscf_ip, ue_addr(sa_of[p], ipv6_), kPcscfPort, kUePort, 17}, payload));
        remember(out_[p]);
    }
}

void EngineWorkload::hash_only(std::span<const Template> ts, IMB_JOB* jobs, uint8_t (*tags)[16]) const {
    hmac_burst(engine_->imb(), alg_, ts.size(), jobs, [&](size_t k) {
        return HmacWork{ts[k].esp, ts[k].esp_len, tags[k], &hmac_of(ts[k].sa)};
    });
}

void EngineWorkload::aead_only(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt, ImbApi api) const {
    constexpr size_t kChunk = 64;
    AeadPacket ps[kChunk];
    for (const Template& t : ts) net::prefetch_lines(t.esp, t.esp + t.esp_len);
    for (size_t at = 0; at < ts.size(); at += kChunk) {
        const size_t n = std::min(kChunk, ts.size() - at);
        for (size_t k = 0; k < n; ++k) {
            const Template& t = ts[at + k];
            ps[k] = {t.esp, t.esp_len, tags[at + k], &aead_of(t.sa)};
        }
        if (api == ImbApi::direct) aead_calls(engine_->imb(), tf_, encrypt, {ps, n});
        else aead_jobs(engine_->imb(), tf_, encrypt, {ps, n});
    }
}

void EngineWorkload::cipher_hash_only(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt,
                                      ImbApi api) const {
    if (is_aead(tf_)) return aead_only(ts, tags, encrypt, api);
    IMB_MGR* mgr = engine_->imb();
    const bool aes = ealg_ == Ealg::aes_cbc;
    if (aes && api == ImbApi::direct) return cbc_bursts(ts, tags, encrypt);
    const uint32_t ct = kEspHeaderLen + iv_len(ealg_);
    for (const Template& t : ts) net::prefetch_lines(t.esp, t.esp + t.esp_len);
    auto submit = [&](const Template& t, uint8_t* tag) {
        const CipherKeys& k = cbc_of(t.sa);
        IMB_JOB* j = IMB_GET_NEXT_JOB(mgr);
        j->cipher_mode = aes ? IMB_CIPHER_CBC : IMB_CIPHER_DES3;
        j->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
        j->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
        j->enc_keys = k.enc_keys(ealg_);
        j->dec_keys = k.dec_keys(ealg_);
        j->key_len_in_bytes = aes ? 16 : 24;
        j->iv = t.esp + kEspHeaderLen;
        j->iv_len_in_bytes = iv_len(ealg_);
        j->src = t.esp;
        j->dst = t.esp + ct;
        j->cipher_start_src_offset_in_bytes = ct;
        j->msg_len_to_cipher_in_bytes = t.esp_len - ct;
        j->hash_alg = imb_hash(alg_);
        j->hash_start_src_offset_in_bytes = 0;
        j->msg_len_to_hash_in_bytes = t.esp_len;
        j->auth_tag_output = tag;
        j->auth_tag_output_len_in_bytes = icv_len(alg_, tf_);
        j->u.HMAC._hashed_auth_key_xor_ipad = key(t.sa).ipad.data();
        j->u.HMAC._hashed_auth_key_xor_opad = key(t.sa).opad.data();
        for (IMB_JOB* d = IMB_SUBMIT_JOB(mgr); d != nullptr; d = IMB_GET_COMPLETED_JOB(mgr)) {
        }
    };
    for (size_t k = 0; k < ts.size(); ++k) submit(ts[k], tags[k]);
    while (IMB_FLUSH_JOB(mgr) != nullptr) {
    }
}

// AES-CBC as the engine computes it: the burst's ciphers in one synchronous cipher burst,
// its HMACs in one hash burst (MD5: jobs), encryption before them, decryption after.
void EngineWorkload::cbc_bursts(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt) const {
    constexpr size_t kMax = esp::CryptoBatch::kMax;
    constexpr uint32_t ct = kEspHeaderLen + 16;  // ESP header and IV
    IMB_MGR* mgr = engine_->imb();
    IMB_JOB* cipher = burst_jobs_.data();
    IMB_JOB* hash = cipher + kMax;
    for (size_t at = 0; at < ts.size(); at += kMax) {
        const size_t n = std::min(kMax, ts.size() - at);
        auto cbc = [&] {
            aes_cbc_burst(mgr, encrypt, n, cipher, [&](size_t k) {
                const Template& t = ts[at + k];
                return CbcWork{t.esp, ct, t.esp_len - ct, &cbc_of(t.sa)};
            });
        };
        if (encrypt) cbc();
        hmac_burst(mgr, alg_, n, hash, [&](size_t k) {
            const Template& t = ts[at + k];
            return HmacWork{t.esp, t.esp_len, tags[at + k], &hmac_of(t.sa)};
        });
        if (!encrypt) cbc();
    }
}

void EngineWorkload::receive(std::span<Template> ts, rte_mbuf** burst) {
    for (Template& t : ts) {
        *burst++ = t.m;
        t.m->data_off = t.data_off;
        t.m->data_len = t.len;
        t.m->pkt_len = t.len;
        t.m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;                     // a NIC's checksum offload, as every NIC has
        std::memcpy(rte_pktmbuf_mtod(t.m, uint8_t*), t.hdr.data(), 64);  // fixed size: inlined
    }
}

uint16_t EngineWorkload::process(Direction dir, std::span<Template> ts, rte_mbuf** burst, net::DropReason* why) {
    receive(ts, burst);
    const std::span<rte_mbuf*> b{burst, ts.size()};
    const std::span<net::DropReason> r{why, ts.size()};
    return dir == Direction::inbound ? engine_->inbound(b, r) : engine_->outbound(b, r);
}

void EngineWorkload::evict_caches() {
    static std::vector<uint64_t> junk(128u << 20 >> 3, 1);  // 128 MiB
    uint64_t sum = 0;
    for (size_t i = 0; i < junk.size(); i += 8) sum += junk[i]++;
    asm volatile("" ::"r"(sum));
}

// Every SA the packets use is used once, outside any timing, so that no measured pass
// is an SA's first (first use raises an event, once in an SA's life). It also proves
// the packets verify.
void EngineWorkload::first_inbound_pass() {
    rte_mbuf* burst[32];
    net::DropReason why[32];
    for (size_t pos = 0; pos < in_.size(); pos += 32) {
        const size_t n = std::min<size_t>(32, in_.size() - pos);
        const uint16_t good = process(Direction::inbound, {&in_[pos], n}, burst, why);
        if (good != n)
            throw std::runtime_error("the engine refused the workload's packets: " + std::string(name(why[good])));
    }
    engine_->clear_events();
    next_inbound_pass();
}

bool EngineWorkload::next_inbound_pass() {
    const uint64_t step = in_.size();
    const bool kept = seq_offset_ + 2 * step < (uint64_t{1} << 32);
    seq_offset_ = kept ? uint32_t(seq_offset_ + step) : 0;
    if (!kept) rewind_inbound();
    seal_inbound(seq_offset_);
    return kept;
}

void EngineWorkload::seal_inbound(uint32_t offset) {
    constexpr size_t kMax = 64;
    IMB_JOB jobs[kMax];
    std::memset(jobs, 0, sizeof jobs);
    alignas(16) uint8_t tags[kMax][16];
    rte_mbuf* burst[kMax];
    for (size_t pos = 0; pos < in_.size(); pos += kMax) {
        const std::span<Template> ts{&in_[pos], std::min(kMax, in_.size() - pos)};
        receive(ts, burst);  // the packets as built, headers included
        if (is_aead(tf_)) {
            // AES-GCM: the plaintext back (inbound decrypted it in place), encrypted anew;
            // the IV is the 64-bit sequence number of this pass.
            AeadPacket ps[kMax];
            for (size_t k = 0; k < ts.size(); ++k) {
                Template& t = ts[k];
                const uint64_t seq = uint64_t(t.seq) + offset;
                const rte_be32_t seq32 = rte_cpu_to_be_32(uint32_t(seq));
                const rte_be64_t iv = rte_cpu_to_be_64(seq);
                std::memcpy(t.esp + 4, &seq32, 4);
                std::memcpy(t.esp + kEspHeaderLen, &iv, kAeadIvLen);
                if (!t.plaintext.empty())
                    std::memcpy(t.esp + kEspHeaderLen + kAeadIvLen, t.plaintext.data(), t.plaintext.size());
                ps[k] = {t.esp, t.esp_len, t.esp + t.esp_len, &aead_keys_[t.sa % aead_keys_.size()]};
            }
            if (aead_jobs(engine_->imb(), tf_, true, {ps, ts.size()}) != 0)
                throw std::runtime_error("IPsec-MB failed to seal AES-GCM / AES-GMAC packets");
            for (Template& t : ts) std::memcpy(t.hdr.data(), rte_pktmbuf_mtod(t.m, uint8_t*), t.hdr.size());
            continue;
        }
        for (Template& t : ts) {
            // Inbound decrypted it in place: the ciphertext back (the same IV, so the same).
            if (!t.ciphertext.empty())
                std::memcpy(t.esp + kEspHeaderLen + iv_len(ealg_), t.ciphertext.data(), t.ciphertext.size());
            const rte_be32_t seq = rte_cpu_to_be_32(t.seq + offset);
            std::memcpy(t.esp + 4, &seq, 4);
        }
        hash_only(ts, jobs, tags);
        for (size_t k = 0; k < ts.size(); ++k) {
            Template& t = ts[k];
            std::memcpy(t.esp + t.esp_len, tags[k], icv_len(alg_, tf_));
            // What receive() writes back: the new number and, in a short packet, the ICV.
            std::memcpy(t.hdr.data(), rte_pktmbuf_mtod(t.m, uint8_t*), t.hdr.size());
        }
    }
}

std::vector<SaRecord> EngineWorkload::rewind_records() const {
    std::vector<SaRecord> v;
    for (uint32_t sa : used_sas_) {
        SaRecord r = inbound_record(sa);
        r.op = SaOp::remove;
        v.push_back(r);
        r.op = SaOp::add;
        v.push_back(r);
    }
    return v;
}

void EngineWorkload::rewind_inbound() {
    for (const SaRecord& r : rewind_records()) engine_->apply(r);
}

}  // namespace pcscf::bench
