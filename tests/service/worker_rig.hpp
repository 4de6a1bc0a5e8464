#pragma once
// A real dp::Worker on net_ring ports, polled by hand (no namespaces, no hugepages): the
// test writes frames into the ports' receive rings and reads what the worker sends from
// their transmit rings, and talks to it over the real SA rings.
#include <gtest/gtest.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/service/ports.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/worker.hpp"

namespace pcscf::dp {

class WorkerRig : public testing::Test {
protected:
    enum Side : uint8_t { access = 0, tap = 1 };

    // Worker 0 of cfg_.workers, with empty ports (the others' ends of the rings are the test's).
    void make_worker(uint32_t record_interval_us, RingSizes sizes = {}, AccessVlan vlan = {}) {
        static int serial = 0;
        const std::string tag = std::to_string(serial++);
        pool_ = rte_pktmbuf_pool_create(("wr_pkt" + tag).c_str(), 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
        for (const char* side : {"access", "tap"}) {
            const std::string name = "wr_" + tag + side;
            rte_ring* r[2];
            for (int k = 0; k < 2; ++k) {
                r[k] =
                    rte_ring_create((name + char('0' + k)).c_str(), 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
                ASSERT_NE(r[k], nullptr) << rte_strerror(rte_errno);
                port_rings_.push_back(r[k]);
            }
            const int id = rte_eth_from_rings(name.c_str(), &r[0], 1, &r[1], 1, SOCKET_ID_ANY);
            ASSERT_GE(id, 0) << rte_strerror(rte_errno);
            ASSERT_TRUE(start_port(PortSetup{uint16_t(id), 1, 64, 64, {pool_}, 1500}).has_value());
            ports_.push_back(uint16_t(id));
        }
        cfg_.record_interval_us = record_interval_us;
        cfg_.max_datagram = 1500;  // reassembly fits the pool's buffers
        cfg_.reassembly_flows = 16;
        cfg_.engine.spi = esp::SpiLayout{0x1000, cfg_.workers, 256};
        cfg_.engine.outbound_capacity = 64;
        auto rings = Rings::create(cfg_.workers, sizes, SOCKET_ID_ANY);
        ASSERT_TRUE(rings.has_value()) << rings.error();
        rings_ = std::move(*rings);
        auto parts = make_worker_parts(cfg_, 0, pool_, pool_, pool_, SOCKET_ID_ANY);
        ASSERT_TRUE(parts.has_value()) << parts.error();
        parts->access_port = ports_[0];
        parts->tap_port = ports_[1];
        parts->access_vlan = vlan;
        worker_ = std::make_unique<Worker>(cfg_, local_, rings_->worker(0), std::move(*parts));
    }

    void TearDown() override {
        worker_.reset();
        rings_.reset();
        for (uint16_t p : ports_) stop_port(p);
        for (rte_ring* r : port_rings_) {
            void* m;
            while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            rte_ring_free(r);
        }
        rte_mempool_free(pool_);
    }

    // A frame arriving on a port, as its PMD would hand it to the worker.
    void receive(Side side, const std::vector<uint8_t>& frame) { receive(side, mbuf_of(frame)); }
    void receive(Side side, rte_mbuf* m) {
        ASSERT_NE(m, nullptr);
        ASSERT_EQ(rte_ring_enqueue(port_rings_[2 * side], m), 0);
    }
    rte_mbuf* mbuf_of(const std::vector<uint8_t>& frame) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        if (m == nullptr || rte_pktmbuf_append(m, uint16_t(frame.size())) == nullptr) return nullptr;
        std::memcpy(rte_pktmbuf_mtod(m, void*), frame.data(), frame.size());
        return m;
    }

    // A frame the worker sent, with what it asked of the port.
    struct Sent {
        std::vector<uint8_t> bytes;
        uint64_t ol_flags = 0;
        uint16_t vlan_tci = 0;
    };
    std::vector<Sent> sent_frames(Side side) {
        std::vector<Sent> out;
        void* m;
        while (rte_ring_dequeue(port_rings_[2 * side + 1], &m) == 0) {
            auto* mb = static_cast<rte_mbuf*>(m);
            const auto* d = rte_pktmbuf_mtod(mb, const uint8_t*);
            out.push_back({{d, d + mb->data_len}, mb->ol_flags, mb->vlan_tci});
            rte_pktmbuf_free(mb);
        }
        return out;
    }
    std::vector<std::vector<uint8_t>> sent(Side side) {
        std::vector<std::vector<uint8_t>> out;
        for (auto& f : sent_frames(side)) out.push_back(std::move(f.bytes));
        return out;
    }

    // An outbound SA installed in the worker before it polls: what the tap sends from
    // `pcscf`:`pcscf_port` to `ue`:`ue_port` leaves as ESP.
    void preload_outbound(const net::IpAddr& ue, uint16_t ue_port, const net::IpAddr& pcscf, uint16_t pcscf_port) {
        esp::SaRecord out;
        out.sa.dir = esp::Direction::outbound;
        out.sa.spi = 0x2001;
        out.sa.ue_addr = ue;
        out.sa.ue_port = ue_port;
        out.sa.pcscf_addr = pcscf;
        out.sa.pcscf_port = pcscf_port;
        int32_t handle = -1;
        ASSERT_EQ(worker_->preload(out, handle), 0);
    }

    void polls(int n) {
        for (int i = 0; i < n; ++i) worker_->poll();
    }

    ServiceConfig cfg_;
    LocalAddrs local_;
    rte_mempool* pool_ = nullptr;
    std::vector<rte_ring*> port_rings_;  // per side: receive, transmit
    std::vector<uint16_t> ports_;
    std::unique_ptr<Rings> rings_;
    std::unique_ptr<Worker> worker_;
};

}  // namespace pcscf::dp
