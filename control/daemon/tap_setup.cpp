#include "control/daemon/tap_setup.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>

namespace pcscf::ctl {

namespace {

constexpr size_t kBuffer = 8192;  // a request or an acknowledgement here is under 200 bytes

struct CloseSocket {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using Socket = std::unique_ptr<mnl_socket, CloseSocket>;

// Sends one request and reads the kernel's acknowledgement (NLM_F_ACK): its error, if any.
Expected<void> request(mnl_socket* nl, nlmsghdr* msg, const std::string& doing) {
    msg->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    msg->nlmsg_seq = uint32_t(std::time(nullptr));
    if (mnl_socket_sendto(nl, msg, msg->nlmsg_len) < 0)
        return fail(Errc::io, doing + ": netlink: " + std::strerror(errno));
    char buf[kBuffer];
    const ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) return fail(Errc::io, doing + ": netlink: " + std::strerror(errno));
    if (mnl_cb_run(buf, size_t(n), msg->nlmsg_seq, mnl_socket_get_portid(nl), nullptr, nullptr) < 0)
        return fail(Errc::refused, doing + ": " + std::strerror(errno));
    return {};
}

// RTM_NEWADDR, replacing an address already there; IPv6 without duplicate address
// detection, which would hold it back for a second or more.
Expected<void> add_address(mnl_socket* nl, unsigned ifindex, const LocalAddress& a, const std::string& tap) {
    char buf[kBuffer];
    nlmsghdr* msg = mnl_nlmsg_put_header(buf);
    msg->nlmsg_type = RTM_NEWADDR;
    msg->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(ifaddrmsg)));
    ifa->ifa_family = a.addr.is_v4() ? AF_INET : AF_INET6;
    ifa->ifa_prefixlen = uint8_t(a.prefix);
    ifa->ifa_index = ifindex;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    const void* bytes = a.addr.is_v4() ? static_cast<const void*>(a.addr.v4_bytes()) : a.addr.bytes.data();
    const size_t len = a.addr.is_v4() ? 4 : 16;
    mnl_attr_put(msg, IFA_LOCAL, len, bytes);
    mnl_attr_put(msg, IFA_ADDRESS, len, bytes);
    if (!a.addr.is_v4()) {
        ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put_u32(msg, IFA_FLAGS, IFA_F_NODAD);
    }
    return request(nl, msg, "adding " + a.text + " to " + tap);
}

// RTM_NEWLINK on the tap: its MTU, and up.
Expected<void> bring_up(mnl_socket* nl, unsigned ifindex, unsigned mtu, const std::string& tap) {
    char buf[kBuffer];
    nlmsghdr* msg = mnl_nlmsg_put_header(buf);
    msg->nlmsg_type = RTM_NEWLINK;
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = int(ifindex);
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    mnl_attr_put_u32(msg, IFLA_MTU, mtu);
    return request(nl, msg, "bringing " + tap + " up with MTU " + std::to_string(mtu));
}

}  // namespace

Expected<void> configure_tap(const std::string& tap, const std::vector<LocalAddress>& addrs, unsigned mtu) {
    const unsigned ifindex = if_nametoindex(tap.c_str());
    if (ifindex == 0) return fail(Errc::not_found, "no interface " + tap + " (the tap): " + std::strerror(errno));
    // Before the addresses, or their DAD has started already. A kernel without IPv6 has
    // no such file, and then no IPv6 address to add either.
    if (std::ofstream dad("/proc/sys/net/ipv6/conf/" + tap + "/accept_dad"); dad) dad << "0\n";
    Socket nl(mnl_socket_open(NETLINK_ROUTE));
    if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return fail(Errc::io, std::string("netlink socket: ") + std::strerror(errno));
    for (const auto& a : addrs)
        if (auto r = add_address(nl.get(), ifindex, a, tap); !r) return r;
    return bring_up(nl.get(), ifindex, mtu, tap);
}

}  // namespace pcscf::ctl
