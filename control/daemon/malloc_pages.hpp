#pragma once
// glibc's malloc in transparent huge pages. A restore or a takeover builds hundreds of MiB
// of registry at once; in 4 KiB pages most of its time is page faults (docs/performance.md,
// "What survives a restart"). The tunable is read only when a process starts, so the
// daemon starts itself again, once, with it set.
#include <string>

namespace pcscf::ctl {

// Unless GLIBC_TUNABLES names glibc.malloc.hugetlb already (an operator's choice, 0
// included), sets glibc.malloc.hugetlb=1 and re-executes /proc/self/exe with `argv`; returns
// only if it is set already or the exec failed.
void exec_with_huge_malloc_pages(char** argv);
// For the log: whether malloc asks for huge pages, and whether the kernel gives them.
std::string malloc_pages_summary();

}  // namespace pcscf::ctl
