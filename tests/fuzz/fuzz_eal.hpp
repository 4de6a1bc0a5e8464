#pragma once
// Starts DPDK's EAL once per process for the fuzz targets that need mbufs (as
// tests/common/test_eal.hpp starts it), stopped at exit. The targets call it themselves,
// so the same code runs under libFuzzer's main and under the replay test's.
namespace pcscf::fuzz {

void start_eal();

}  // namespace pcscf::fuzz
