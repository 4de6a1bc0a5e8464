#pragma once
// Where the Redis state store is: redis://[[user]:password@]host[:port][/db][?prefix=name].
// Every key the store uses starts with the prefix, so several deployments can share one
// Redis. The password never appears in str(), which is what the logs show.
#include <cstdint>
#include <string>
#include <string_view>

#include "control/error.hpp"

namespace pcscf::ctl::state {

struct RedisUrl {
    std::string host;  // a name, an IPv4 address or an IPv6 one (without its brackets)
    uint16_t port = 6379;
    std::string user, password;  // AUTH user password, or AUTH password when there is no user
    int db = 0;
    std::string prefix = "pcscf-esp";

    std::string str() const;  // "redis://host:port/db prefix pcscf-esp", for the logs
};

// User, password and prefix may be percent-encoded (a password holding '@', '/' or ':').
Expected<RedisUrl> parse_redis_url(std::string_view s);

}  // namespace pcscf::ctl::state
