#include "control/daemon/metrics_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace pcscf::ctl {

namespace {

constexpr size_t kMaxRequest = 8192;

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        bytes.remove_prefix(size_t(n));
    }
}

void answer(int fd, std::string_view status, std::string_view type, std::string_view body,
            std::string_view extra = {}) {
    std::string head = "HTTP/1.1 " + std::string(status) + "\r\nContent-Type: " + std::string(type) +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
                       std::string(extra) + "\r\n";
    send_all(fd, head);
    send_all(fd, body);
}

bool contains_nocase(std::string_view hay, std::string_view needle) {
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        size_t k = 0;
        while (k < needle.size() && std::tolower(uint8_t(hay[i + k])) == std::tolower(uint8_t(needle[k]))) ++k;
        if (k == needle.size()) return true;
    }
    return false;
}

}  // namespace

Expected<std::unique_ptr<MetricsServer>> MetricsServer::start(const proxy::Endpoint& at, MetricsSources src) {
    auto fd = proxy::bound_socket(at, SOCK_STREAM, true);
    if (!fd) return std::unexpected(in_context(fd.error(), "--metrics-listen " + at.to_string()));
    if (::listen(*fd, 16) != 0) {
        ::close(*fd);
        return proxy::system_error("--metrics-listen " + at.to_string() + ": listen");
    }
    const int stop = ::eventfd(0, EFD_CLOEXEC);
    if (stop < 0) {
        ::close(*fd);
        return proxy::system_error("metrics: eventfd");
    }
    std::unique_ptr<MetricsServer> s(new MetricsServer(*fd, stop, src));
    s->thread_ = std::thread([p = s.get()] { p->run(); });
    return s;
}

MetricsServer::~MetricsServer() {
    const uint64_t one = 1;
    if (::write(stop_, &one, sizeof one) < 0) {
        // The thread would not wake: it is detached rather than joined forever.
        if (thread_.joinable()) thread_.detach();
    }
    if (thread_.joinable()) thread_.join();
    ::close(listen_);
    ::close(stop_);
}

void MetricsServer::run() {
    for (;;) {
        pollfd p[2] = {{listen_, POLLIN, 0}, {stop_, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) continue;
        if (p[1].revents) return;
        if (!(p[0].revents & POLLIN)) continue;
        const int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve(c);
        ::close(c);
    }
}

void MetricsServer::serve(int fd) {
    const timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos) {
        if (req.size() >= kMaxRequest) return answer(fd, "431 Request Header Fields Too Large", "text/plain", "");
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;  // closed, or 2 s without the rest
        req.append(buf, size_t(n));
    }
    const std::string_view line = std::string_view(req).substr(0, req.find("\r\n"));
    const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1."))
        return answer(fd, "400 Bad Request", "text/plain", "not an HTTP/1.x request line\n");
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") return answer(fd, "404 Not Found", "text/plain", "metrics are at /metrics\n");
    if (method != "GET") return answer(fd, "405 Method Not Allowed", "text/plain", "GET only\n", "Allow: GET\r\n");
    const std::string_view headers = std::string_view(req).substr(line.size());
    const bool om = contains_nocase(headers, "application/openmetrics-text");
    const std::string body = render_metrics(src_, om);
    answer(
        fd, "200 OK",
        om ? "application/openmetrics-text; version=1.0.0; charset=utf-8" : "text/plain; version=0.0.4; charset=utf-8",
        body);
}

}  // namespace pcscf::ctl
