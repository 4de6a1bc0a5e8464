#include "tests/fuzz/reassembly_model.hpp"

#include <algorithm>
#include <cstring>

#include "tests/fuzz/wire.hpp"

namespace pcscf::fuzz {

void ReassemblyModel::fed(std::span<const uint8_t> frame, uint16_t l2_len) {
    if (frame.size() <= l2_len) return;
    const uint8_t* ip = frame.data() + l2_len;
    const size_t avail = frame.size() - l2_len;
    Key key{};
    Fragment f;
    const uint8_t* payload = nullptr;
    if (ip[0] >> 4 == 4) {
        if (avail < 20) return;
        const uint32_t ihl = (ip[0] & 15u) * 4, total = be16(ip + 2), frag = be16(ip + 6);
        if (ihl < 20 || total <= ihl || total > avail || (frag & 0x3fff) == 0) return;
        key.version = 4;
        std::memcpy(key.src.data(), ip + 12, 4);
        std::memcpy(key.dst.data(), ip + 16, 4);
        key.id = be16(ip + 4);
        f.header.assign(ip, ip + ihl);
        f.offset = (frag & 0x1fff) * 8;
        f.more = frag & 0x2000;
        f.len = total - ihl;
        payload = ip + ihl;
    } else if (ip[0] >> 4 == 6) {
        if (avail < 48 || ip[6] != 44) return;  // the fragment header right after the fixed one
        const uint32_t payload_len = be16(ip + 4);
        if (40 + payload_len > avail || payload_len <= 8) return;
        key.version = 6;
        std::memcpy(key.src.data(), ip + 8, 16);
        std::memcpy(key.dst.data(), ip + 24, 16);
        key.id = be32(ip + 44);
        f.header.assign(ip, ip + 48);
        f.offset = be16(ip + 42) & 0xfff8;
        f.more = ip[43] & 1;
        f.len = payload_len - 8;
        payload = ip + 48;
    } else {
        return;
    }
    f.link.assign(frame.begin(), frame.begin() + l2_len);
    Datagram& d = datagrams_[key];
    if (d.bytes.size() < f.offset + f.len) d.bytes.resize(f.offset + f.len, kUnseen);
    for (uint32_t i = 0; i < f.len; ++i) {
        const uint32_t at = f.offset + i;
        const uint8_t b = payload[i];
        int16_t& slot = d.bytes[at];
        if (slot == kUnseen) {
            slot = b;
        } else if (slot == kConflict) {
            auto& seen = d.conflicting[at];
            if (std::find(seen.begin(), seen.end(), b) == seen.end()) seen.push_back(b);
        } else if (slot != b) {
            d.conflicting[at] = {uint8_t(slot), b};
            slot = kConflict;
        }
    }
    d.fragments.push_back(std::move(f));
}

std::string ReassemblyModel::check(std::span<const uint8_t> frame, uint16_t l2_len) const {
    if (frame.size() < l2_len + 20u) return "shorter than an IP header";
    const uint8_t* ip = frame.data() + l2_len;
    std::string why = "no fragment of its source, destination and identification was fed";
    for (const auto& [key, d] : datagrams_) {
        if (key.version != ip[0] >> 4) continue;
        if (key.version == 4 && (std::memcmp(key.src.data(), ip + 12, 4) != 0 ||
                                 std::memcmp(key.dst.data(), ip + 16, 4) != 0 || key.id != be16(ip + 4)))
            continue;
        // IPv6: the identification went with the fragment header; any of the pair's will do.
        if (key.version == 6 && (frame.size() < l2_len + 40u || std::memcmp(key.src.data(), ip + 8, 16) != 0 ||
                                 std::memcmp(key.dst.data(), ip + 24, 16) != 0))
            continue;
        why = check_against(d, frame, l2_len);
        if (why.empty()) return why;
    }
    return why;
}

std::string ReassemblyModel::check_against(const Datagram& d, std::span<const uint8_t> frame, uint16_t l2_len) const {
    const uint8_t* ip = frame.data() + l2_len;
    const auto size = uint32_t(frame.size() - l2_len);
    const bool v4 = ip[0] >> 4 == 4;
    const uint32_t hlen = v4 ? (ip[0] & 15u) * 4 : 40;
    if (hlen < 20 || hlen > size) return "IP header length outside the datagram";
    if (v4 && be16(ip + 2) != size) return "IPv4 total length is not the datagram's";
    if (v4 && ones_sum(ip, hlen) != 0xffff) return "IPv4 header checksum wrong";
    if (v4 && (be16(ip + 6) & 0x3fff) != 0) return "still marked as a fragment";
    if (!v4 && 40 + be16(ip + 4) != size) return "IPv6 payload length is not the datagram's";
    const uint32_t len = size - hlen;

    if (std::none_of(d.fragments.begin(), d.fragments.end(),
                     [&](const Fragment& f) { return !f.more && f.offset + f.len == len; }))
        return "no last fragment ends where the datagram does";
    auto made_whole = [&](const Fragment& f) {
        std::vector<uint8_t> h(f.header.begin(), f.header.begin() + (v4 ? f.header.size() : 40));
        if (v4) {
            put16(h.data() + 2, hlen + len);
            put16(h.data() + 6, be16(h.data() + 6) & 0x4000);  // DF stays
            set_ipv4_checksum(h.data(), h.size());
        } else {
            h[6] = f.header[40];  // the fragment header's next header
            put16(h.data() + 4, len);
        }
        return h;
    };
    const std::span<const uint8_t> link = frame.first(l2_len), header(ip, hlen);
    if (std::none_of(d.fragments.begin(), d.fragments.end(), [&](const Fragment& f) {
            return f.offset == 0 && std::ranges::equal(f.link, link) && std::ranges::equal(made_whole(f), header);
        }))
        return "link or IP header is not a first fragment's made whole";

    if (d.bytes.size() < len) return "longer than every fragment reaches";
    for (uint32_t at = 0; at < len; ++at) {
        const uint8_t b = ip[hlen + at];
        const int16_t slot = d.bytes[at];
        const bool ok = slot == kConflict ? std::ranges::count(d.conflicting.at(at), b) > 0 : slot == b;
        if (!ok)
            return "payload byte " + std::to_string(at) +
                   (slot == kUnseen ? " was in no fragment" : " is none a fragment put there");
    }
    return "";
}

}  // namespace pcscf::fuzz
