#include "bench/ipsec_compare_librte.hpp"

#include <netinet/in.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "net/byte_order.hpp"

namespace pcscf::bench {

using namespace pcscf::esp;
using namespace pcscf::net;

namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kDequeue = 64;
constexpr uint32_t kReplayWindow = 64;  // as EngineConfig's default
constexpr uint16_t kIvOffset = sizeof(rte_crypto_op) + sizeof(rte_crypto_sym_op);

[[noreturn]] void fail(const char* what, int err = rte_errno) {
    std::string msg = "librte_ipsec: ";
    msg += what;
    msg += ": ";
    msg += rte_strerror(err < 0 ? -err : err);
    throw std::runtime_error(msg);
}

rte_crypto_cipher_algorithm cipher_algo(Ealg e) {
    return e == Ealg::aes_cbc        ? RTE_CRYPTO_CIPHER_AES_CBC
           : e == Ealg::des_ede3_cbc ? RTE_CRYPTO_CIPHER_3DES_CBC
                                     : RTE_CRYPTO_CIPHER_NULL;
}

// The SA's cipher (NULL, AES-128-CBC or 3DES-CBC) + HMAC, in the order librte_ipsec
// wants: auth then cipher inbound, cipher then auth outbound. Holds pointers into itself:
// fill it in place. The IV sits in the crypto op's private area (RFC 3602 / RFC 2451: one
// block, carried after the ESP header).
// AES-GCM: one AEAD xform; AES-GMAC: one auth xform, nothing chained (lib/ipsec/sa.c,
// fill_crypto_xform(), takes GMAC so since DPDK 21.11). Both: the key is the first 16 bytes
// of SaRecord::cipher (the salt, its last 4, goes in the SA parameters), the 12-byte nonce
// (salt || IV) in the crypto op's private area, where librte_ipsec writes it; GCM's AAD
// (SPI || seq, 8 bytes) librte_ipsec puts behind the ICV.
struct Xforms {
    rte_crypto_sym_xform auth{}, cipher{}, aead{};
    rte_crypto_sym_xform* head = nullptr;

