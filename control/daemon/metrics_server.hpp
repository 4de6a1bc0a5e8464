#pragma once
// The HTTP endpoint Prometheus scrapes (--metrics-listen ADDR:PORT): GET /metrics on a
// thread of its own, one connection at a time, each closed after its answer. Asked with
// "Accept: application/openmetrics-text" it answers OpenMetrics 1.0, else Prometheus'
// text format 0.0.4. Another path gets 404, another method 405, no HTTP/1.x request 400,
// a request over 8 KiB 431; a client gets 2 s to send its request.
#include <memory>
#include <thread>

#include "control/daemon/metrics.hpp"
#include "control/error.hpp"
#include "control/proxy/endpoint.hpp"

namespace pcscf::ctl {

class MetricsServer {
public:
    static Expected<std::unique_ptr<MetricsServer>> start(const proxy::Endpoint& at, MetricsSources src);
    ~MetricsServer();  // stops the thread
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

private:
    MetricsServer(int listen_fd, int stop_fd, MetricsSources src) : listen_(listen_fd), stop_(stop_fd), src_(src) {}
    void run();
    void serve(int fd);

    int listen_ = -1, stop_ = -1;  // the listening socket; an eventfd that ends run()
    MetricsSources src_;
    std::thread thread_;
};

}  // namespace pcscf::ctl
