// Fuzz target for inbound ESP (Engine::inbound). The input is a scenario: bursts of packets
// towards four SAs (HMAC-MD5-96 and HMAC-SHA-1-96, IPv4 and IPv6, exact and wildcard
// selectors; each with NULL encryption, AES-CBC or 3DES-CBC, as the key seed says) and
// towards SPIs that are not installed: ciphertext cut short of a block, sequence numbers around the replay
// window, right and wrong keys, lying trailers, dummy packets, wrong selectors or address
// family, IPv4 options and IPv6 extension headers, ESP in UDP to port 4500 and RFC 3948
// keep-alives, link padding, NIC checksum verdicts,
// corrupted, truncated, chained or raw packets. Every packet's fate is checked against
// EspModel (its own IP parsing, OpenSSL's HMAC, a set-based replay window), the bytes of
// every packet that passes against the model's decapsulation, and the drop counters, SA
// counters and first-use events against the model's count.
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/esp/engine.hpp"
#include "sa_contract/hmac_key.hpp"
#include "tests/common/hex.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/esp/aead_reference.hpp"
#include "tests/esp/cbc_reference.hpp"
#include "tests/esp/esp_builder.hpp"
#include "tests/fuzz/esp_model.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/fuzz_eal.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace pcscf::fuzz {
namespace {

using namespace esp;
using namespace net;

constexpr uint32_t kWindows[] = {64, 100, 2048};  // inline bitmap, odd size, large
constexpr uint32_t kMaxBurst = 80;                // more than one engine chunk
constexpr size_t kMaxPackets = 400;
constexpr uint16_t kEthLen = 14;

struct SaTemplate {
    Alg alg;
    uint32_t spi;
    const char* ue;
    const char* pcscf;  // "::" for any
    uint16_t ue_port, pcscf_port;
};
// The engine is worker 0 of two: it owns the even SPIs from 0x1000.
constexpr SaTemplate kSas[] = {
    {Alg::hmac_md5_96, 0x1000, "192.0.2.10", "198.51.100.1", 38003, 50718},
    {Alg::hmac_sha1_96, 0x1002, "192.0.2.20", "::", 0, 0},
    {Alg::hmac_md5_96, 0x1004, "2001:db8::10", "2001:db8:1::1", 38005, 50720},
    {Alg::hmac_sha256_128, 0x1006, "2001:db8::20", "::", 0, 5064},  // RFC 4868: a 16-byte ICV
};
constexpr uint32_t kOtherWorkerSpi = 0x1001, kFreeSlotSpi = 0x1008;

std::vector<std::unique_ptr<Engine>>& engines() {
    static std::vector<std::unique_ptr<Engine>> all = [] {
        start_eal();
        std::vector<std::unique_ptr<Engine>> v;
        for (const uint32_t window : kWindows) {
            EngineConfig cfg;
            cfg.spi = SpiLayout{0x1000, 2, 64};
            cfg.outbound_capacity = 64;
            cfg.replay_window = window;
            auto e = Engine::create(cfg);
            require(e.has_value(), "Engine::create");
            v.push_back(std::move(*e));
        }
        return v;
    }();
    return all;
}

std::vector<ModelSa> make_sas(uint8_t key_seed) {
    std::vector<ModelSa> out;
    for (size_t i = 0; i < std::size(kSas); ++i) {
        const SaTemplate& t = kSas[i];
        // Two bits of the seed per SA: the template's HMAC with NULL encryption, AES-CBC or
        // 3DES-CBC, or (instead of its HMAC) AES-GCM for even SAs, AES-GMAC for odd ones.
        const uint32_t pick = (key_seed >> (2 * i)) & 3;
        const bool aead = pick == 1;
        const Alg alg = !aead ? t.alg : i % 2 ? Alg::aes_gmac : Alg::null;
        const Ealg ealg = pick == 0   ? Ealg::null
                          : aead      ? (i % 2 ? Ealg::null : Ealg::aes_gcm)
                          : pick == 2 ? Ealg::aes_cbc
                                      : Ealg::des_ede3_cbc;
        ModelSa sa{
            alg,           t.spi, {}, *net::IpAddr::parse(t.ue), *net::IpAddr::parse(t.pcscf), t.ue_port, t.pcscf_port,
            t.spi * 10ull, ealg,  {}};
        for (uint32_t j = 0; j < key_len(alg); ++j) sa.key.push_back(uint8_t(key_seed * 37 + i * 101 + j * 13));
        for (uint32_t j = 0; j < cipher_key_len(alg, ealg); ++j)
            sa.ckey.push_back(uint8_t(key_seed * 11 + i * 29 + j * 7));
        out.push_back(sa);
    }
    return out;
}

HmacKey expanded(Engine& e, Alg alg, const std::vector<uint8_t>& key) {
    auto k = expand_key(e.imb(), alg, key);
    require(k.has_value(), "expand_key");
    return *k;
}

// Installs the SAs afresh: zero counters, an empty replay window.
void install(Engine& e, const std::vector<ModelSa>& sas) {
    for (const ModelSa& m : sas) {
        SaRecord r;
        r.sa.dir = Direction::inbound;
        r.sa.alg = m.alg;
        r.sa.spi = m.spi;
        r.sa.ue_addr = m.ue;
        r.sa.pcscf_addr = m.pcscf;
        r.sa.ue_port = m.ue_port;
        r.sa.pcscf_port = m.pcscf_port;
        r.sa.cookie = m.cookie;
        r.sa.ealg = m.ealg;
        std::copy(m.ckey.begin(), m.ckey.end(), r.cipher.bytes.begin());
        r.cipher.len = uint8_t(m.ckey.size());
        if (is_hmac(m.alg)) r.key = expanded(e, m.alg, m.key);
        r.op = SaOp::remove;
        (void)e.apply(r);
        r.op = SaOp::add;
        require(e.apply(r) == 0, "SA add");
    }
    e.clear_events();
}

// Per SA: the highest and the last sequence number sent, to aim near the window.
struct Cursor {
    uint32_t high = 0, last = 0;
};

uint32_t choose_seq(FuzzInput& in, Cursor& c, uint32_t window) {
    const uint8_t mode = in.u8();
    const uint32_t k = in.u8();
    uint32_t seq = 0;
    switch (mode % 8) {
        case 0:
        case 1: seq = c.high + 1; break;
        case 2: seq = c.high + 1 + k; break;
        case 3: seq = c.high - k * (mode & 8 ? 16 : 1); break;  // inside or left of the window
        case 4: seq = c.high - window + k % 3; break;           // the window's left edge
        case 5: seq = c.last; break;                            // a duplicate
        case 6: seq = mode & 8 ? 0 : in.u32(); break;
        default: seq = 0xffffffffu - k; break;
    }
    c.last = seq;
    c.high = std::max(c.high, seq);
    return seq;
}

// The IPv6 packet of `flow` from and to v4-mapped addresses (an IPv4 SA must refuse it).
std::vector<uint8_t> v4_mapped_ipv6(test::Flow flow, size_t payload_len) {
    const net::IpAddr src = flow.src, dst = flow.dst;
    flow.src = *net::IpAddr::parse("2001:db8::ff");
    flow.dst = *net::IpAddr::parse("2001:db8::fe");
    auto p = test::make_packet(flow, payload_len);
    std::memcpy(p.data() + 8, src.bytes.data(), 16);
    std::memcpy(p.data() + 24, dst.bytes.data(), 16);
    return p;
}

// Four option bytes (NOP NOP NOP EOL) after an IPv4 header, or an empty destination
// options header (PadN) after the IPv6 one: the engine must walk them.
void add_ip_options(std::vector<uint8_t>& p) {
    if (p[0] >> 4 == 4) {
        p.insert(p.begin() + 20, {1, 1, 1, 0});
        p[0] = 0x46;
        const size_t total = p.size();
        p[2] = uint8_t(total >> 8);
        p[3] = uint8_t(total);
        test::fix_ipv4_checksum(p);
        return;
    }
    p.insert(p.begin() + 40, {p[6], 0, 1, 4, 0, 0, 0, 0});
    p[6] = 60;
    const size_t payload = p.size() - 40;
    p[4] = uint8_t(payload >> 8);
    p[5] = uint8_t(payload);
}

// RFC 3948 2.1-2.3: the ESP of a sealed IPv4 packet in UDP to port 4500, or in its place
// a NAT keep-alive (param % 4 == 0) or the non-ESP marker in front of it (1). The model's
// SAs are all transport mode: none of it may pass.
std::vector<uint8_t> in_udp_4500(const std::vector<uint8_t>& ip, uint8_t param) {
    if (ip[0] >> 4 != 4) return ip;
    const size_t l3 = (ip[0] & 15u) * 4;
    std::vector<uint8_t> body;
    if (param % 4 == 0) body.push_back(0xff);  // not assign(): g++ 12 -O3 sees a bogus free (free-nonheap-object)
    else body.assign(ip.begin() + long(l3), ip.end());
    if (param % 4 == 1) body.insert(body.begin(), 4, 0);
    const size_t udp_len = body.size() + 8;
    const uint8_t udp[8] = {0x79, param, 0x11, 0x94, uint8_t(udp_len >> 8), uint8_t(udp_len), 0, 0};
    std::vector<uint8_t> out(ip.begin(), ip.begin() + long(l3));
    out.insert(out.end(), udp, udp + 8);
    out.insert(out.end(), body.begin(), body.end());
    out[9] = net::kProtoUdp;
    out[2] = uint8_t(out.size() >> 8);
    out[3] = uint8_t(out.size());
    test::fix_ipv4_checksum(out);
    return out;
}

ModelPacket next_packet(FuzzInput& in, Engine& e, const std::vector<ModelSa>& sas,
                        std::array<Cursor, std::size(kSas)>& cursors, uint32_t window, uint16_t l2_len) {
    ModelPacket p;
    p.l2_len = l2_len;
    const uint8_t kind = in.u8();
    if (kind % 8 == 7) {  // raw bytes
        const auto raw = in.bytes(in.u8());
        p.frame.assign(raw.begin(), raw.end());
        return p;
    }
    const size_t which = kind % 8 < 4 ? kind % 8 : (kind >> 3) % 4;
    const ModelSa& sa = sas[which];
    uint32_t spi = sa.spi;
    if (kind % 8 == 4) spi = kOtherWorkerSpi;
    if (kind % 8 == 5) spi = kFreeSlotSpi;
    if (kind % 8 == 6) spi = in.u32();
    const uint32_t seq = choose_seq(in, cursors[which], window);
    const uint8_t shape = in.u8(), fault = in.u8(), param = in.u8(), len_byte = in.u8();
    const size_t payload_len = len_byte < 200 ? len_byte : 200 + (len_byte - 200u) * 24;

    test::Flow flow{sa.ue, sa.pcscf, sa.ue_port, sa.pcscf_port, uint8_t(shape & 1 ? net::kProtoTcp : net::kProtoUdp)};
    if (flow.dst.is_unspecified()) flow.dst = *net::IpAddr::parse(sa.ue.is_v4() ? "198.51.100.7" : "2001:db8:1::7");
    if (flow.sport == 0) flow.sport = uint16_t(40000 + param);
    if (flow.dport == 0) flow.dport = 5060;
    switch ((shape >> 1) % 8) {  // selectors: mostly right
        case 1: flow.src.bytes[15] ^= 1; break;
        case 2: flow.dst.bytes[15] ^= 1; break;
        case 3: flow.sport ^= 1; break;
        case 4: flow.dport ^= 1; break;
        default: break;
    }
    std::vector<uint8_t> plain;
    if (shape & 0x10) {  // the other address family
        if (sa.ue.is_v4()) plain = v4_mapped_ipv6(flow, payload_len);
        else
            plain = test::make_packet({*net::IpAddr::parse("192.0.2.10"), *net::IpAddr::parse("198.51.100.1"),
                                       flow.sport, flow.dport, flow.proto},
                                      payload_len);
    } else {
        plain = test::make_packet(flow, payload_len);
    }
    if (shape & 0x20) add_ip_options(plain);

    test::Seal s;
    s.spi = spi;
    s.seq = seq;
    s.alg = sa.alg;
    std::vector<uint8_t> key = sa.key;
    switch (fault % 16) {
        case 5:
            if (!key.empty()) key[param % key.size()] ^= 0x80;  // the AEADs flip theirs below
            break;
        case 6: s.next_header = param % 4 == 0 ? 59 : param; break;
        case 7: s.pad_len_field = param; break;
        case 8: s.pad_first_byte = param; break;
        case 9: s.extra_pad = param % 64; break;  // more padding than needed: allowed
        default: break;
    }
    std::vector<uint8_t> sealed;
    if (const Transform xf = *transform(sa.alg, sa.ealg); is_aead(xf)) {
        test::AeadSeal a;
        a.xf = xf;
        a.spi = s.spi;
        a.seq = s.seq;
        a.keymat = sa.ckey;
        if (fault % 16 == 5) a.keymat[param % a.keymat.size()] ^= 0x80;  // key or salt
        a.iv.assign(kAeadIvLen, uint8_t(param * 3));
        a.next_header = s.next_header;
        a.pad_len_field = s.pad_len_field;
        sealed = test::seal_aead(plain, a);
    } else if (s.key = expanded(e, sa.alg, key); sa.ealg == Ealg::null) {
        sealed = test::seal(e.imb(), plain, s);
    } else {
        test::CbcSeal c;
        c.spi = s.spi;
        c.seq = s.seq;
        c.alg = sa.alg;
        c.ikey = key;
        c.ealg = sa.ealg;
        c.ckey = sa.ckey;
        c.iv.assign(iv_len(sa.ealg), uint8_t(param * 3));
        c.next_header = s.next_header;
        c.pad_len_field = s.pad_len_field;
        c.pad_first_byte = s.pad_first_byte;
        c.extra_blocks = s.extra_pad / 16;
        if (fault % 16 == 12) c.cut = 1 + param % 24;  // ciphertext not whole blocks (or none)
        sealed = test::seal_cbc(plain, c);
    }
    if (fault % 16 == 13) sealed = in_udp_4500(sealed, param);
    p.frame = l2_len ? test::with_ethernet(sealed) : sealed;
    if (fault % 16 == 10 || fault % 16 == 11) {  // after sealing: a flipped byte, or cut short
        const size_t at = in.u16() % p.frame.size();
        if (fault % 16 == 10) p.frame[at] ^= uint8_t(param | 1);
        else p.frame.resize(at);
    }
    if (shape & 0x40) p.frame.resize(p.frame.size() + param % 32, 0xee);  // link padding
    if (shape & 0x80) {
        const uint8_t nic = in.u8();
        if (nic % 4 == 1) p.rx_cksum = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        if (nic % 4 == 2) p.rx_cksum = RTE_MBUF_F_RX_IP_CKSUM_BAD;
        p.chained = nic % 4 == 3 && p.frame.size() > 1;
    }
    return p;
}

rte_mbuf* to_mbuf(const ModelPacket& p) {
    if (!p.chained) {
        rte_mbuf* m = test::make_mbuf(p.frame);
        m->ol_flags |= p.rx_cksum;
        return m;
    }
    const std::span<const uint8_t> all(p.frame);
    const size_t half = all.size() / 2;
    rte_mbuf* head = test::make_mbuf(all.first(half));
    require(rte_pktmbuf_chain(head, test::make_mbuf(all.subspan(half))) == 0, "rte_pktmbuf_chain");
    return head;
}

[[noreturn]] void disagree(size_t i, const ModelPacket& p, const Verdict& want, net::DropReason got) {
    std::fprintf(stderr, "packet %zu (l2 %u, %zu bytes) %s\n  model: %s\n  engine: %s\n", i, unsigned(p.l2_len),
                 p.frame.size(), test::to_hex(p.frame).c_str(),
                 want.reason == net::kPass ? "pass" : std::string(name(want.reason)).c_str(),
                 got == net::kPass ? "pass" : std::string(name(got)).c_str());
    require(false, "engine and model disagree on a packet");
    __builtin_unreachable();
}

bool same_output(const std::vector<uint8_t>& got, const Verdict& want, uint16_t l2_len) {
    if (got.size() != want.output.size()) return false;
    if (want.checksum_known) return got == want.output;
    for (size_t i = 0; i < got.size(); ++i)  // a trusted wrong IPv4 checksum stays wrong
        if (i != l2_len + 10u && i != l2_len + 11u && got[i] != want.output[i]) return false;
    return true;
}

void run_burst(Engine& e, EspModel& model, const std::vector<ModelPacket>& burst, uint16_t l2_len) {
    test::MbufGuard guard;
    for (const ModelPacket& p : burst) guard.v.push_back(to_mbuf(p));
    const std::vector<rte_mbuf*> sent = guard.v;
    std::vector<net::DropReason> why(burst.size());
    const net::DropCounters drops_before = e.drops();
    const EngineStats stats_before = e.stats();
    const uint16_t good = e.inbound(guard.v, why, l2_len);

    std::vector<net::DropReason> got(burst.size());
    std::vector<rte_mbuf*> out(burst.size());
    size_t last_good = 0;
    for (size_t j = 0; j < burst.size(); ++j) {
        const auto at = size_t(std::find(sent.begin(), sent.end(), guard.v[j]) - sent.begin());
        require(at < burst.size(), "inbound() returned an mbuf it was not given");
        require(j >= good || j == 0 || at > last_good, "good packets out of arrival order");
        if (j < good) last_good = at;
        got[at] = j < good ? net::kPass : why[j];
        out[at] = guard.v[j];
    }

    net::DropCounters drops_want = drops_before;
    uint64_t packets_want = stats_before.in_packets, bytes_want = stats_before.in_bytes;
    std::vector<SaEvent> events_want;
    for (size_t i = 0; i < burst.size(); ++i) {
        if (i % Engine::kChunk == 0) model.start_chunk();
        const Verdict v = model.judge(burst[i]);
        if (got[i] != v.reason) disagree(i, burst[i], v, got[i]);
        if (v.reason == net::kPass) {
            const auto bytes = test::bytes_of(out[i]);
            require(out[i]->nb_segs == 1 && same_output(bytes, v, l2_len),
                    "decapsulated packet differs from the model's");
            ++packets_want;
            bytes_want += bytes.size();
        } else {
            drops_want.add(v.reason);
        }
        if (model.count(v)) {
            const ModelSa& sa = model.sas()[size_t(v.sa)];
            SaEvent ev;
            ev.kind = EventKind::first_use;
            ev.spi = sa.spi;
            ev.cookie = sa.cookie;
            ev.seq = v.seq;
            events_want.push_back(ev);
        }
    }
    require(e.drops().count == drops_want.count, "drop counters differ from the model's");
    require(e.stats().in_packets == packets_want && e.stats().in_bytes == bytes_want,
            "engine packet and byte counts differ from the model's");
    const auto events = e.events();
    require(events.size() == events_want.size(), "first-use events differ in number");
    for (size_t i = 0; i < events.size(); ++i)
        require(events[i].kind == EventKind::first_use && events[i].dir == Direction::inbound &&
                    events[i].spi == events_want[i].spi && events[i].cookie == events_want[i].cookie &&
                    events[i].seq == events_want[i].seq,
                "first-use event differs from the model's");
    e.clear_events();
}

}  // namespace
}  // namespace pcscf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace pcscf::fuzz;
    FuzzInput in(data, size);
    const size_t which = in.below(std::size(kWindows));
    pcscf::esp::Engine& engine = *engines()[which];
    const auto sas = make_sas(in.u8());
    install(engine, sas);
    EspModel model(kWindows[which], sas);
    std::array<Cursor, std::size(kSas)> cursors{};
    size_t packets = 0;
    while (!in.empty() && packets < kMaxPackets) {
        const uint32_t n = 1 + in.below(kMaxBurst);
        const uint16_t l2_len = in.flag() ? kEthLen : 0;
        std::vector<ModelPacket> burst;
        for (uint32_t k = 0; k < n && !in.empty(); ++k)
            burst.push_back(next_packet(in, engine, sas, cursors, kWindows[which], l2_len));
        run_burst(engine, model, burst, l2_len);
        packets += burst.size();
    }
    for (size_t i = 0; i < sas.size(); ++i) {
        const auto st = engine.inbound_stats(sas[i].spi);
        const ModelSaState& m = model.state(i);
        require(st && st->packets == m.packets && st->bytes == m.bytes && st->drops == m.drops,
                "SA counters differ from the model's");
    }
    return 0;
}