    void fill(const SaRecord& r, std::span<const uint8_t> auth_key) {
        const bool in = r.sa.dir == Direction::inbound;
        if (r.sa.ealg == Ealg::aes_gcm) {
            aead.type = RTE_CRYPTO_SYM_XFORM_AEAD;
            aead.next = nullptr;
            aead.aead.op = in ? RTE_CRYPTO_AEAD_OP_DECRYPT : RTE_CRYPTO_AEAD_OP_ENCRYPT;
            aead.aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
            aead.aead.key.data = r.cipher.bytes.data();
            aead.aead.key.length = 16;
            aead.aead.iv.offset = kIvOffset;
            aead.aead.iv.length = 12;
            aead.aead.digest_length = uint16_t(kAeadIcvLen);
            aead.aead.aad_length = uint16_t(kEspHeaderLen);
            head = &aead;
            return;
        }
        if (r.sa.alg == Alg::aes_gmac) {
            auth.type = RTE_CRYPTO_SYM_XFORM_AUTH;
            auth.next = nullptr;
            auth.auth.op = in ? RTE_CRYPTO_AUTH_OP_VERIFY : RTE_CRYPTO_AUTH_OP_GENERATE;
            auth.auth.algo = RTE_CRYPTO_AUTH_AES_GMAC;
            auth.auth.key.data = r.cipher.bytes.data();
            auth.auth.key.length = 16;
            auth.auth.iv.offset = kIvOffset;
            auth.auth.iv.length = 12;
            auth.auth.digest_length = uint16_t(kAeadIcvLen);
            head = &auth;
            return;
        }
        auth.type = RTE_CRYPTO_SYM_XFORM_AUTH;
        auth.auth.op = in ? RTE_CRYPTO_AUTH_OP_VERIFY : RTE_CRYPTO_AUTH_OP_GENERATE;
        auth.auth.algo = r.sa.alg == Alg::hmac_sha1_96      ? RTE_CRYPTO_AUTH_SHA1_HMAC
                         : r.sa.alg == Alg::hmac_sha256_128 ? RTE_CRYPTO_AUTH_SHA256_HMAC
                                                            : RTE_CRYPTO_AUTH_MD5_HMAC;
        auth.auth.key.data = auth_key.data();
        auth.auth.key.length = uint16_t(auth_key.size());
        auth.auth.digest_length = uint16_t(icv_len(r.sa.alg, Transform::hmac));
        cipher.type = RTE_CRYPTO_SYM_XFORM_CIPHER;
        cipher.cipher.op = in ? RTE_CRYPTO_CIPHER_OP_DECRYPT : RTE_CRYPTO_CIPHER_OP_ENCRYPT;
        cipher.cipher.algo = cipher_algo(r.sa.ealg);
        cipher.cipher.key.data = r.cipher.bytes.data();  // CK_ESP
        cipher.cipher.key.length = r.cipher.len;
        cipher.cipher.iv.offset = kIvOffset;
        cipher.cipher.iv.length = uint16_t(iv_len(r.sa.ealg));
        head = in ? &auth : &cipher;
        head->next = in ? &cipher : &auth;
    }
};

// CBC needs nothing beyond the xforms (no salt, no options). Outbound, librte_ipsec
// writes the 64-bit sequence number (then zeros) where the IV goes and has the cryptodev
// encrypt from there on, chained from whatever IV the crypto op last carried: the IV on
// the wire is that block encrypted, unpredictable without CK_ESP, as RFC 3602 asks.
rte_ipsec_sa_prm sa_prm(const SaRecord& r, rte_crypto_sym_xform* xf, bool ipv6, uint32_t i) {
    rte_ipsec_sa_prm prm{};
    const bool in = r.sa.dir == Direction::inbound;
    prm.userdata = i;
    prm.ipsec_xform.spi = r.sa.spi;
    prm.ipsec_xform.direction = in ? RTE_SECURITY_IPSEC_SA_DIR_INGRESS : RTE_SECURITY_IPSEC_SA_DIR_EGRESS;
    prm.ipsec_xform.proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
    prm.ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TRANSPORT;
    prm.ipsec_xform.replay_win_sz = in ? kReplayWindow : 0;
    prm.crypto_xform = xf;
    prm.trs.proto = ipv6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
    if (r.sa.ealg == Ealg::aes_gcm || r.sa.alg == Alg::aes_gmac)  // RFC 4106 / 4543: the salt, as on the wire
        std::memcpy(&prm.ipsec_xform.salt, r.cipher.bytes.data() + 16, 4);
    return prm;
}

uint32_t sa_object_size(const SaRecord& r, bool ipv6) {
    Xforms x;
    x.fill(r, {});
    const rte_ipsec_sa_prm prm = sa_prm(r, x.head, ipv6, 0);
    const int sz = rte_ipsec_sa_size(&prm);
    if (sz < 0) throw std::runtime_error("librte_ipsec: rte_ipsec_sa_size refused the SA");
    return RTE_ALIGN_CEIL(uint32_t(sz), RTE_CACHE_LINE_SIZE);
}

template <typename T>
T* zalloc(const char* what, size_t n) {
    auto* p = static_cast<T*>(rte_zmalloc(what, n * sizeof(T), RTE_CACHE_LINE_SIZE));
    if (p == nullptr) fail(what);
    return p;
}

}  // namespace

