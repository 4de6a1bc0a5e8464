#include "bench/sip_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace pcscf::bench {

using proxy::Endpoint;

const char* name(Step s) {
    switch (s) {
        case Step::sm1: return "SM1 -> 401";
        case Step::sm7: return "SM7 -> 200";
        case Step::deregister: return "de-REGISTER -> 200";
    }
    return "?";
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

namespace {

constexpr std::string_view kRealm = "ims.example.net";

// ---- the little SIP the load needs: a header section as name / value pairs -----------

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct Parsed {
    std::string_view first;
    std::vector<std::pair<std::string_view, std::string_view>> headers;

    // The first line and the header fields (no folded lines: nobody here writes them).
    bool parse(std::string_view b) {
        size_t pos = b.find("\r\n");
        if (pos == std::string_view::npos) return false;
        first = b.substr(0, pos);
        pos += 2;
        while (pos < b.size()) {
            const size_t end = b.find("\r\n", pos);
            if (end == std::string_view::npos || end == pos) break;
            const std::string_view line = b.substr(pos, end - pos);
            const size_t colon = line.find(':');
            if (colon != std::string_view::npos)
                headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
            pos = end + 2;
        }
        return true;
    }
    // The first field named `full` or its compact form.
    std::string_view get(std::string_view full, char compact = 0) const {
        for (const auto& [n, v] : headers)
            if (iequals(n, full) || (compact && n.size() == 1 && (n[0] | 0x20) == compact)) return v;
        return {};
    }
    bool is_response() const { return first.starts_with("SIP/2.0 "); }
    int status() const {
        return is_response() && first.size() >= 11 ? std::atoi(std::string(first.substr(8, 3)).c_str()) : 0;
    }
};

// A parameter's value in a header value: name=token or name="quoted".
std::string_view param(std::string_view v, std::string_view name) {
    for (size_t at = 0; (at = v.find(name, at)) != std::string_view::npos; at += name.size()) {
        const bool starts = at == 0 || v[at - 1] == ' ' || v[at - 1] == ';' || v[at - 1] == ',';
        if (!starts || at + name.size() >= v.size() || v[at + name.size()] != '=') continue;
        std::string_view rest = v.substr(at + name.size() + 1);
        if (!rest.empty() && rest.front() == '"') {
            rest.remove_prefix(1);
            return rest.substr(0, rest.find('"'));
        }
        return rest.substr(0, rest.find_first_of(";, \t"));
    }
    return {};
}

std::string hex(const uint8_t* p, size_t n) {
    static constexpr char d[] = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = d[p[i] >> 4];
        s[2 * i + 1] = d[p[i] & 15];
    }
    return s;
}

std::string base64(const uint8_t* p, size_t n) {
    static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v =
            uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? uint32_t(p[i + 2]) : 0);
        s += t[v >> 18 & 63];
        s += t[v >> 12 & 63];
        s += i + 1 < n ? t[v >> 6 & 63] : '=';
        s += i + 2 < n ? t[v & 63] : '=';
    }
    return s;
}

// ---- sockets ---------------------------------------------------------------------------

sockaddr_in to_sin(const Endpoint& e) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(e.port);
    std::memcpy(&s.sin_addr, e.addr.v4_bytes(), 4);
    return s;
}

int bind_udp(const Endpoint& e) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const sockaddr_in s = to_sin(e);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&s), sizeof s) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void send_to(int fd, std::string_view bytes, const Endpoint& to) {
    const sockaddr_in s = to_sin(to);
    // Loopback does not lose datagrams but a full receive buffer does: the retransmission
    // timer covers both, as it would on a real access network.
    (void)::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&s), sizeof s);
}

}  // namespace

// ---- the load --------------------------------------------------------------------------

double LoadResult::rate_between(double a, double b) const {
    if (window_s <= 0) return 0;
    const auto n =
        std::count_if(done_s.begin(), done_s.end(), [&](float t) { return t >= a * window_s && t < b * window_s; });
    return double(n) / ((b - a) * window_s);
}

