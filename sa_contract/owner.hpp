#pragma once
// Which worker owns an SA: the one rule the control thread and the workers share. Every SA
// of a UE lives on the worker its address hashes to, so it needs no locks. The control
// thread allocates the UE's inbound SPIs from that worker's range (SpiLayout), so an
// inbound packet's SPI names the owner as well, and an outbound packet's UE address does.
#include <cstdint>
#include <cstring>

#include "net/ip_addr.hpp"
#include "sa_contract/sa_config.hpp"
#include "sa_contract/spi_layout.hpp"

namespace pcscf::esp {

// The worker of a UE's SAs: its address mixed to 64 bits (a multiply-xorshift finaliser,
// so consecutive addresses spread), reduced to the worker count.
inline uint32_t owner_of(const net::IpAddr& ue, uint32_t workers) noexcept {
    uint64_t w[2];
    std::memcpy(w, ue.bytes.data(), sizeof w);
    uint64_t h = w[0] * 0x9e3779b97f4a7c15ull ^ w[1];
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return uint32_t(h % workers);
}

// The worker of an inbound packet's SPI; `self` when the SPI is none of ours (the
// engine counts it as unknown there). `layout`: a SpiLayout, or a FastSpiLayout per packet.
template <class Layout>
inline uint32_t owner_of_spi(uint32_t spi, const Layout& layout, uint32_t self) noexcept {
    return layout.contains(spi) ? layout.owner(spi) : self;
}

}  // namespace pcscf::esp
