#include "control/state/redis_url.hpp"

#include <charconv>

namespace pcscf::ctl::state {

namespace {

// The URL may hold a password: the errors name the part that is wrong, never the whole.
std::unexpected<Error> bad(const std::string& why) { return fail(Errc::invalid, "redis URL: " + why); }

template <class T>
bool number(std::string_view s, T max, T& out) {
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && out <= max;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Expected<std::string> unescape(std::string_view s, std::string_view what) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        const int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return bad("a '%' without two hex digits in the " + std::string(what));
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

}  // namespace

std::string RedisUrl::str() const {
    const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "redis://" + (user.empty() ? "" : user + "@") + h + ":" + std::to_string(port) + "/" + std::to_string(db) +
           " prefix " + prefix;
}

Expected<RedisUrl> parse_redis_url(std::string_view s) {
    constexpr std::string_view scheme = "redis://";
    if (s.starts_with("rediss://")) return bad("TLS (rediss://) is not supported");
    if (!s.starts_with(scheme)) return bad("it must start with redis://");
    RedisUrl u;
    std::string_view rest = s.substr(scheme.size());

    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string_view path;
    const auto at = rest.rfind('@');
    if (const auto slash = rest.find('/', at == std::string_view::npos ? 0 : at); slash != std::string_view::npos) {
        path = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
    }
    if (at != std::string_view::npos) {
        const std::string_view cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = cred.find(':');
        if (colon == std::string_view::npos) return bad("the credentials must be [user]:password");
        auto user = unescape(cred.substr(0, colon), "user");
        if (!user) return std::unexpected(user.error());
        auto password = unescape(cred.substr(colon + 1), "password");
        if (!password) return std::unexpected(password.error());
        if (password->empty()) return bad("the password is empty");
        u.user = std::move(*user);
        u.password = std::move(*password);
    }

    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return bad("an IPv6 address without its closing ']'");
        u.host = rest.substr(1, close - 1);
        const std::string_view after = rest.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) return bad("unexpected text after the IPv6 address");
        if (!after.empty()) port = after.substr(1);
        if (!after.empty() && port.empty()) return bad("an empty port");
    } else {
        const auto colon = rest.find(':');
        if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos)
            return bad("an IPv6 address must be in brackets: redis://[::1]:6379");
        u.host = rest.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = rest.substr(colon + 1);
            if (port.empty()) return bad("an empty port");
        }
    }
    if (u.host.empty()) return bad("no host");
    if (!port.empty() && (!number<uint16_t>(port, 65535, u.port) || u.port == 0))
        return bad("the port '" + std::string(port) + "' is not a number from 1 to 65535");
    if (unsigned db = 0; !path.empty()) {
        if (!number<unsigned>(path, 1u << 20, db))
            return bad("the database '" + std::string(path) + "' is not a number");
        u.db = static_cast<int>(db);
    }

    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!param.starts_with("prefix=")) return bad("unknown parameter '" + std::string(param) + "' (only prefix=)");
        auto prefix = unescape(param.substr(7), "prefix");
        if (!prefix) return std::unexpected(prefix.error());
        if (prefix->empty()) return bad("an empty prefix");
        u.prefix = std::move(*prefix);
    }
    return u;
}

}  // namespace pcscf::ctl::state