std::expected<std::unique_ptr<CryptoDev>, std::string> CryptoDev::start(uint32_t max_sessions, uint32_t ring_size) {
    const int id = rte_cryptodev_get_dev_id("crypto_aesni_mb");
    if (id < 0)
        return std::unexpected(
            std::string("no crypto_aesni_mb cryptodev: EAL needs --vdev=crypto_aesni_mb and the PMD "
                        "librte_crypto_ipsec_mb.so in its driver path"));
    auto d = std::make_unique<CryptoDev>();
    d->id = uint8_t(id);
    rte_cryptodev_config cfg{};
    cfg.socket_id = SOCKET_ID_ANY;
    cfg.nb_queue_pairs = 1;
    cfg.ff_disable = RTE_CRYPTODEV_FF_ASYMMETRIC_CRYPTO | RTE_CRYPTODEV_FF_SECURITY;
    if (rte_cryptodev_configure(d->id, &cfg) < 0) return std::unexpected(std::string("rte_cryptodev_configure failed"));
    d->sessions = rte_cryptodev_sym_session_pool_create("cmp_sessions", max_sessions,
                                                        rte_cryptodev_sym_get_private_session_size(d->id),
                                                        std::min(256u, max_sessions / 2), 0, SOCKET_ID_ANY);
    if (d->sessions == nullptr) {
        std::string msg = "cannot create a pool of ";
        msg += std::to_string(max_sessions);
        msg += " cryptodev sessions: ";
        msg += rte_strerror(rte_errno);
        return std::unexpected(msg);
    }
    d->session_bytes = d->sessions->header_size + d->sessions->elt_size + d->sessions->trailer_size;
    d->session_lines = d->sessions->elt_size / RTE_CACHE_LINE_SIZE;
    rte_cryptodev_qp_conf qp{};
    qp.nb_descriptors = 2048;
    qp.mp_session = d->sessions;
    if (rte_cryptodev_queue_pair_setup(d->id, d->qp, &qp, SOCKET_ID_ANY) < 0 || rte_cryptodev_start(d->id) < 0)
        return std::unexpected(std::string("cannot start the crypto_aesni_mb queue pair"));
    d->op_pool =
        rte_crypto_op_pool_create("cmp_ops", RTE_CRYPTO_OP_TYPE_SYMMETRIC, ring_size + 1024, 0, 16, SOCKET_ID_ANY);
    d->ops.resize(ring_size);
    if (d->op_pool == nullptr ||
        rte_crypto_op_bulk_alloc(d->op_pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, d->ops.data(), ring_size) != ring_size)
        return std::unexpected(std::string("cannot allocate crypto operations"));
    return d;
}

CryptoDev::~CryptoDev() {
    rte_cryptodev_stop(id);
    if (op_pool != nullptr) {
        for (rte_crypto_op* op : ops) rte_crypto_op_free(op);
        rte_mempool_free(op_pool);
    }
    rte_mempool_free(sessions);
}

bool librte_supports(const CryptoDev& dev, Alg a, Ealg e) {
    rte_cryptodev_sym_capability_idx idx{};
    if (e == Ealg::aes_gcm) {
        idx.type = RTE_CRYPTO_SYM_XFORM_AEAD;
        idx.algo.aead = RTE_CRYPTO_AEAD_AES_GCM;
        const rte_cryptodev_symmetric_capability* cap = rte_cryptodev_sym_capability_get(dev.id, &idx);
        return cap != nullptr && rte_cryptodev_sym_capability_check_aead(cap, 16, uint16_t(kAeadIcvLen),
                                                                         uint16_t(kEspHeaderLen), 12) == 0;
    }
    if (a == Alg::aes_gmac) {
        idx.type = RTE_CRYPTO_SYM_XFORM_AUTH;
        idx.algo.auth = RTE_CRYPTO_AUTH_AES_GMAC;
        const rte_cryptodev_symmetric_capability* cap = rte_cryptodev_sym_capability_get(dev.id, &idx);
        return cap != nullptr && rte_cryptodev_sym_capability_check_auth(cap, 16, uint16_t(kAeadIcvLen), 12) == 0;
    }
    idx.type = RTE_CRYPTO_SYM_XFORM_CIPHER;
    idx.algo.cipher = cipher_algo(e);
    const rte_cryptodev_symmetric_capability* cap = rte_cryptodev_sym_capability_get(dev.id, &idx);
    return cap != nullptr && (e == Ealg::null || rte_cryptodev_sym_capability_check_cipher(
                                                     cap, uint16_t(cipher_key_len(e)), uint16_t(iv_len(e))) == 0);
}

