// Fuzz target for IP reassembly (ipfrag::Reassembler). The input is a scenario over up to
// four datagrams (IPv4 or IPv6, identifications that may collide): whole datagrams cut
// into pieces sent in any order, single fragments with hostile offsets, lengths and flags,
// pieces whose bytes disagree with earlier ones, corrupted and raw frames, time passing
// and expiry, under a small flow table and a datagram limit. Every datagram returned must
// be a reassembly of the fragments fed (ReassemblyModel), contiguous and within the limit;
// only the fragment drop reasons may count; and once everything is freed and expired, no
// mbuf of either pool is missing.
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "dataplane/ipfrag/reassembler.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/fuzz_eal.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/reassembly_model.hpp"
#include "tests/fuzz/wire.hpp"
#include "tests/ipfrag/frame_util.hpp"

namespace pcscf::fuzz {
namespace {

using net::DropReason;

constexpr uint32_t kMaxFlows[] = {1, 2, 4, 64};
constexpr uint32_t kMaxDatagram[] = {1500, 4000, 9000};
constexpr uint32_t kTimeoutMs = 100;
constexpr size_t kMaxFrames = 200;

rte_mempool* big_pool() {
    static rte_mempool* p = [] {
        start_eal();
        rte_mempool* pool =
            rte_pktmbuf_pool_create("fuzz_frag_big", 63, 0, 0, 9216 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
        require(pool != nullptr, "big buffer pool");
        return pool;
    }();
    return p;
}

// One datagram of the scenario: its header fields and a length; its bytes are a function
// of (seed, offset), so that every fragment cut from it agrees with every other.
struct Datagram {
    bool v6 = false;
    uint32_t id = 0;
    uint8_t seed = 0, proto = 17;
    uint32_t len = 0;  // payload bytes
    bool ipv4_options = false;
    bool dont_fragment = false;
};

uint8_t byte_at(const Datagram& d, uint32_t offset) { return uint8_t((offset * 131u + d.seed * 7u) ^ (offset >> 8)); }

Datagram next_datagram(FuzzInput& in) {
    Datagram d;
    const uint8_t shape = in.u8();
    d.v6 = shape & 1;
    d.id = shape >> 5;  // eight identifications: datagrams may share one
    d.proto = shape & 2 ? 50 : 17;
    d.ipv4_options = shape & 4;
    d.dont_fragment = (shape & 0x18) == 0x18;
    d.seed = in.u8();
    const uint8_t size = in.u8();  // mostly a few pieces' worth; sometimes up to the limits
    d.len = size < 224 ? 8 + size * 8u : 1800 + in.u16() % 7400;
    return d;
}

// The IP packet (no link header) of the fragment of `d` at `offset` with `len` bytes.
std::vector<uint8_t> fragment(const Datagram& d, uint32_t offset, uint32_t len, bool more, uint8_t poison) {
    std::vector<uint8_t> p;
    if (!d.v6) {
        const bool options = d.ipv4_options && offset == 0;  // options travel in the first only
        p.assign(options ? 24 : 20, 0);
        p[0] = uint8_t(0x40 | p.size() / 4);
        p[8] = 64;
        p[9] = d.proto;
        p[12] = 192, p[13] = 0, p[14] = 2, p[15] = 10;    // 192.0.2.10
        p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 1;  // 198.51.100.1
        if (options) p[20] = p[21] = p[22] = 1;           // NOP NOP NOP EOL
        put16(p.data() + 4, d.id);
        put16(p.data() + 6, (offset / 8 & 0x1fff) | (more ? 0x2000 : 0) | (d.dont_fragment ? 0x4000 : 0));
        put16(p.data() + 2, uint32_t(p.size()) + len);
    } else {
        p.assign(48, 0);
        p[0] = 0x60;
        p[6] = 44;
        p[7] = 64;
        p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 0x10;    // 2001:db8::10
        p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 0x01;  // 2001:db8::1
        p[40] = d.proto;
        put16(p.data() + 42, (offset & 0xfff8) | (more ? 1 : 0));
        put16(p.data() + 44, 0xfeed);
        put16(p.data() + 46, d.id);
        put16(p.data() + 4, 8 + len);
    }
    const size_t header = p.size();
    for (uint32_t i = 0; i < len; ++i) p.push_back(byte_at(d, offset + i));
    if (poison != 0 && len > 0) p[header + poison % len] ^= poison;
    if (!d.v6) set_ipv4_checksum(p.data(), header);
    return p;
}

struct Run {
    explicit Run(const ipfrag::ReassemblyConfig& cfg) : cfg(cfg) {
        auto r = ipfrag::Reassembler::create(cfg, big_pool(), SOCKET_ID_ANY);
        require(r.has_value(), "Reassembler::create");
        re.emplace(std::move(*r));
        step = (rte_get_tsc_hz() + 999) / 1000 * kTimeoutMs / 4;
    }

    // Feeds one frame; checks whatever comes out.
    void add(std::vector<uint8_t> frame, uint16_t l2_len) {
        if (frames++ >= kMaxFrames) return;
        if (l2_len == test::kEth) frame[5] = uint8_t(frames);  // whose link header comes out
        rte_mbuf* m = test::make_mbuf(frame);
        if (!ipfrag::Reassembler::wanted(m, l2_len)) {  // not ours: the worker passes it on
            rte_pktmbuf_free(m);
            return;
        }
        model.fed(frame, l2_len);
        rte_mbuf* whole = re->add(m, l2_len, now, drops);
        if (whole == nullptr) return;
        const auto bytes = test::bytes_of(whole);
        const uint16_t out_l2 = whole->l2_len;
        const bool shape_ok = whole->nb_segs == 1 && whole->pkt_len == whole->data_len && whole->pkt_len > out_l2 &&
                              whole->pkt_len - out_l2 <= cfg.max_datagram;
        rte_pktmbuf_free(whole);
        require(shape_ok, "reassembled datagram not one segment, or over the limit");
        const std::string why = model.check(bytes, out_l2);
        if (!why.empty()) std::fprintf(stderr, "reassembled datagram: %s\n", why.c_str());
        require(why.empty(), "reassembled datagram is not a reassembly of the fragments fed");
    }

    ipfrag::ReassemblyConfig cfg;
    std::optional<ipfrag::Reassembler> re;
    ReassemblyModel model;
    net::DropCounters drops;
    uint64_t now = 1, step = 0;
    size_t frames = 0;
};

void play(FuzzInput& in, Run& run) {
    std::vector<Datagram> datagrams;
    for (int i = 0; i < 4; ++i) datagrams.push_back(next_datagram(in));
    while (!in.empty() && run.frames < kMaxFrames) {
        const uint8_t op = in.u8();
        const Datagram& d = datagrams[(op >> 4) % 4];
        const uint16_t l2_len = op & 8 ? 0 : test::kEth;
        auto send = [&](const std::vector<uint8_t>& ip) { run.add(l2_len ? test::eth_frame(ip) : ip, l2_len); };
        switch (op % 8) {
            case 0:
            case 1:
            case 2: {  // the whole datagram in up to 9 pieces, in the order given
                const uint32_t pieces = 2 + in.below(8);
                const uint32_t unit = std::max<uint32_t>(8, (d.len / pieces + 7) / 8 * 8);
                std::vector<std::vector<uint8_t>> frags;
                for (uint32_t off = 0; off < d.len; off += unit)
                    frags.push_back(fragment(d, off, std::min(unit, d.len - off), off + unit < d.len, 0));
                for (size_t i = frags.size(); i > 1; --i) std::swap(frags[i - 1], frags[in.below(uint32_t(i))]);
                for (const auto& f : frags) send(f);
                break;
            }
            case 3:
            case 4: {  // one fragment, any offset, length and flag; maybe bytes that disagree
                const uint32_t offset = in.u16() & 0xfff8;
                const uint32_t len = in.u16() % 1600;
                const uint8_t flags = in.u8();
                send(fragment(d, offset, len, flags & 1, op % 8 == 4 ? in.u8() : 0));
                break;
            }
            case 5: {  // a fragment with one byte anywhere changed
                auto f = fragment(d, in.u16() & 0x1ff8, 8 + in.below(200) * 8, in.flag(), 0);
                f[in.u16() % f.size()] ^= uint8_t(in.u8() | 1);
                send(f);
                break;
            }
            case 6: {  // raw bytes
                const auto raw = in.bytes(in.u8());
                if (!raw.empty()) run.add({raw.begin(), raw.end()}, 0);
                break;
            }
            default:  // time passes, maybe past the timeout, and old datagrams expire
                run.now += run.step * (1 + in.below(8));
                if (op & 8) run.re->expire(run.now, run.drops);
                break;
        }
    }
}

}  // namespace
}  // namespace pcscf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace pcscf;
    using namespace pcscf::fuzz;
    FuzzInput in(data, size);
    ipfrag::ReassemblyConfig cfg;
    cfg.max_flows = kMaxFlows[in.below(std::size(kMaxFlows))];
    cfg.max_datagram = kMaxDatagram[in.below(std::size(kMaxDatagram))];
    cfg.timeout_ms = kTimeoutMs;
    rte_mempool* big = big_pool();
    const unsigned small_free = rte_mempool_avail_count(test::test_pool());
    const unsigned big_free = rte_mempool_avail_count(big);
    {
        Run run(cfg);
        play(in, run);
        run.re->expire(run.now + run.step * 4000, run.drops);
        for (size_t r = 0; r < net::kDropReasonCount; ++r) {
            const auto why = net::DropReason(r);
            require(run.drops[why] == 0 || why == DropReason::fragment_invalid ||
                        why == DropReason::reassembly_failed || why == DropReason::reassembly_timeout,
                    "a drop reason reassembly never gives");
        }
        require(rte_mempool_avail_count(test::test_pool()) == small_free, "fragment mbufs leaked");
        require(rte_mempool_avail_count(big) == big_free, "reassembly buffers leaked");
    }
    return 0;
}
