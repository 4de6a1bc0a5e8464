#pragma once
// Packet buffers for a net_af_xdp port. DPDK 22.11's af_xdp PMD gives the kernel the
// receive pool itself as the AF_XDP UMEM, and sizes that UMEM as if the pool's objects lay
// back to back from the start of its first memory chunk: populated_size x object size.
// rte_pktmbuf_pool_create does not lay them out so: no object may cross a page, so without
// hugepages each 2368-byte object takes a 4 KiB page of its own (3456 of 8191 lie past the
// UMEM's end), and with 2 MiB pages the last few do. The kernel takes such a buffer, posted
// on the fill ring, for an invalid descriptor and drops it, never to be returned; each
// refill with one shrinks the fill ring for good, until it is empty and the port receives
// nothing more. (On the TX ring they are dropped the same way.)
//
// This pool is laid out as the PMD assumes: 4 KiB objects tiling a zone of their own, so
// every buffer lies inside the UMEM and none crosses a page. A buffer holds a frame of
// 3520 bytes (umem_frame_room); the kernel drops larger ones. The PMD claims 3560: it
// counts the object header as 24 bytes where the pool pads it to 64.
#include <rte_mempool.h>

#include <cstdint>
#include <expected>
#include <string>

namespace pcscf::dp {

inline constexpr uint32_t kUmemFrame = 4096;  // bytes per object, header and mbuf included

// Whether `port` is driven by net_af_xdp (its receive pools become its UMEMs).
bool is_af_xdp(uint16_t port) noexcept;

// A packet mbuf pool of `n` buffers laid out for net_af_xdp (see above).
std::expected<rte_mempool*, std::string> make_umem_pool(const std::string& name, uint32_t n, int socket);

// The largest frame the kernel writes into a buffer of `mp`: what follows our headroom and
// the kernel's XDP headroom.
uint32_t umem_frame_room(rte_mempool* mp) noexcept;

// Whether every object of `mp` lies inside the UMEM the af_xdp PMD would register for it;
// if not, how many lie outside.
std::expected<void, std::string> check_umem_layout(rte_mempool* mp);

}  // namespace pcscf::dp
