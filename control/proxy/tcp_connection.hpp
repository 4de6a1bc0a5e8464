#pragma once
// SIP over TCP on the control thread (RFC 3261 18): a listening socket, and a connection
// that frames the byte stream into messages (sip::StreamFramer) and queues what the
// socket does not take at once. Everything is non-blocking; the proxy's epoll says when
// to read, and when to write again while a queue is pending or a connect is under way.
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "control/proxy/endpoint.hpp"
#include "sip/stream_framer.hpp"

namespace pcscf::proxy {

class TcpListener {
public:
    static ctl::Expected<TcpListener> listen(const Endpoint& local);
    TcpListener(TcpListener&& o) noexcept : fd_(o.fd_), local_(o.local_) { o.fd_ = -1; }
    TcpListener& operator=(TcpListener&&) = delete;
    TcpListener(const TcpListener&) = delete;
    ~TcpListener();

    int fd() const { return fd_; }
    const Endpoint& local() const { return local_; }
    // The next waiting connection: its fd and the peer, or nothing.
    std::optional<std::pair<int, Endpoint>> accept() const;

private:
    TcpListener(int fd, const Endpoint& local) : fd_(fd), local_(local) {}
    int fd_ = -1;
    Endpoint local_;
};

class TcpConnection {
public:
    static constexpr size_t kMaxQueued = 1 << 20;  // a peer that stops reading is cut off

    // Takes over an accepted fd.
    TcpConnection(int fd, const Endpoint& local, const Endpoint& remote);
    // From `local` (shared with other connections: SO_REUSEADDR) to `remote`, non-blocking.
    static ctl::Expected<std::unique_ptr<TcpConnection>> connect(const Endpoint& local, const Endpoint& remote);
    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;
    ~TcpConnection();

    int fd() const { return fd_; }
    const Endpoint& local() const { return local_; }
    const Endpoint& remote() const { return remote_; }

    // Reads what waits into the framer: until the socket is drained, the framer is full
    // (take frames, then read again), or the peer closed or the connection failed.
    enum class Read : uint8_t { drained, full, closed };
    Read read();
    // The next framed message (or keep-alive) read so far.
    sip::Result<sip::Frame> next() { return framer_.next(); }
    // Sends, queueing what the socket does not take. An error: the connection is no good
    // any more (the caller closes it).
    ctl::Expected<void> send(std::string_view bytes);
    // On EPOLLOUT: completes a connect, writes the queue. Same answer as send().
    ctl::Expected<void> flush();
    bool wants_write() const { return connecting_ || !queued_.empty(); }
    // Ends it with a reset, not a FIN: used when its SAs are gone and nothing can follow.
    void reset();

    std::chrono::steady_clock::time_point last_used;

private:
    int fd_ = -1;
    Endpoint local_, remote_;
    bool connecting_ = false;
    std::string queued_;
    sip::StreamFramer framer_;
};

}  // namespace pcscf::proxy
