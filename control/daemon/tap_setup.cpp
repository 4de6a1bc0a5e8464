#include "control/daemon/tap_setup.hpp"

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace pcscf::ctl {

namespace {

Expected<void> run(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
        return fail(Errc::io, "cannot run " + args[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::string line;
    for (const auto& a : args) line += a + " ";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail(Errc::refused, "failed: " + line);
    return {};
}

}  // namespace

Expected<void> configure_tap(const std::string& tap, const std::vector<LocalAddress>& addrs, unsigned mtu) {
    // IPv6 duplicate address detection would hold the address back for a second or more.
    if (auto r = run({"sysctl", "-qw", "net.ipv6.conf." + tap + ".accept_dad=0"}); !r) return r;
    for (const auto& a : addrs) {
        std::vector<std::string> cmd = {"ip", "addr", "replace", a.text, "dev", tap};
        if (!a.addr.is_v4()) cmd.push_back("nodad");
        if (auto r = run(cmd); !r) return r;
    }
    return run({"ip", "link", "set", "dev", tap, "mtu", std::to_string(mtu), "up"});
}

}  // namespace pcscf::ctl
