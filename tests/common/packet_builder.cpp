#include "tests/common/packet_builder.hpp"

#include <cstring>

namespace pcscf::test {

namespace {

void put16(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += uint32_t(p[n - 1] << 8);
    return acc;
}

uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc);
}

}  // namespace

std::vector<uint8_t> make_packet(const Flow& f, std::span<const uint8_t> payload) {
    const bool v4 = f.src.is_v4() && !f.force_v6;
    const size_t l3 = v4 ? 20 : 40;
    const size_t l4 = f.proto == 17 ? 8 : 20;
    std::vector<uint8_t> p(l3 + l4 + payload.size());
    uint8_t* ip = p.data();
    uint8_t* t = ip + l3;
    if (v4) {
        ip[0] = 0x45;
        put16(ip + 2, uint32_t(p.size()));
        put16(ip + 4, 0x1234);
        ip[8] = 64;
        ip[9] = f.proto;
        std::memcpy(ip + 12, f.src.v4_bytes(), 4);
        std::memcpy(ip + 16, f.dst.v4_bytes(), 4);
    } else {
        ip[0] = 0x60;
        put16(ip + 4, uint32_t(l4 + payload.size()));
        ip[6] = f.proto;
        ip[7] = 64;
        std::memcpy(ip + 8, f.src.bytes.data(), 16);
        std::memcpy(ip + 24, f.dst.bytes.data(), 16);
    }
    put16(t, f.sport);
    put16(t + 2, f.dport);
    if (f.proto == 17) {
        put16(t + 4, uint32_t(l4 + payload.size()));
    } else {
        put16(t + 4, 0x0102);  // sequence number
        t[12] = 5 << 4;        // data offset
        t[13] = 0x18;          // PSH ACK
        put16(t + 14, 65535);
    }
    if (!payload.empty()) std::memcpy(t + l4, payload.data(), payload.size());
    // Transport checksum over the pseudo header.
    const size_t tlen = l4 + payload.size();
    uint32_t acc = v4 ? sum16(ip + 12, 8) : sum16(ip + 8, 32);
    acc += f.proto + uint32_t(tlen);
    acc = sum16(t, tlen, acc);
    uint16_t c = fold(acc);
    if (f.proto == 17 && c == 0) c = 0xffff;
    put16(t + (f.proto == 17 ? 6 : 16), c);
    if (v4) fix_ipv4_checksum(p);
    return p;
}

std::vector<uint8_t> make_packet(const Flow& f, size_t payload_len) {
    std::vector<uint8_t> payload(payload_len);
    for (size_t i = 0; i < payload_len; ++i) payload[i] = uint8_t('A' + i % 26);
    return make_packet(f, payload);
}

std::vector<uint8_t> with_ethernet(std::span<const uint8_t> ip) {
    std::vector<uint8_t> f(14 + ip.size());
    for (int i = 0; i < 12; ++i) f[size_t(i)] = uint8_t(0x02 + i);
    f[12] = (ip[0] >> 4) == 4 ? 0x08 : 0x86;
    f[13] = (ip[0] >> 4) == 4 ? 0x00 : 0xdd;
    std::memcpy(f.data() + 14, ip.data(), ip.size());
    return f;
}

void fix_ipv4_checksum(std::vector<uint8_t>& p) {
    const size_t ihl = size_t(p[0] & 15) * 4;
    p[10] = p[11] = 0;
    put16(p.data() + 10, fold(sum16(p.data(), ihl)));
}

}  // namespace pcscf::test