SipLoad::SipLoad(const Endpoint& core, net::IpAddr ue_first, uint32_t ue_addrs, uint16_t port_first, uint16_t port_last)
    : core_(core), port_first_(port_first), pairs_(uint16_t((port_last - port_first + 1) / 2)) {
    uint32_t base;
    std::memcpy(&base, ue_first.v4_bytes(), 4);
    base = ntohl(base);
    for (uint32_t i = 0; i < ue_addrs; ++i) {
        const uint32_t a = htonl(base + i);
        addrs_.push_back(net::IpAddr::v4(&a));
        hosts_.push_back(addrs_.back().to_string());
    }
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    core_fd_ = bind_udp(core_);
    if (epoll_ < 0 || core_fd_ < 0 || pairs_ == 0 || addrs_.empty())
        throw std::runtime_error("the load cannot bind the core's socket " + core_.to_string() + ": " +
                                 std::strerror(errno));
    // Room for bursts of answers, as the P-CSCF's own sockets have.
    const int big = 4 << 20;
    ::setsockopt(core_fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = core_fd_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, core_fd_, &ev);
}

SipLoad::~SipLoad() {
    for (auto& [id, u] : ues_) {
        ::close(u.fd_us);
        ::close(u.fd_uc);
    }
    if (core_fd_ >= 0) ::close(core_fd_);
    if (epoll_ >= 0) ::close(epoll_);
}

std::string SipLoad::impi(uint64_t id) const { return "ue" + std::to_string(id) + "@" + std::string(kRealm); }

// SM1, SM7 and the de-REGISTER differ in CSeq, Authorization, Security-Verify and expiry.
std::string SipLoad::register_request(const Ue& u) const {
    const std::string id = std::to_string(u.id), host = hosts_[u.addr];
    const std::string us = std::to_string(u.port_us), uc = std::to_string(u.port_uc);
    const std::string impu = "sip:ue" + id + "@" + std::string(kRealm);
    const bool dereg = u.step == Step::deregister;
    const char* expires = dereg ? "0" : "600";
    const uint32_t spi_c = 1000 + uint32_t(u.id % 100'000'000) * 2;
    std::string client;
    for (const char* alg : {"hmac-sha-1-96", "hmac-md5-96"}) {
        if (!client.empty()) client += ", ";
        client += std::string("ipsec-3gpp;alg=") + alg +
                  ";ealg=null;prot=esp;mod=trans;spi-c=" + std::to_string(spi_c) +
                  ";spi-s=" + std::to_string(spi_c + 1) + ";port-c=" + uc + ";port-s=" + us;
    }
    std::string m;
    m.reserve(1200);
    m += "REGISTER sip:" + std::string(kRealm) + " SIP/2.0\r\n";
    m += "Via: SIP/2.0/UDP " + host + ":" + us + ";branch=z9hG4bK" + id + "s" + std::to_string(u.cseq) + "\r\n";
    m += "Max-Forwards: 70\r\n";
    m += "From: <" + impu + ">;tag=" + id + "ue\r\n";
    m += "To: <" + impu + ">\r\n";
    m += "Call-ID: " + id + "-reg@" + host + "\r\n";
    m += "CSeq: " + std::to_string(u.cseq) + " REGISTER\r\n";
    m += "Contact: <sip:ue" + id + "@" + host + ":" + us + ">;expires=" + expires + "\r\n";
    m += "Expires: " + std::string(expires) + "\r\n";
    if (u.step == Step::sm1) {
        m += "Authorization: Digest username=\"" + impi(u.id) + "\", realm=\"" + std::string(kRealm) +
             "\", uri=\"sip:" + std::string(kRealm) + "\", nonce=\"\", response=\"\"\r\n";
    } else {
        // Well-formed, not Milenage (see the header): 16 bytes that differ per UE and nonce.
        uint64_t h[2] = {std::hash<std::string>{}(u.nonce) ^ u.id, u.id * 0x9e3779b97f4a7c15ull + u.cseq};
        m += "Authorization: Digest username=\"" + impi(u.id) + "\", realm=\"" + std::string(kRealm) +
             "\", uri=\"sip:" + std::string(kRealm) + "\", nonce=\"" + u.nonce + "\", response=\"" +
             hex(reinterpret_cast<const uint8_t*>(h), 16) + "\", algorithm=AKAv1-MD5, cnonce=\"" +
             hex(reinterpret_cast<const uint8_t*>(h), 4) + "\", qop=auth, nc=0000000" + std::to_string(u.cseq - 1) +
             "\r\n";
    }
    m += "Security-Client: " + client + "\r\n";
    if (u.step != Step::sm1) m += "Security-Verify: " + u.security_verify + "\r\n";
    m += "Require: sec-agree\r\nProxy-Require: sec-agree\r\nSupported: path,sec-agree\r\n";
    m += "Allow: INVITE, ACK, CANCEL, BYE, MESSAGE, NOTIFY, OPTIONS, PRACK, UPDATE, REFER\r\n";
    m += "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=001010001000019B\r\n";
    m += "User-Agent: pcscf-esp registration_benchmark\r\n";
    m += "Content-Length: 0\r\n\r\n";
    return m;
}

