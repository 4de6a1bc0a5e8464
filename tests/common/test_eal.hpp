#pragma once
// DPDK's EAL for a test or fuzz program: in memory, without hugepages, PCI, telemetry or
// shared config (DPDK 22.11 refuses --no-huge with --in-memory), with a file prefix of
// the process's own, so test programs and fuzzers run side by side.
namespace pcscf::test {

// `prog` names the program, `prefix` its kind ("pcscf_test", "pcscf_fuzz"). False if EAL
// did not start.
bool start_test_eal(const char* prog, const char* prefix, unsigned memory_mb);
// Stops EAL and removes the runtime directory it would leave behind, one per run.
void stop_test_eal();

}  // namespace pcscf::test
