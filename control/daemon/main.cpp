// pcscf-espd: the P-CSCF's ESP datapath. See docs/operations.md.
#include <cstdio>

#include "control/daemon/daemon.hpp"
#include "control/daemon/malloc_pages.hpp"
#include "control/daemon/options.hpp"

int main(int argc, char** argv) {
    const auto parsed = pcscf::ctl::parse_options(argc, argv);
    if (!parsed) {
        std::fprintf(stderr, "pcscf-espd: %s\n(pcscf-espd --help lists the options)\n", parsed.error().message.c_str());
        return 2;
    }
    if (const auto* help = std::get_if<pcscf::ctl::ShowHelp>(&*parsed)) {
        std::printf("%s", help->text.c_str());
        return 0;
    }
    if (std::holds_alternative<pcscf::ctl::ShowVersion>(*parsed)) {
        std::printf("%s\n", pcscf::ctl::version_text().c_str());
        return 0;
    }
    pcscf::ctl::exec_with_huge_malloc_pages(argv);
    return pcscf::ctl::Daemon::main(std::get<pcscf::ctl::DaemonOptions>(*parsed), argc, argv);
}