bool SipLoad::start_ue(LoadClock::time_point now) {
    const uint64_t slots = uint64_t(pairs_) * addrs_.size();
    for (int attempt = 0; attempt < 64; ++attempt) {
        const uint64_t slot = next_slot_++ % slots;
        Ue u;
        u.addr = uint32_t(slot / pairs_);
        u.port_us = uint16_t(port_first_ + 2 * (slot % pairs_));
        u.port_uc = uint16_t(u.port_us + 1);
        u.fd_us = bind_udp({addrs_[u.addr], u.port_us});
        u.fd_uc = u.fd_us < 0 ? -1 : bind_udp({addrs_[u.addr], u.port_uc});
        if (u.fd_uc < 0) {
            if (u.fd_us >= 0) ::close(u.fd_us);
            ++res_->port_skips;
            continue;
        }
        for (int fd : {u.fd_us, u.fd_uc}) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
        }
        u.id = next_id_++;
        auto& ue = ues_.emplace(u.id, std::move(u)).first->second;
        ++res_->started;
        send(ue, register_request(ue), ue.fd_us, cfg_->first_hop, now);
        return true;
    }
    return false;
}

void SipLoad::send(Ue& u, std::string request, int from_fd, const Endpoint& to, LoadClock::time_point now) {
    u.request = std::move(request);
    u.from_fd = from_fd;
    u.to = to;
    u.first_sent = now;
    u.interval_ms = 500;
    u.next_send = now + std::chrono::milliseconds(u.interval_ms);
    send_to(from_fd, u.request, to);
}

void SipLoad::retransmit(LoadClock::time_point now) {
    std::vector<uint64_t> gone;
    for (auto& [id, u] : ues_) {
        if (now < u.next_send) continue;
        if (u.interval_ms >= 4000) {
            gone.push_back(id);
            continue;
        }
        u.interval_ms *= 2;
        u.next_send = now + std::chrono::milliseconds(u.interval_ms);
        send_to(u.from_fd, u.request, u.to);
        ++res_->retransmissions;
    }
    for (uint64_t id : gone) finish(ues_.at(id), "no answer after 5 transmissions");
}

void SipLoad::finish(Ue& u, std::string_view failure) {
    ::close(u.fd_us);
    ::close(u.fd_uc);
    if (!failure.empty()) {
        ++res_->failed;
        ++res_->failures[std::string(failure)];
    } else {
        ++res_->completed;
        if (phase_.load(std::memory_order_relaxed) == 1) {
            ++res_->completed_in_window;
            res_->done_s.push_back(float(std::chrono::duration<double>(LoadClock::now() - window_start_).count()));
        }
        if (!cfg_->deregister) res_->registered.emplace_back(impi(u.id), addrs_[u.addr]);
    }
    ues_.erase(u.id);
}

