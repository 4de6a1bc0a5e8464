#include "control/daemon/malloc_pages.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string_view>

namespace pcscf::ctl {
namespace {

constexpr std::string_view kTunable = "glibc.malloc.hugetlb";

std::string tunables() {
    const char* t = std::getenv("GLIBC_TUNABLES");
    return t ? t : "";
}

}  // namespace

void exec_with_huge_malloc_pages(char** argv) {
    std::string t = tunables();
    if (t.find(kTunable) != std::string::npos) return;
    t = t.empty() ? std::string(kTunable) + "=1" : t + ":" + std::string(kTunable) + "=1";
    if (::setenv("GLIBC_TUNABLES", t.c_str(), 1) != 0) return;
    ::execv("/proc/self/exe", argv);  // the same program, options and pid
}

std::string malloc_pages_summary() {
    const std::string t = tunables();
    const auto at = t.find(kTunable);
    std::string mode;  // the kernel's: "always [madvise] never"
    std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), mode);
    const bool asked = at != std::string::npos && t.compare(at + kTunable.size(), 2, "=1") == 0;
    if (!asked) return "malloc: 4 KiB pages (GLIBC_TUNABLES does not set " + std::string(kTunable) + "=1)";
    if (mode.find("[never]") != std::string::npos)
        return "malloc: asks for transparent huge pages, but the kernel's are off "
               "(/sys/kernel/mm/transparent_hugepage/enabled: never)";
    return "malloc: transparent huge pages (" + std::string(kTunable) + "=1)";
}

}  // namespace pcscf::ctl
