// pcscf-espd: the P-CSCF's ESP datapath. See docs/operations.md.
#include <cstdio>

#include "control/daemon/daemon.hpp"
#include "control/daemon/options.hpp"

int main(int argc, char** argv) {
    const auto parsed = pcscf::ctl::parse_options(argc, argv);
    if (!parsed.options) {
        if (parsed.help) {
            std::printf("%s", parsed.options.error().c_str());
            return 0;
        }
        std::fprintf(stderr, "pcscf-espd: %s\n(pcscf-espd --help lists the options)\n",
                     parsed.options.error().c_str());
        return 2;
    }
    return pcscf::ctl::Daemon::main(*parsed.options, argv[0]);
}