void SipLoad::on_ue_datagram(std::string_view bytes, LoadClock::time_point now) {
    Parsed p;
    if (!p.parse(bytes) || !p.is_response()) return;
    const std::string_view call_id = p.get("Call-ID", 'i');
    const uint64_t id = std::strtoull(std::string(call_id.substr(0, call_id.find('-'))).c_str(), nullptr, 10);
    auto it = ues_.find(id);
    if (it == ues_.end()) return;  // a late answer to a retransmission
    Ue& u = it->second;
    const std::string_view cseq = p.get("CSeq");
    if (std::strtoul(std::string(cseq).c_str(), nullptr, 10) != u.cseq) return;  // an earlier request's
    const int status = p.status();
    if (status < 200) return;
    const int want = u.step == Step::sm1 ? 401 : 200;
    if (status != want) {
        static const std::array<std::string, kSteps> label{"SM1", "SM7", "de-REGISTER"};
        std::string why = label[size_t(u.step)] + " answered " + std::string(p.first.substr(8));
        if (auto w = p.get("Warning"); !w.empty()) why += " (" + std::string(w) + ")";
        return finish(u, why);
    }
    res_->latency_us[size_t(u.step)].push_back(
        float(std::chrono::duration<double, std::micro>(now - u.first_sent).count()));
    if (u.step == Step::sm1) {
        const std::string_view server = p.get("Security-Server");
        const std::string_view port = param(server, "port-s");
        const std::string_view nonce = param(p.get("WWW-Authenticate"), "nonce");
        if (server.empty() || port.empty() || nonce.empty()) return finish(u, "401 without Security-Server or nonce");
        u.security_verify = std::string(server);
        u.nonce = std::string(nonce);
        u.port_ps = uint16_t(std::strtoul(std::string(port).c_str(), nullptr, 10));
        u.step = Step::sm7;
        u.cseq = 2;
        send(u, register_request(u), u.fd_uc, {cfg_->protected_host, u.port_ps}, now);
    } else if (u.step == Step::sm7 && cfg_->deregister) {
        u.step = Step::deregister;
        u.cseq = 3;
        send(u, register_request(u), u.fd_uc, {cfg_->protected_host, u.port_ps}, now);
    } else {
        finish(u);
    }
}

// The core: 401 with a fresh challenge to a REGISTER without an answer, 200 otherwise
// (binding the contact, or removing it for Expires 0), to wherever the request came from.
void SipLoad::on_core_datagram(std::string_view bytes, const Endpoint& from) {
    Parsed p;
    if (!p.parse(bytes) || p.is_response() || !p.first.starts_with("REGISTER ")) return;
    ++res_->core_requests;
    std::string r;
    r.reserve(1024);
    const std::string_view auth = p.get("Authorization");
    const std::string_view contact = p.get("Contact", 'm');
    const bool dereg = p.get("Expires") == "0" || param(contact, "expires") == "0";
    const bool challenge = !dereg && param(auth, "response").empty();
    r += challenge ? "SIP/2.0 401 Unauthorized\r\n" : "SIP/2.0 200 OK\r\n";
    for (const auto& [n, v] : p.headers)
        if (iequals(n, "Via") || (n.size() == 1 && (n[0] | 0x20) == 'v')) r.append("Via: ").append(v).append("\r\n");
    r.append("From: ").append(p.get("From", 'f')).append("\r\n");
    r.append("To: ").append(p.get("To", 't')).append(";tag=core\r\n");
    r.append("Call-ID: ").append(p.get("Call-ID", 'i')).append("\r\n");
    r.append("CSeq: ").append(p.get("CSeq")).append("\r\n");
    const std::string_view uri = contact.substr(0, contact.find('>') + 1);
    if (challenge) {
        std::array<uint64_t, 8> v;  // RAND || AUTN, IK, CK
        for (auto& x : v) x = rng_();
        const auto* b = reinterpret_cast<const uint8_t*>(v.data());
        r += "WWW-Authenticate: Digest realm=\"" + std::string(kRealm) + "\", nonce=\"" + base64(b, 32) +
             "\", algorithm=AKAv1-MD5, qop=\"auth\", ik=\"" + hex(b + 32, 16) + "\", ck=\"" + hex(b + 48, 16) +
             "\"\r\n";
        if (const uint16_t port = security_server_port_)
            r += "Security-Server: ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c=1111;"
                 "spi-s=2222;port-c=" +
                 std::to_string(port) + ";port-s=" + std::to_string(port) + ";q=0.1\r\n";
        ++challenges_;
    } else if (dereg) {
        r.append("Contact: ").append(uri).append(";expires=0\r\n");
    } else {
        r.append("Contact: ").append(uri).append(";expires=600\r\n");
        if (auto path = p.get("Path"); !path.empty()) r.append("Path: ").append(path).append("\r\n");
        r.append("P-Associated-URI: ").append(p.get("To", 't')).append("\r\n");
        r += "Service-Route: <sip:orig@" + core_.to_string() + ";lr>\r\n";
    }
    r += "Content-Length: 0\r\n\r\n";
    send_to(core_fd_, r, from);
}