uint64_t librte_bytes_per_sa(const CryptoDev& dev) {
    // A generous figure for the SA object (inbound, with its replay window), the session
    // slot, and the outbound hash entry with the engine's record pool behind it.
    return dev.session_bytes + 512 + 128 + 256;
}

LibrteIpsec::LibrteIpsec(CryptoDev& dev, const EngineWorkload& w, uint32_t n_sas, uint32_t n_installed, bool ipv6)
    : dev_(dev), w_(&w), alg_(w.alg()), ealg_(w.ealg()), ipv6_(ipv6), n_sas_(n_sas) {
    in_spi_base_ = w.inbound_record(0).sa.spi;
    used_ = w.used_sas();
    for (uint32_t i = 0; i < std::min(n_installed, n_sas); ++i) which_.push_back(i);
    for (uint32_t i : w.used_sas())
        if (i >= n_installed) which_.push_back(i);
    installed_ = uint32_t(which_.size());

    in_.sa_size = sa_object_size(w.inbound_record(0), ipv6);
    out_.sa_size = sa_object_size(w.outbound_record(0), ipv6);
    in_.slots = zalloc<Slot>("cmp_in_slots", n_sas);
    in_.sa_mem = zalloc<uint8_t>("cmp_in_sas", size_t{installed_} * in_.sa_size);
    auto table = OutboundTable::create(std::bit_ceil(std::max(installed_, 1024u)), SOCKET_ID_ANY);
    if (!table) throw std::runtime_error(table.error());
    out_lookup_.emplace(std::move(*table));
    out_.slots = zalloc<Slot>("cmp_out_slots", out_lookup_->pool_size());
    out_.sa_mem = zalloc<uint8_t>("cmp_out_sas", size_t{installed_} * out_.sa_size);
    sessions_.reserve(2 * size_t{installed_});
    for (size_t k = 0; k < which_.size(); ++k) {
        const uint32_t i = which_[k];
        install(in_, Direction::inbound, i, w.inbound_record(i).sa.spi - in_spi_base_, in_.sa_mem + k * in_.sa_size);
        const SaRecord o = w.outbound_record(i);
        const int32_t pos = out_lookup_->insert(o.sa, o.key);
        if (pos < 0) throw std::runtime_error("librte_ipsec: outbound lookup insert failed");
        install(out_, Direction::outbound, i, uint32_t(pos), out_.sa_mem + k * out_.sa_size);
    }
}

LibrteIpsec::~LibrteIpsec() {
    for (void* s : sessions_) rte_cryptodev_sym_session_free(dev_.id, s);
    for (Side* s : {&in_, &out_}) {
        rte_free(s->slots);
        rte_free(s->sa_mem);
    }
}

void LibrteIpsec::install(Side& side, Direction dir, uint32_t i, uint32_t slot, uint8_t* mem) {
    const SaRecord r = dir == Direction::inbound ? w_->inbound_record(i) : w_->outbound_record(i);
    Xforms x;
    x.fill(r, w_->raw_key(i));
    auto* sa = reinterpret_cast<rte_ipsec_sa*>(mem);
    const rte_ipsec_sa_prm prm = sa_prm(r, x.head, ipv6_, i);
    if (const int rc = rte_ipsec_sa_init(sa, &prm, side.sa_size); rc < 0) fail("rte_ipsec_sa_init", rc);
    void* cs = rte_cryptodev_sym_session_create(dev_.id, x.head, dev_.sessions);
    if (cs == nullptr) fail("rte_cryptodev_sym_session_create");
    sessions_.push_back(cs);
    Slot& s = side.slots[slot];
    s.ss.sa = sa;
    s.ss.type = RTE_SECURITY_ACTION_TYPE_NONE;
    s.ss.crypto.ses = static_cast<rte_cryptodev_sym_session*>(cs);
    s.ss.crypto.dev_id = dev_.id;
    if (const int rc = rte_ipsec_session_prepare(&s.ss); rc != 0) fail("rte_ipsec_session_prepare", rc);
    s.sel = {r.sa.ue_addr, r.sa.pcscf_addr, r.sa.ue_port, r.sa.pcscf_port};
}

