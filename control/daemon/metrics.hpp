#pragma once
// pcscf-espd's metrics for Prometheus (--metrics-listen): every datapath counter per worker,
// drops per reason, the SIP proxy's counters, SAs and registered UEs, the SA install
// latency histogram, the role and the build. The same sources telemetry reads, from the
// metrics thread (docs/operations.md, "Metrics").
#include <string>

#include "control/control_plane.hpp"
#include "control/daemon/role.hpp"
#include "dataplane/service/dataplane.hpp"

namespace pcscf::ctl {

struct MetricsSources {
    const dp::Dataplane* dataplane = nullptr;
    const SaManager* sas = nullptr;
    proxy::SipStatus* sip = nullptr;
    const RoleState* role = nullptr;
};

// The exposition: Prometheus' text format 0.0.4, or OpenMetrics 1.0 (counters' families
// without _total, "# EOF" at the end).
std::string render_metrics(const MetricsSources& src, bool openmetrics);

}  // namespace pcscf::ctl
