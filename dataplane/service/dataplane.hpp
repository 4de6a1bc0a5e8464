#pragma once
// The running datapath: the access port and the tap, one Worker per worker lcore, their
// memory pools and the rings that join them to the control thread.
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/service/frame.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/service_config.hpp"
#include "dataplane/service/worker.hpp"

namespace pcscf::dp {

class Dataplane {
public:
    // Needs EAL started, with at least cfg.workers worker lcores (cfg.worker_lcores).
    static std::expected<std::unique_ptr<Dataplane>, std::string> create(const ServiceConfig& cfg);
    ~Dataplane();

    void start();  // launches the workers on their lcores
    void stop();   // stops them, frees every buffered packet, stops the ports
    // Applies an SA record straight to a worker's engine, before start() (an SA taken back
    // from the state store): as the worker would, 0 and the SA's place, or a negative errno.
    int preload(uint32_t worker, const esp::SaRecord& rec, int32_t& handle) noexcept;
    // A standby's workers drop ESP both ways (Worker::set_serving_flag) until it serves.
    void set_serving(bool on) noexcept { serving_.store(on); }
    bool serving() const noexcept { return serving_.load(); }

    const ServiceConfig& config() const noexcept { return cfg_; }
    Rings& rings() noexcept { return *rings_; }
    uint32_t workers() const noexcept { return uint32_t(workers_.size()); }
    const Worker& worker(uint32_t i) const noexcept { return *workers_[i]; }
    Worker& worker(uint32_t i) noexcept { return *workers_[i]; }
    uint16_t access_port() const noexcept { return access_; }
    uint16_t tap_port() const noexcept { return tap_; }
    const std::string& access_mac() const noexcept { return mac_; }
    const AccessVlan& access_vlan() const noexcept { return access_vlan_; }
    // How ESP reaches its SA's worker: rte_flow rules by SPI, or handed over (esp_steering.hpp).
    const std::string& esp_steering() const noexcept { return esp_steering_; }

private:
    explicit Dataplane(const ServiceConfig& cfg) : cfg_(cfg) {}
    std::expected<void, std::string> build();

    ServiceConfig cfg_;
    LocalAddrs local_;
    std::unique_ptr<Rings> rings_;
    std::vector<rte_mempool*> pools_;
    std::vector<std::unique_ptr<Worker>> workers_;
    uint16_t access_ = 0, tap_ = 0;
    bool ports_started_ = false;
    std::string mac_;
    AccessVlan access_vlan_;
    std::string esp_steering_;
    std::atomic<bool> running_{false};
    std::atomic<bool> serving_{true};
};

}  // namespace pcscf::dp
