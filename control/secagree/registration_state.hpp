#pragma once
// A UE's registration as the state store keeps it, under "ue/<IMPI>/<UE address>": its
// IMPUs, its current set and the kept old pair of TS 33.203 7.4.2a with their expiries
// (wall-clock: steady time does not survive a restart), which client port comes next,
// and the transport it registered over. A registration attempt under way (SM1 to SM7) is
// not kept: after a restart the UE's SM7 finds nothing and it starts again from SM1.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/error.hpp"
#include "control/secagree/sa_set.hpp"

namespace pcscf::secagree {

struct StoredRegistration {
    std::string impi;
    net::IpAddr ue;
    std::vector<std::string> impus;
    std::optional<SaSet> current;
    std::chrono::system_clock::time_point current_expiry;
    std::optional<SaSet> kept;  // only its in_ps / out_uc pair (the other ids are 0)
    std::chrono::system_clock::time_point kept_expiry;
    uint32_t next_port_pc = 0;
    bool tcp = false;
    std::vector<std::string> service_route;  // from the registration's 200 (RFC 3608)
};

std::string registration_key(const std::string& impi, const net::IpAddr& ue);
inline constexpr std::string_view kRegistrationPrefix = "ue/";

std::string encode(const StoredRegistration& r);
ctl::Expected<StoredRegistration> decode_registration(std::string_view value);

}  // namespace pcscf::secagree
