#include "dataplane/service/rings.hpp"

#include <rte_errno.h>

#include <algorithm>
#include <bit>

namespace pcscf::dp {

namespace {

std::expected<rte_ring*, std::string> make(const std::string& name, uint32_t esize, uint32_t count, int socket,
                                           unsigned flags) {
    rte_ring* r = rte_ring_create_elem(name.c_str(), esize, count, socket, flags);
    if (r == nullptr)
        return std::unexpected("cannot create ring " + name + " (" + std::to_string(count) + " x " +
                               std::to_string(esize) + " bytes): " + rte_strerror(rte_errno));
    return r;
}

}  // namespace

uint32_t handoff_per_pair(const RingSizes& sizes, uint32_t workers) noexcept {
    const uint32_t share = sizes.handoff / std::max(workers - 1, 1u);
    return std::bit_ceil(std::max(share, std::min(sizes.handoff, 256u)));
}

std::expected<std::unique_ptr<Rings>, std::string> Rings::create(uint32_t workers, const RingSizes& sizes, int socket) {
    std::unique_ptr<Rings> r(new Rings());
    const uint32_t per_pair = handoff_per_pair(sizes, workers);
    for (uint32_t w = 0; w < workers; ++w) {
        const std::string n = std::to_string(w);
        r->per_worker_.emplace_back();
        auto cmd = make("pcscf_cmd_" + n, sizeof(esp::SaRecord), sizes.commands, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!cmd) return std::unexpected(cmd.error());
        r->per_worker_.back().commands = *cmd;
        auto events =
            make("pcscf_events_" + n, sizeof(esp::SaEvent), sizes.events, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!events) return std::unexpected(events.error());
        r->per_worker_.back().events = *events;
        for (uint32_t from = 0; from < workers; ++from) {
            const std::string pair = std::to_string(from) + "_" + n;
            for (auto [kind, list] :
                 {std::pair{"esp", &r->per_worker_.back().esp}, {"plain", &r->per_worker_.back().plain}}) {
                if (from == w) {  // a worker never hands packets to itself
                    list->push_back(nullptr);
                    continue;
                }
                auto ring = make(std::string("pcscf_") + kind + pair, sizeof(void*), per_pair, socket,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
                if (!ring) return std::unexpected(ring.error());
                list->push_back(*ring);
            }
        }
    }
    return r;
}

uint32_t ControlRings::receive_events(std::span<esp::SaEvent> out) noexcept {
    uint32_t n = 0;
    for (const detail::PerWorker& w : w_)
        n += rte_ring_sc_dequeue_burst_elem(w.events, out.data() + n, sizeof(esp::SaEvent), uint32_t(out.size() - n),
                                            nullptr);
    return n;
}

uint16_t WorkerRings::take(const std::vector<rte_ring*>& from, std::span<rte_mbuf*> out) noexcept {
    const uint32_t n = uint32_t(from.size());
    uint32_t got = 0;
    for (uint32_t k = 0; k < n && got < out.size(); ++k) {
        const uint32_t w = (first_ + k) % n;
        if (w == i_) continue;
        got += rte_ring_sc_dequeue_burst(from[w], reinterpret_cast<void**>(out.data() + got),
                                         uint32_t(out.size() - got), nullptr);
    }
    first_ = (first_ + 1) % n;
    return uint16_t(got);
}

RecordRuns WorkerRings::peek_records(uint32_t max) noexcept {
    rte_ring_zc_data zc{};
    const uint32_t n = rte_ring_dequeue_zc_burst_elem_start(w_[i_].commands, sizeof(esp::SaRecord), max, &zc, nullptr);
    if (n == 0) return {};
    // The records were copied in whole by send(), so they are objects of their type there.
    return {{static_cast<const esp::SaRecord*>(zc.ptr1), zc.n1},
            {static_cast<const esp::SaRecord*>(zc.ptr2), n - zc.n1}};
}

Rings::~Rings() {
    for (auto& w : per_worker_) {
        rte_ring_free(w.commands);
        rte_ring_free(w.events);
        for (rte_ring* r : w.esp) rte_ring_free(r);
        for (rte_ring* r : w.plain) rte_ring_free(r);
    }
}

}  // namespace pcscf::dp
