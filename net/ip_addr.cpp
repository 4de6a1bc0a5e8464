#include "net/ip_addr.hpp"

#include <arpa/inet.h>

namespace pcscf::net {

std::expected<IpAddr, std::string> IpAddr::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
        return std::unexpected("not an IP address: '" + std::string(text) + "'");
    const std::string s(text);
    uint8_t buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) return v4(buf);
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return v6(buf);
    return std::unexpected("not an IP address: '" + s + "'");
}

std::string IpAddr::to_string() const {
    char out[INET6_ADDRSTRLEN];
    if (is_v4()) inet_ntop(AF_INET, v4_bytes(), out, sizeof out);
    else inet_ntop(AF_INET6, bytes.data(), out, sizeof out);
    return out;
}

}  // namespace pcscf::net
