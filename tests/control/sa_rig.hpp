#pragma once
// SaManager on real rings and real engines, two workers. step() is what each worker
// lcore does between bursts (take the records, apply them, acknowledge on the event
// ring: the worker's own code), then the control thread's pump.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "control/sa/sa_manager.hpp"
#include "dataplane/esp/engine.hpp"
#include "dataplane/service/record_apply.hpp"

namespace pcscf::test {

// What the default policy lists, best first (a 494's Security-Server, RFC 3329 2.3.1):
// every pair TS 33.203 Annex H allows, by ealg first, then by alg; the AEAD pairs written
// as Annex H has them.
inline constexpr std::string_view kDefaultMechanisms =
    "ipsec-3gpp;alg=null;ealg=aes-gcm;prot=esp;mod=trans;q=1, "
    "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;q=0.9, "
    "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans;q=0.8, "
    "ipsec-3gpp;alg=hmac-sha-1-96;ealg=des-ede3-cbc;prot=esp;mod=trans;q=0.7, "
    "ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;prot=esp;mod=trans;q=0.6, "
    "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;q=0.5, "
    "ipsec-3gpp;alg=aes-gmac;ealg=null;prot=esp;mod=trans;q=0.4, "
    "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;q=0.3";

struct SaRig {
    static constexpr uint32_t kWorkers = 2;

    SaRig() {
        layout.base = 0x1000;
        layout.workers = kWorkers;
        layout.slots_per_worker = 64;
        dp::RingSizes sizes;
        sizes.commands = 64;
        auto r = dp::Rings::create(kWorkers, sizes, SOCKET_ID_ANY);
        if (!r) throw std::runtime_error(r.error());
        rings = std::move(*r);
        for (uint32_t w = 0; w < kWorkers; ++w) {
            esp::EngineConfig ec;
            ec.worker = w;
            ec.spi = layout;
            ec.outbound_capacity = 256;
            auto e = esp::Engine::create(ec);
            if (!e) throw std::runtime_error(e.error());
            engines.push_back(std::move(*e));
        }
        sas.emplace(rings->control(), layout);
    }

    // What each worker does with the records waiting for it (dp::apply_and_acknowledge,
    // as dp::Worker), then the control thread's pump.
    void step() {
        apply_records();
        sas->pump();
    }
    // The workers' part alone.
    void apply_records() {
        for (uint32_t w = 0; w < kWorkers; ++w) {
            esp::SaEvent acks[dp::kMaxRecords];
            dp::WorkerRings mine = rings->worker(w);
            for (dp::RecordRuns recs; (recs = mine.peek_records(dp::kMaxRecords)).size() > 0;) {
                for (uint32_t i = 0; i < recs.size(); ++i) records.push_back(recs[i]);
                dp::apply_and_acknowledge(*engines[w], recs, w, acks);
                EXPECT_EQ(mine.post_events({acks, recs.size()}), recs.size());
                mine.release_records(recs.size());
            }
        }
    }

    // What a worker raises when a packet from behind a NAT verifies on inbound SA `id` from
    // a NAT port its SA did not have (TS 33.203 Annex M), handled as the pump would.
    void nat_port_seen(ctl::SaId id, uint16_t port) {
        esp::SaEvent e;
        e.kind = esp::EventKind::encap_port;
        e.dir = esp::Direction::inbound;
        e.cookie = id;
        e.encap_port = port;
        sas->handle(e);
    }

    size_t inbound_in_engines() const {
        size_t n = 0;
        for (const auto& e : engines) n += e->inbound_sas().count();
        return n;
    }
    size_t outbound_in_engines() const {
        size_t n = 0;
        for (const auto& e : engines) n += e->outbound_sas().count();
        return n;
    }

    esp::SpiLayout layout;
    std::unique_ptr<dp::Rings> rings;
    std::vector<std::unique_ptr<esp::Engine>> engines;
    std::optional<ctl::SaManager> sas;
    std::vector<esp::SaRecord> records;  // every record the workers took, in order
};

}  // namespace pcscf::test