void LibrteIpsec::reinit(Side& side, Direction dir, uint32_t i, uint32_t slot) {
    const SaRecord r = dir == Direction::inbound ? w_->inbound_record(i) : w_->outbound_record(i);
    Xforms x;
    x.fill(r, w_->raw_key(i));
    const rte_ipsec_sa_prm prm = sa_prm(r, x.head, ipv6_, i);
    if (const int rc = rte_ipsec_sa_init(side.slots[slot].ss.sa, &prm, side.sa_size); rc < 0)
        fail("rte_ipsec_sa_init", rc);
}

uint32_t LibrteIpsec::out_slot(uint32_t i) const {
    const SaRecord r = w_->outbound_record(i);
    return uint32_t(out_lookup_->find(OutboundKey{r.sa.ue_addr, r.sa.ue_port, r.sa.pcscf_port}));
}

void LibrteIpsec::rebind(const EngineWorkload& w) {
    // The previous workload may be gone: compare with what was kept of it.
    if (w.alg() != alg_ || w.ealg() != ealg_ || w.used_sas() != used_)
        throw std::runtime_error("librte_ipsec: rebind to a workload with other SAs");
    w_ = &w;
}

void LibrteIpsec::rewind_inbound() {
    for (uint32_t i : used_) reinit(in_, Direction::inbound, i, w_->inbound_record(i).sa.spi - in_spi_base_);
}

void LibrteIpsec::rewind_outbound() {
    for (uint32_t i : used_) reinit(out_, Direction::outbound, i, out_slot(i));
}

uint32_t LibrteIpsec::inbound_pass(std::span<Template> ring) { return pass(ring, true); }
uint32_t LibrteIpsec::outbound_pass(std::span<Template> ring) { return pass(ring, false); }

uint32_t LibrteIpsec::pass(std::span<Template> ring, bool inbound) {
    if (dev_.ops.size() < ring.size()) throw std::runtime_error("more packets than crypto ops");
    rte_mbuf* burst[kBurst];
    uint32_t good = 0, in_flight = 0;
    for (size_t pos = 0; pos + kBurst <= ring.size(); pos += kBurst) {
        EngineWorkload::receive(ring.subspan(pos, kBurst), burst);
        in_flight += submit(burst, kBurst, &dev_.ops[pos], inbound);
        good += complete(inbound, in_flight);
    }
    for (uint32_t idle = 0; in_flight > 0 && idle < 1000000;) {
        const uint32_t before = in_flight;
        good += complete(inbound, in_flight);
        idle = in_flight == before ? idle + 1 : 0;
    }
    if (in_flight != 0) throw std::runtime_error("crypto_aesni_mb kept operations");
    return good;
}

