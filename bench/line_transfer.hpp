#pragma once
// What a cache line costs to move between two CPUs: one line passed back and forth, each
// side waiting for the other's number before writing the next. A pipeline pays it for
// every line one CPU writes and the other then reads or writes (memory_latency prints it
// alone; pipeline_benchmark beside its figures).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace pcscf::bench {

// Nanoseconds per one-way transfer between threads on CPUs `a` (the calling thread, whose
// affinity is put back afterwards) and `b`; -1 if either could not be pinned.
inline double transfer_ns(int a, int b, size_t rounds) {
    alignas(64) std::atomic<uint64_t> line{0};
    const auto pin = [](int cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
    };
    cpu_set_t was, both;
    pthread_getaffinity_np(pthread_self(), sizeof was, &was);
    // The new thread starts with this one's CPUs: were that `a` alone, a real-time caller
    // spinning there would never let it run.
    CPU_ZERO(&both);
    CPU_SET(a, &both);
    CPU_SET(b, &both);
    pthread_setaffinity_np(pthread_self(), sizeof both, &both);
    std::atomic<bool> pinned{true};
    std::thread other([&] {
        if (!pin(b)) pinned = false;
        for (uint64_t i = 1; i <= 2 * rounds; i += 2) {
            while (line.load(std::memory_order_acquire) != i)
                if (!pinned) return;
            line.store(i + 1, std::memory_order_release);
        }
    });
    if (!pin(a)) pinned = false;
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 1; i <= 2 * rounds && pinned; i += 2) {
        line.store(i, std::memory_order_release);
        while (line.load(std::memory_order_acquire) != i + 1 && pinned) {
        }
    }
    const auto t1 = std::chrono::steady_clock::now();
    other.join();
    pthread_setaffinity_np(pthread_self(), sizeof was, &was);
    if (!pinned) return -1;
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(2 * rounds);
}

}  // namespace pcscf::bench
