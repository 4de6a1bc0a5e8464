#include "control/daemon/startup_checks.hpp"

#include <rte_eal.h>
#include <rte_errno.h>

#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace pcscf::ctl {

bool start_eal(std::vector<char*>& argv) {
    std::fflush(stdout);
    const int saved = ::dup(STDOUT_FILENO);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0) ::dup2(null, STDOUT_FILENO);
    const int rc = rte_eal_init(int(argv.size()), argv.data());
    const int err = rte_errno;
    std::fflush(stdout);
    if (saved >= 0) {
        ::dup2(saved, STDOUT_FILENO);
        ::close(saved);
    }
    if (null >= 0) ::close(null);
    rte_errno = err;
    return rc >= 0;
}

std::string dpdk_runtime_dir(const std::string& prefix) {
    const char* xdg = ::getenv("XDG_RUNTIME_DIR");
    const std::string base = ::getuid() == 0 ? "/var/run" : (xdg != nullptr && *xdg ? xdg : "/tmp");
    return base + "/dpdk/" + prefix;
}

std::string running_instance(const std::string& prefix) {
    const std::string path = dpdk_runtime_dir(prefix) + "/dpdk_telemetry.v2";
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) return "";
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    const bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
    ::close(fd);
    return answers ? path : "";
}

Expected<void> share_telemetry(const std::string& group) {
    const ::group* g = ::getgrnam(group.c_str());
    if (g == nullptr) return fail(Errc::invalid, "--telemetry-group: no group " + group);
    const std::string dir = rte_eal_get_runtime_dir();
    const std::string parent = dir.substr(0, dir.rfind('/'));
    for (const auto& [path, mode] :
         {std::pair{parent, 0750}, std::pair{dir, 0750}, std::pair{dir + "/dpdk_telemetry.v2", 0660}})
        if (::chown(path.c_str(), uid_t(-1), g->gr_gid) != 0 || ::chmod(path.c_str(), mode_t(mode)) != 0)
            return fail(Errc::io, "--telemetry-group " + group + ": " + path + ": " + std::strerror(errno));
    return {};
}

bool has_local_address(const net::IpAddr& a) {
    if (a.is_v4() && a.v4_bytes()[0] == 127) return true;  // the kernel's local route holds all of 127/8
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return true;  // cannot tell: do not refuse
    bool found = false;
    for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        if (i->ifa_addr->sa_family == AF_INET && a.is_v4())
            found = net::IpAddr::v4(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr) == a;
        else if (i->ifa_addr->sa_family == AF_INET6 && !a.is_v4())
            found = net::IpAddr::v6(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr) == a;
    }
    ::freeifaddrs(list);
    return found;
}

}  // namespace pcscf::ctl