uint32_t LibrteIpsec::submit(rte_mbuf** pkts, uint32_t n, rte_crypto_op** ops, bool inbound) {
    // What an application does before librte_ipsec: l2_len / l3_len, and the SA.
    rte_ipsec_session* ss[kBurst];
    OutboundKey keys[kBurst];
    const OutboundKey* key_of[kBurst] = {};
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        const bool v4 = ip[0] >> 4 == 4;
        const uint32_t l3 = v4 ? (ip[0] & 0x0f) * 4u : 40u;  // IPv6: no extension headers here
        m->ol_flags = 0;
        m->l2_len = 0;
        m->l3_len = l3 & 0x1ff;
        ss[i] = nullptr;
        if (inbound) {
            const uint32_t idx = load_be32(ip + l3) - in_spi_base_;
            if ((v4 ? ip[9] : ip[6]) == IPPROTO_ESP && idx < n_sas_ && in_.slots[idx].ss.sa != nullptr)
                ss[i] = &in_.slots[idx].ss;
        } else {
            const uint8_t* l4 = ip + l3;
            keys[i] =
                OutboundKey{v4 ? net::IpAddr::v4(ip + 16) : net::IpAddr::v6(ip + 24), load_be16(l4 + 2), load_be16(l4)};
            key_of[i] = &keys[i];
        }
    }
    if (!inbound) {
        int32_t pos[kBurst];
        out_lookup_->find_bulk(key_of, n, pos);
        for (uint32_t i = 0; i < n; ++i) ss[i] = pos[i] >= 0 ? &out_.slots[pos[i]].ss : nullptr;
    }
    // Not in ipsec-secgw, but any application holding many SAs wants it: fetch every
    // packet's SA object and cryptodev session together, before librte_ipsec and the
    // PMD read them one packet at a time (about 2x at 200,000 SAs).
    const uint32_t sa_lines = (inbound ? in_ : out_).sa_size / RTE_CACHE_LINE_SIZE;
    for (uint32_t i = 0; i < n; ++i)
        if (ss[i] != nullptr) {
            const auto* sa = reinterpret_cast<const uint8_t*>(ss[i]->sa);
            const auto* cs = reinterpret_cast<const uint8_t*>(ss[i]->crypto.ses);
            for (uint32_t l = 0; l < sa_lines; ++l) rte_prefetch0(sa + l * RTE_CACHE_LINE_SIZE);
            for (uint32_t l = 0; l < dev_.session_lines; ++l) rte_prefetch0(cs + l * RTE_CACHE_LINE_SIZE);
        }
    // One prepare per run of packets on the same SA, one enqueue for the burst.
    uint32_t n_ops = 0;
    for (uint32_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && ss[j] == ss[i]; ++j) {
        }
        if (ss[i] != nullptr) n_ops += rte_ipsec_pkt_crypto_prepare(ss[i], &pkts[i], &ops[n_ops], uint16_t(j - i));
    }
    const uint16_t enq = rte_cryptodev_enqueue_burst(dev_.id, dev_.qp, ops, uint16_t(n_ops));
    if (enq != n_ops) throw std::runtime_error("crypto_aesni_mb queue pair full");
    return enq;
}

uint32_t LibrteIpsec::complete(bool inbound, uint32_t& in_flight) {
    rte_crypto_op* cops[kDequeue];
    rte_mbuf* mbs[kDequeue];
    rte_ipsec_group grp[kDequeue];
    const uint16_t n = rte_cryptodev_dequeue_burst(dev_.id, dev_.qp, cops, kDequeue);
    in_flight -= n;
    const uint16_t ng = rte_ipsec_pkt_crypto_group(const_cast<const rte_crypto_op**>(cops), mbs, grp, n);
    uint32_t good = 0;
    for (uint16_t g = 0; g < ng; ++g) {
        auto* ss = static_cast<rte_ipsec_session*>(grp[g].id.ptr);
        const uint16_t k = rte_ipsec_pkt_process(ss, grp[g].m, uint16_t(grp[g].cnt));
        const Selector& sel = reinterpret_cast<const Slot*>(ss)->sel;
        for (uint16_t p = 0; p < k; ++p) {
            uint8_t* ip = rte_pktmbuf_mtod(grp[g].m[p], uint8_t*);
            const bool v4 = ip[0] >> 4 == 4;
            if (inbound) {  // the inner selectors, as the engine checks them
                const uint8_t proto = v4 ? ip[9] : ip[6];
                const uint8_t* l4 = ip + grp[g].m[p]->l3_len;
                const net::IpAddr src = v4 ? net::IpAddr::v4(ip + 12) : net::IpAddr::v6(ip + 8);
                const net::IpAddr dst = v4 ? net::IpAddr::v4(ip + 16) : net::IpAddr::v6(ip + 24);
                if ((proto != IPPROTO_UDP && proto != IPPROTO_TCP) || !(src == sel.ue_addr) ||
                    !(dst == sel.pcscf_addr) || load_be16(l4) != sel.ue_port || load_be16(l4 + 2) != sel.pcscf_port)
                    continue;
            }
            if (v4) {  // librte_ipsec changed the length and protocol, not the checksum
                auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
                h->hdr_checksum = 0;
                h->hdr_checksum = rte_ipv4_cksum(h);
            }
            ++good;
        }
    }
    return good;
}

}  // namespace pcscf::bench
