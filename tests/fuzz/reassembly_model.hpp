#pragma once
// The reference the reassembly fuzz target holds every reassembled datagram to. It keeps
// the fragments fed, grouped by what names a datagram (source, destination and
// identification: RFC 791, RFC 8200), and for each byte offset the byte they put there
// (or that they disagree). A datagram is right if it is a reassembly of those fragments:
// the link and IP header of a first fragment, made whole (no more-fragments flag or
// offset, the total length, a valid IPv4 checksum; IPv6 without its fragment header), a
// length where a last fragment ends, and every byte one that a fragment put there.
#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace pcscf::fuzz {

class ReassemblyModel {
public:
    // Records a frame handed to Reassembler::add (ignored unless it is an IP fragment).
    void fed(std::span<const uint8_t> frame, uint16_t l2_len);
    // "" if `frame`, which Reassembler::add returned with `l2_len` bytes of link header,
    // is a reassembly of the fragments fed; otherwise what is wrong with it.
    std::string check(std::span<const uint8_t> frame, uint16_t l2_len) const;

private:
    struct Key {
        int version;
        std::array<uint8_t, 16> src, dst;
        uint32_t id;
        auto operator<=>(const Key&) const = default;
    };
    struct Fragment {
        std::vector<uint8_t> link;    // the link header
        std::vector<uint8_t> header;  // IPv4 header with options; IPv6 fixed + fragment header
        uint32_t offset, len;
        bool more;
    };
    static constexpr int16_t kUnseen = -1, kConflict = 256;
    struct Datagram {
        std::vector<Fragment> fragments;
        std::vector<int16_t> bytes;                            // by payload offset: a byte, kUnseen or kConflict
        std::map<uint32_t, std::vector<uint8_t>> conflicting;  // offset: every byte seen there
    };
    std::string check_against(const Datagram& d, std::span<const uint8_t> frame, uint16_t l2_len) const;

    std::map<Key, Datagram> datagrams_;
};

}  // namespace pcscf::fuzz
