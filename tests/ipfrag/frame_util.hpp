#pragma once
// Ethernet frames around the IP packets of the fragment vectors.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/common/hex.hpp"

namespace pcscf::test {

inline constexpr uint16_t kEth = 14;

inline std::vector<uint8_t> eth_frame(const std::vector<uint8_t>& ip) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    const bool v6 = !ip.empty() && (ip[0] >> 4) == 6;
    f.push_back(v6 ? 0x86 : 0x08);
    f.push_back(v6 ? 0xdd : 0x00);
    f.insert(f.end(), ip.begin(), ip.end());
    return f;
}

inline std::vector<std::vector<uint8_t>> split_hex_list(const std::string& s) {
    std::vector<std::vector<uint8_t>> out;
    size_t start = 0;
    while (start <= s.size()) {
        const size_t comma = s.find(',', start);
        const size_t end = comma == std::string::npos ? s.size() : comma;
        out.push_back(from_hex(std::string_view(s).substr(start, end - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

}  // namespace pcscf::test
