#include "dataplane/service/dataplane.hpp"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cerrno>

#include "dataplane/service/esp_steering.hpp"
#include "dataplane/service/ports.hpp"
#include "dataplane/service/umem_pool.hpp"

namespace pcscf::dp {

namespace {

std::expected<rte_mempool*, std::string> make_pool(const std::string& name, uint32_t n, uint32_t data_room,
                                                   int socket) {
    rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), n, n >= 512 ? 256 : 0, 0, uint16_t(data_room), socket);
    if (p == nullptr)
        return std::unexpected("cannot create mbuf pool " + name + " (" + std::to_string(n) + " x " +
                               std::to_string(data_room) + " bytes): " + rte_strerror(rte_errno) +
                               "; reserve more hugepages or lower --mbufs");
    return p;
}

struct Launch {
    Worker* worker;
    const std::atomic<bool>* running;
};

int worker_main(void* arg) {
    auto* l = static_cast<Launch*>(arg);
    l->worker->run(*l->running);
    delete l;
    return 0;
}

}  // namespace

std::expected<std::unique_ptr<Dataplane>, std::string> Dataplane::create(const ServiceConfig& cfg) {
    std::unique_ptr<Dataplane> d(new Dataplane(cfg));
    if (auto r = d->build(); !r) return std::unexpected(r.error());
    return d;
}

std::expected<void, std::string> Dataplane::build() {
    if (cfg_.workers == 0 || cfg_.worker_lcores.size() < cfg_.workers)
        return std::unexpected("need " + std::to_string(cfg_.workers) + " worker lcores, EAL has " +
                               std::to_string(cfg_.worker_lcores.size()) +
                               " (give --lcores one more than --workers: the first runs the control thread)");
    for (const auto& a : cfg_.local_addrs)
        if (!local_.add(a)) return std::unexpected(std::string("too many local addresses"));
    if (local_.size() == 0) return std::unexpected(std::string("no local (P-CSCF access) address given"));

    auto access = find_port(cfg_.access_port);
    if (!access) return std::unexpected(access.error());
    access_ = *access;
    rte_ether_addr mac{};
    if (int rc = rte_eth_macaddr_get(access_, &mac); rc != 0)
        return std::unexpected("reading the access port's MAC: " + std::string(rte_strerror(-rc)));
    mac_ = mac_string(mac);
    // The kernel's tap gets the NIC's MAC: the host then looks like one machine on the link.
    auto tap = create_tap(cfg_.tap_name, mac);
    if (!tap) return std::unexpected(tap.error());
    tap_ = *tap;

    auto rings = Rings::create(cfg_.workers, RingSizes{}, int(rte_socket_id()));
    if (!rings) return std::unexpected(rings.error());
    rings_ = std::move(*rings);

    PortSetup access_setup{access_, uint16_t(cfg_.workers), cfg_.rx_ring, cfg_.tx_ring, {}, cfg_.access_mtu};
    PortSetup tap_setup{tap_, uint16_t(cfg_.workers), cfg_.rx_ring, cfg_.tx_ring, {}, cfg_.tap_mtu};
    auto vlan = plan_access_vlan(cfg_.access_vlan, access_setup);
    if (!vlan) return std::unexpected("access port " + cfg_.access_port + ": " + vlan.error());
    access_vlan_ = *vlan;
    const uint32_t big_room = std::min<uint32_t>(UINT16_MAX, cfg_.max_datagram + kEthLen + RTE_PKTMBUF_HEADROOM);
    // net_af_xdp receives into the pool itself: it must be laid out as its UMEM.
    const bool umem = is_af_xdp(access_);
    for (uint32_t w = 0; w < cfg_.workers; ++w) {
        const unsigned lcore = cfg_.worker_lcores[w];
        const int socket = int(rte_lcore_to_socket_id(lcore));
        const std::string n = std::to_string(w);
        auto pkt = umem ? make_umem_pool("pcscf_pkt_" + n, cfg_.mbufs, socket)
                        : make_pool("pcscf_pkt_" + n, cfg_.mbufs, rx_data_room(access_), socket);
        if (!pkt) return std::unexpected(pkt.error());
        pools_.push_back(*pkt);
        auto big = make_pool("pcscf_big_" + n, 128, big_room, socket);
        if (!big) return std::unexpected(big.error());
        pools_.push_back(*big);
        auto indirect = make_pool("pcscf_ind_" + n, 4095, 0, socket);
        if (!indirect) return std::unexpected(indirect.error());
        pools_.push_back(*indirect);
        access_setup.rx_pools.push_back(*pkt);
        if (umem) access_setup.max_frame = umem_frame_room(*pkt);
        tap_setup.rx_pools.push_back(*pkt);

        auto parts = make_worker_parts(cfg_, w, *pkt, *big, *indirect, socket);
        if (!parts) return std::unexpected("worker " + n + ": " + parts.error());
        parts->access_port = access_;
        parts->tap_port = tap_;
        parts->access_vlan = access_vlan_;
        workers_.push_back(std::make_unique<Worker>(cfg_, local_, rings_->worker(w), std::move(*parts)));
        workers_.back()->set_serving_flag(&serving_);
    }
    if (auto r = start_port(access_setup); !r)
        return std::unexpected("access port " + cfg_.access_port + ": " + r.error());
    if (auto r = start_port(tap_setup); !r) return std::unexpected("tap " + cfg_.tap_name + ": " + r.error());
    ports_started_ = true;
    // The kernel picks the tap's queue itself, so plain packets to protect are still handed over.
    esp_steering_ = describe(steer_esp(access_, cfg_.engine.spi, cfg_.access_vlan));
    return {};
}

void Dataplane::start() {
    running_.store(true);
    for (uint32_t w = 0; w < workers_.size(); ++w)
        rte_eal_remote_launch(worker_main, new Launch{workers_[w].get(), &running_}, cfg_.worker_lcores[w]);
}

int Dataplane::preload(uint32_t worker, const esp::SaRecord& rec, int32_t& handle) noexcept {
    if (running_.load() || worker >= workers_.size()) return -EBUSY;  // the worker owns its engine now
    return workers_[worker]->preload(rec, handle);
}

void Dataplane::stop() {
    if (running_.exchange(false))
        for (uint32_t w = 0; w < workers_.size(); ++w) rte_eal_wait_lcore(cfg_.worker_lcores[w]);
    for (auto& w : workers_) w->drain();
}

Dataplane::~Dataplane() {
    stop();
    if (ports_started_) {
        stop_port(access_);
        stop_port(tap_);
    }
    workers_.clear();  // engines and reassembly tables before the pools they use
    rings_.reset();
    for (auto* p : pools_) rte_mempool_free(p);
}

}  // namespace pcscf::dp