LoadResult SipLoad::run(const LoadConfig& cfg) {
    LoadResult res;
    cfg_ = &cfg;
    res_ = &res;
    phase_.store(0, std::memory_order_release);
    const auto t0 = LoadClock::now();
    window_start_ = t0;
    window_end_ = t0 + std::chrono::duration_cast<LoadClock::duration>(std::chrono::duration<double>(cfg.seconds));
    const double cpu0 = thread_cpu_seconds();
    phase_.store(1, std::memory_order_release);
    auto last_scan = t0;
    std::array<epoll_event, 64> ev;
    static thread_local std::array<char, 65536> buf;
    for (;;) {
        auto now = LoadClock::now();
        const bool all_started = cfg.max_ues != 0 && res.started >= cfg.max_ues;
        if (phase() == 1 && (now >= window_end_ || (all_started && ues_.empty()))) {
            res.cpu_s = thread_cpu_seconds() - cpu0;
            res.window_s = std::chrono::duration<double>(now - t0).count();
            phase_.store(2, std::memory_order_release);
        }
        int timeout = 1;
        if (phase() == 1) {
            auto room = [&] { return cfg.max_ues == 0 || res.started < cfg.max_ues; };
            if (cfg.rate > 0) {
                const double due = std::chrono::duration<double>(now - t0).count() * cfg.rate;
                while (double(res.started) < due && room() && start_ue(now)) {
                }
                const double next_s = double(res.started + 1) / cfg.rate;
                const auto next =
                    t0 + std::chrono::duration_cast<LoadClock::duration>(std::chrono::duration<double>(next_s));
                timeout = int(std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(next - now).count()));
                timeout = std::min(timeout, 5);
            } else {
                while (ues_.size() < cfg.concurrency && room() && start_ue(now)) {
                }
            }
        } else if (ues_.empty()) {
            break;
        }
        const int n = ::epoll_wait(epoll_, ev.data(), int(ev.size()), timeout);
        now = LoadClock::now();
        for (int i = 0; i < n; ++i) {
            const int fd = ev[size_t(i)].data.fd;
            for (int k = 0;;) {
                sockaddr_in src{};
                socklen_t len = sizeof src;
                const ssize_t got = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&src), &len);
                if (got <= 0) break;
                const std::string_view bytes(buf.data(), size_t(got));
                if (fd != core_fd_) {
                    // One at a time: the UE may finish and close this socket.
                    on_ue_datagram(bytes, LoadClock::now());
                    break;
                }
                on_core_datagram(bytes, {net::IpAddr::v4(&src.sin_addr), ntohs(src.sin_port)});
                if (++k == 64) break;  // the UEs' answers have their turn too
            }
        }
        if (now - last_scan > std::chrono::milliseconds(10)) {
            retransmit(now);
            last_scan = now;
        }
    }
    cfg_ = nullptr;
    res_ = nullptr;
    return res;
}

}  // namespace pcscf::bench
