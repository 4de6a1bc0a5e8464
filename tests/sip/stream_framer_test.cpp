// StreamFramer: any split of the byte stream gives the same frames; keep-alives; limits.

#include <gtest/gtest.h>

#include <algorithm>

#include "sip/message.hpp"
#include "sip/stream_framer.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

using test::crlf;

struct Seen {
    FrameKind kind;
    std::string bytes;
    bool operator==(const Seen&) const = default;
};

// Takes every frame now available.
std::vector<Seen> drain(StreamFramer& f) {
    std::vector<Seen> out;
    for (;;) {
        auto frame = f.next();
        if (!frame) {
            out.push_back({FrameKind::need_more, "error: " + frame.error().message});
            return out;
        }
        if (frame->kind == FrameKind::need_more) return out;
        out.push_back({frame->kind, std::string(frame->bytes)});
    }
}

std::vector<Seen> feed_in_pieces(std::string_view stream, const std::vector<std::size_t>& cuts,
                                 std::size_t max_message = 65535) {
    StreamFramer f(max_message);
    std::vector<Seen> out;
    std::size_t at = 0;
    for (const auto cut : cuts) {
        EXPECT_EQ(f.feed(stream.substr(at, cut - at)), cut - at);
        auto more = drain(f);
        out.insert(out.end(), more.begin(), more.end());
        at = cut;
    }
    EXPECT_EQ(f.feed(stream.substr(at)), stream.size() - at);
    auto more = drain(f);
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

const std::string first = test::fixture("seed004/step1_register.sip");
const std::string second = test::fixture("seed004/step7_notify.sip");  // has a 740-byte body

TEST(StreamFramer, EverySplitPointGivesTheSameTwoMessages) {
    const std::string stream = first + second;
    const std::vector<Seen> expected = {{FrameKind::message, first}, {FrameKind::message, second}};
    for (std::size_t cut = 0; cut <= stream.size(); ++cut)
        ASSERT_EQ(feed_in_pieces(stream, {cut}), expected) << "split at " << cut;
    for (std::size_t a = 0; a < stream.size(); a += 97)  // two cuts, a coarser grid
        for (std::size_t b = a; b <= stream.size(); b += 89)
            ASSERT_EQ(feed_in_pieces(stream, {a, b}), expected) << "split at " << a << ", " << b;
}

TEST(StreamFramer, ByteByByteAndAllAtOnce) {
    const std::string stream = first + second + first;
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    const auto expected =
        std::vector<Seen>{{FrameKind::message, first}, {FrameKind::message, second}, {FrameKind::message, first}};
    EXPECT_EQ(feed_in_pieces(stream, every), expected);
    EXPECT_EQ(feed_in_pieces(stream, {}), expected);

    // the frames are complete messages for parse_message
    StreamFramer f;
    f.feed(stream);
    for (int i = 0; i < 3; ++i) {
        auto frame = f.next();
        ASSERT_TRUE(frame);
        ASSERT_EQ(frame->kind, FrameKind::message);
        EXPECT_TRUE(parse_message(frame->bytes, Framing::stream));
    }
    EXPECT_EQ(f.next()->kind, FrameKind::need_more);
    EXPECT_EQ(f.buffered(), 0u);
}

TEST(StreamFramer, KeepAlivesBetweenMessages) {
    const std::string stream = "\r\n\r\n" + first + "\r\n" + "\r\n\r\n" + "\r\n\r\n" + second + "\r\n";
    const std::vector<Seen> expected = {{FrameKind::ping, "\r\n\r\n"}, {FrameKind::message, first},
                                        {FrameKind::ping, "\r\n\r\n"}, {FrameKind::ping, "\r\n\r\n"},
                                        {FrameKind::pong, "\r\n"},     {FrameKind::message, second}};
    // five CRLFs in a row are read as ping, ping, pong
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        auto got = feed_in_pieces(stream, {cut});
        // the final lone CRLF waits: it could be the first half of a ping
        ASSERT_EQ(got, expected) << "split at " << cut;
    }
    StreamFramer f;
    f.feed("\r\n");
    EXPECT_EQ(f.next()->kind, FrameKind::need_more);
    f.feed("\r");
    EXPECT_EQ(f.next()->kind, FrameKind::need_more);
    f.feed("\n");
    EXPECT_EQ(f.next()->kind, FrameKind::ping);
    f.feed("\r\nOPTIONS");
    EXPECT_EQ(f.next()->kind, FrameKind::pong);
    EXPECT_EQ(f.next()->kind, FrameKind::need_more);
}

