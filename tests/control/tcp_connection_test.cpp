// SIP over TCP at the socket level, on loopback: framing over real reads, keep-alives,
// the peer going away, a peer that stops reading, a refused connect, and several of our
// connections from one local port (the P-CSCF's port_pc) to different UEs.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include "control/proxy/tcp_connection.hpp"

namespace pcscf::proxy {
namespace {

const net::IpAddr kLo = *net::IpAddr::parse("127.0.0.1");

std::string msg(int n) {
    const std::string body = "hello " + std::to_string(n);
    return "MESSAGE sip:bob@example.net SIP/2.0\r\nCSeq: " + std::to_string(n) +
           " MESSAGE\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

uint16_t port_of(int fd) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return from_sockaddr(ss).port;
}

bool wait_for(int fd, short events, int ms = 2000) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, ms) == 1;
}

struct Pair {  // a listener, our connection to it, and the accepted end
    TcpListener listener = *TcpListener::listen({kLo, 0});
    std::unique_ptr<TcpConnection> client, server;

    Pair() {
        const Endpoint there{kLo, port_of(listener.fd())};
        client = std::move(*TcpConnection::connect({kLo, 0}, there));
        EXPECT_TRUE(wait_for(client->fd(), POLLOUT));
        EXPECT_TRUE(client->flush().has_value());
        EXPECT_FALSE(client->wants_write());
        EXPECT_TRUE(wait_for(listener.fd(), POLLIN));
        auto got = listener.accept();
        EXPECT_TRUE(got.has_value());
        server = std::make_unique<TcpConnection>(got->first, listener.local(), got->second);
    }
    // Reads until a frame other than need_more comes (or the time is up).
    sip::Result<sip::Frame> next_frame() {
        for (int i = 0; i < 100; ++i) {
            auto f = server->next();
            if (!f || f->kind != sip::FrameKind::need_more) return f;
            wait_for(server->fd(), POLLIN, 20);
            if (server->read() == TcpConnection::Read::closed) return server->next();
        }
        return server->next();
    }
};

TEST(TcpConnection, SeveralMessagesInOneSendComeOutOneByOne) {
    Pair p;
    ASSERT_TRUE(p.client->send(msg(1) + msg(2) + "\r\n\r\n" + msg(3)).has_value());
    for (int n : {1, 2}) {
        auto f = p.next_frame();
        ASSERT_TRUE(f.has_value()) << f.error().message;
        ASSERT_EQ(f->kind, sip::FrameKind::message);
        EXPECT_EQ(f->bytes, msg(n));
    }
    auto ping = p.next_frame();
    ASSERT_TRUE(ping.has_value());
    EXPECT_EQ(ping->kind, sip::FrameKind::ping);
    auto third = p.next_frame();
    ASSERT_TRUE(third.has_value());
    EXPECT_EQ(third->bytes, msg(3));
}

TEST(TcpConnection, OneMessageOverSeveralSends) {
    Pair p;
    const std::string m = msg(7);
    for (size_t at = 0; at < m.size(); at += 9) {
        ASSERT_TRUE(p.client->send(m.substr(at, 9)).has_value());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto f = p.next_frame();
    ASSERT_TRUE(f.has_value()) << f.error().message;
    ASSERT_EQ(f->kind, sip::FrameKind::message);
    EXPECT_EQ(f->bytes, m);
}

TEST(TcpConnection, ANonSipStreamIsAFinalError) {
    Pair p;
    ASSERT_TRUE(p.client->send("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\n\r\n").has_value());
    auto f = p.next_frame();
    ASSERT_FALSE(f.has_value());
    EXPECT_NE(f.error().message.find("Content-Length"), std::string::npos) << f.error().message;
}

TEST(TcpConnection, ThePeerClosing) {
    Pair p;
    ASSERT_TRUE(p.client->send(msg(1)).has_value());
    p.client.reset();
    ASSERT_TRUE(wait_for(p.server->fd(), POLLIN));
    EXPECT_EQ(p.server->read(), TcpConnection::Read::closed);
    auto f = p.server->next();  // what came before the FIN is still there
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->bytes, msg(1));
}

TEST(TcpConnection, APeerThatStopsReadingIsCutOffNotBufferedForever) {
    Pair p;
    const std::string chunk(64 * 1024, 'x');
    ctl::Expected<void> r;
    size_t sent = 0;
    while (r && sent < 64 * TcpConnection::kMaxQueued) {
        r = p.client->send(chunk);
        sent += chunk.size();
    }
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ctl::Errc::exhausted) << r.error().message;
    EXPECT_TRUE(p.client->wants_write());
}

TEST(TcpConnection, ARefusedConnectIsReported) {
    uint16_t closed_port;
    {
        auto l = TcpListener::listen({kLo, 0});
        ASSERT_TRUE(l.has_value());
        closed_port = port_of(l->fd());
    }
    auto c = TcpConnection::connect({kLo, 0}, {kLo, closed_port});
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE((*c)->send(msg(1)).has_value());  // queued while connecting
    ASSERT_TRUE(wait_for((*c)->fd(), POLLOUT));
    const auto r = (*c)->flush();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ctl::Errc::io) << r.error().message;
}

TEST(TcpConnection, OneLocalPortConnectsToSeveralPeers) {
    // The P-CSCF opens its connections to every UE's port_us from the same port_pc.
    auto l1 = TcpListener::listen({kLo, 0});
    auto l2 = TcpListener::listen({kLo, 0});
    ASSERT_TRUE(l1 && l2);
    auto probe = TcpListener::listen({kLo, 0});  // a free port to be our port_pc
    const uint16_t pc = port_of(probe->fd());
    { auto gone = std::move(*probe); }
    for (const auto* l : {&*l1, &*l2}) {
        auto c = TcpConnection::connect({kLo, pc}, {kLo, port_of(l->fd())});
        ASSERT_TRUE(c.has_value()) << c.error().message;
        ASSERT_TRUE((*c)->send(msg(1)).has_value());
        ASSERT_TRUE(wait_for((*c)->fd(), POLLOUT));
        EXPECT_TRUE((*c)->flush().has_value());
        ASSERT_TRUE(wait_for(l->fd(), POLLIN));
        auto got = l->accept();
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(got->second.port, pc);
        TcpConnection accepted(got->first, l->local(), got->second);
        ASSERT_TRUE(wait_for(accepted.fd(), POLLIN));
        accepted.read();
        auto f = accepted.next();
        ASSERT_TRUE(f.has_value());
        EXPECT_EQ(f->bytes, msg(1));
    }
}

}  // namespace
}  // namespace pcscf::proxy