TEST(StreamFramer, MissingContentLengthIsFatal) {
    StreamFramer f;
    f.feed(crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h\n\n"));
    auto e = f.next();
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("no Content-Length"), std::string::npos);
    EXPECT_TRUE(f.failed());
    f.feed(first);
    EXPECT_FALSE(f.next());  // stays failed: the stream cannot be delimited any more
}

TEST(StreamFramer, MalformedHeaderSectionsAreFatal) {
    const std::pair<std::string, std::string_view> cases[] = {
        {crlf("OPTIONS sip:a@b SIP/2.0\nl: 1\nContent-Length: 1\n\nx"), "appears more than once"},
        {crlf("OPTIONS sip:a@b SIP/2.0\nl: -1\n\n"), "is negative"},
        {crlf("OPTIONS sip:a@b SIP/2.0\nl: x\n\n"), "is not a decimal number"},
        {crlf("OPTIONS sip:a@b SIP/2.0\nno colon\n\n"), "has no ':'"},
        {"OPTIONS sip:a@b SIP/2.0\r\nX: a\nl: 0\r\n\r\n", "LF without CR"},
        {test::bin("OPTIONS sip:a@b SIP/2.0\r\nX: \0\r\nl: 0\r\n\r\n"), "control character"},
    };
    for (const auto& [stream, part] : cases) {
        StreamFramer f;
        f.feed(stream);
        EXPECT_TRUE(test::fails_with(f.next(), part)) << stream;
    }
}

TEST(StreamFramer, OversizeIsRejected) {
    // Content-Length that cannot fit
    StreamFramer f(1000);
    f.feed(crlf("MESSAGE sip:a@b SIP/2.0\nl: 5000\n\n"));
    auto big = f.next();
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().kind, ErrorKind::too_large);

    StreamFramer g(1000);
    g.feed(crlf("MESSAGE sip:a@b SIP/2.0\nl: 990\n\n"));
    auto over = g.next();
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().kind, ErrorKind::too_large);
    EXPECT_NE(over.error().message.find("exceeds the maximum of 1000"), std::string::npos);

    // a header section that never ends: the buffer fills, feed takes what fits, then error
    StreamFramer h(1000);
    const std::string endless = "OPTIONS sip:a@b SIP/2.0\r\n" + std::string(2000, 'x');
    const auto taken = h.feed(endless);
    EXPECT_EQ(taken, 1000u);
    auto never = h.next();
    ASSERT_FALSE(never);
    EXPECT_EQ(never.error().kind, ErrorKind::too_large);
    EXPECT_NE(never.error().message.find("header section longer than"), std::string::npos);
    EXPECT_EQ(h.write_area().size(), 0u);
}

TEST(StreamFramer, FullBufferHandsOutFramesThenTakesMore) {
    const std::string stream = first + first + first;
    StreamFramer f(first.size() + 10);  // room for one message and a bit
    std::size_t at = 0;
    int messages = 0;
    while (at < stream.size() || f.buffered() > 0) {
        at += f.feed(std::string_view(stream).substr(at));
        auto frame = f.next();
        ASSERT_TRUE(frame) << frame.error().message;
        if (frame->kind == FrameKind::message) {
            EXPECT_EQ(frame->bytes, first);
            ++messages;
        } else {
            ASSERT_LT(at, stream.size()) << "stuck";
        }
    }
    EXPECT_EQ(messages, 3);
}

TEST(StreamFramer, ReceiveStraightIntoTheBuffer) {
    const std::string stream = first + "\r\n\r\n";
    StreamFramer f;
    std::size_t at = 0;
    std::vector<Seen> got;
    while (at < stream.size()) {
        auto area = f.write_area();
        const auto n = std::min<std::size_t>({area.size(), 7, stream.size() - at});
        std::copy_n(stream.data() + at, n, area.data());
        f.commit(n);
        at += n;
        auto more = drain(f);
        got.insert(got.end(), more.begin(), more.end());
    }
    EXPECT_EQ(got, (std::vector<Seen>{{FrameKind::message, first}, {FrameKind::ping, "\r\n\r\n"}}));
}

TEST(StreamFramer, FramesStayValidUntilTheNextFeed) {
    StreamFramer f;
    f.feed(first + first);
    auto a = f.next();
    auto b = f.next();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->bytes, first);  // both views valid at once
    EXPECT_EQ(b->bytes, first);
}

}  // namespace
}  // namespace pcscf::sip
