// Fuzz target for the TCP stream framer (sip::StreamFramer) under random chunking. The
// input makes a byte stream of SIP messages (Content-Length or l:, bodies of any bytes),
// CRLF keep-alives and, when it says so, malformed messages or raw bytes; and it seeds
// the chunking. Fed in those chunks (through feed() or write_area()/commit(), taking
// frames after some chunks only), the framer must give the same frames and the same end
// (error or bytes left) as fed the whole stream at once; the frames must be the stream's
// bytes in order; an error must be final; it must never sit on a full buffer without
// one; and a stream of well-formed messages that fit must come out as exactly those
// messages and keep-alives, each message parsing with its body.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "sip/message.hpp"
#include "sip/stream_framer.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace pcscf::fuzz {
namespace {

using sip::FrameKind;

constexpr size_t kMaxMessage[] = {64, 200, 1024, 4096};
constexpr size_t kMaxChunk[] = {1, 3, 16, 64, 700};

struct Frame {
    FrameKind kind;
    std::string bytes;
    bool operator==(const Frame&) const = default;
};

// What the framer made of a stream.
struct Outcome {
    std::vector<Frame> frames;
    std::optional<std::string> error;
    size_t buffered = 0;
    bool operator==(const Outcome&) const = default;
};

// The stream and, while it stays well-formed, the frames it must give.
struct Stream {
    std::string bytes;
    std::vector<Frame> frames;
    std::vector<std::string> bodies;  // of the message frames, in order
    size_t crlfs = 0;                 // keep-alive CRLFs not yet framed
    bool exact = true;                // frames are known
};

void frame_crlfs(Stream& s, bool at_end) {
    for (; s.crlfs >= 2; s.crlfs -= 2) s.frames.push_back({FrameKind::ping, "\r\n\r\n"});
    if (s.crlfs == 1 && !at_end) {  // a lone CRLF before a message is a pong; at the end it waits
        s.frames.push_back({FrameKind::pong, "\r\n"});
        s.crlfs = 0;
    }
}

constexpr const char* kStartLines[] = {
    "REGISTER sip:ims.example.com SIP/2.0",   "SIP/2.0 200 OK",
    "INVITE sip:bob@example.com SIP/2.0",     "SIP/2.0 401 Unauthorized",
    "OPTIONS sip:[2001:db8::1]:5060 SIP/2.0",
};
constexpr const char* kHeaders[] = {
    "Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK776",
    "From: <sip:alice@example.com>;tag=1",
    "To: <sip:alice@example.com>",
    "Call-ID: a84b4c76e66710",
    "CSeq: 1 REGISTER",
    "Max-Forwards: 70",
    "v: SIP/2.0/TCP [2001:db8::10]:5062;branch=z9hG4bKx",
    "Security-Client: ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4",
    "Subject: a\r\n folded line",
    "X-Empty:",
};

void add_message(FuzzInput& in, Stream& s, size_t max_message) {
    const uint8_t shape = in.u8();
    std::string m = kStartLines[shape % std::size(kStartLines)];
    m += "\r\n";
    const uint8_t headers = in.u8();
    for (size_t i = 0; i < std::size(kHeaders); ++i)
        if (headers >> (i % 8) & 1) m += std::string(kHeaders[(i + shape) % std::size(kHeaders)]) + "\r\n";
    const auto body_bytes = in.bytes(in.u8());
    const std::string body(body_bytes.begin(), body_bytes.end());
    size_t declared = body.size();
    const uint8_t fault = in.u8() % 16;
    if (fault == 1) declared += 1 + in.below(16);                              // a body shorter than declared: waits
    if (fault == 2) declared -= std::min<size_t>(declared, 1 + in.below(16));  // longer
    if (fault != 3)                                                            // 3: none at all
        m += std::string(shape & 0x80 ? "l:" : "Content-Length:") + std::string(shape >> 5 & 3, ' ') +
             std::to_string(declared) + "\r\n";
    if (fault == 4) m += "Content-Length: 0\r\n";  // twice
    m += "\r\n" + body;
    frame_crlfs(s, false);
    const bool well_formed = fault == 0 || fault > 4;
    s.exact = s.exact && well_formed && m.size() <= max_message;
    if (well_formed) {
        s.frames.push_back({FrameKind::message, m});
        s.bodies.push_back(body);
    }
    s.bytes += m;
}

Stream make_stream(FuzzInput& in, size_t max_message) {
    Stream s;
    while (!in.empty() && s.bytes.size() < 16 * max_message) {
        const uint8_t op = in.u8();
        switch (op % 8) {
            case 0:
            case 1:
            case 2:
            case 3: add_message(in, s, max_message); break;
            case 4:
            case 5:
                s.bytes += "\r\n";
                ++s.crlfs;
                break;  // keep-alives (pairs are pings)
            default: {  // raw bytes
                const auto raw = in.bytes(in.u8());
                s.bytes.append(raw.begin(), raw.end());
                s.exact = s.exact && raw.empty();
                break;
            }
        }
    }
    frame_crlfs(s, true);
    return s;
}

// Takes frames until the framer wants more bytes; false once it failed.
bool drain(sip::StreamFramer& f, Outcome& o) {
    for (;;) {
        auto r = f.next();
        if (!r) {
            o.error = r.error().message;
            auto again = f.next();
            require(!again && again.error().message == *o.error && f.failed(), "a framing error is not final");
            return false;
        }
        if (r->kind == FrameKind::need_more) return true;
        o.frames.push_back({r->kind, std::string(r->bytes)});
    }
}

// Feeds as much as fits, takes every frame, and again, until the stream is in.
Outcome feed_whole(std::string_view s, size_t max_message) {
    sip::StreamFramer f(max_message);
    Outcome o;
    for (size_t at = 0;;) {
        const size_t took = f.feed(s.substr(at));
        at += took;
        const size_t frames = o.frames.size();
        if (!drain(f, o)) return o;
        if (at == s.size()) break;
        require(took > 0 || o.frames.size() > frames, "framer stuck: buffer full, no frame, no error");
    }
    o.buffered = f.buffered();
    return o;
}

Outcome feed_chunked(std::string_view s, size_t max_message, uint64_t seed, size_t max_chunk) {
    sip::StreamFramer f(max_message);
    Outcome o;
    for (size_t at = 0; at < s.size();) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;  // Knuth's MMIX LCG
        const size_t want = std::min(1 + (seed >> 33) % max_chunk, s.size() - at);
        size_t took;
        if (seed >> 20 & 1) {  // receive straight into the buffer
            const auto area = f.write_area();
            took = std::min(want, area.size());
            std::memcpy(area.data(), s.data() + at, took);
            f.commit(took);
        } else {
            took = f.feed(s.substr(at, want));
        }
        at += took;
        if (took == want && seed >> 21 & 1) continue;  // frames later
        const size_t frames = o.frames.size();
        if (!drain(f, o)) return o;
        require(took > 0 || o.frames.size() > frames, "framer stuck: buffer full, no frame, no error");
    }
    if (!drain(f, o)) return o;
    o.buffered = f.buffered();
    return o;
}

}  // namespace
}  // namespace pcscf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace pcscf::fuzz;
    FuzzInput in(data, size);
    const size_t max_message = kMaxMessage[in.below(std::size(kMaxMessage))];
    const size_t max_chunk = kMaxChunk[in.below(std::size(kMaxChunk))];
    const uint64_t seed = in.u32();
    const Stream s = make_stream(in, max_message);

    const Outcome whole = feed_whole(s.bytes, max_message);
    require(feed_chunked(s.bytes, max_message, seed, max_chunk) == whole,
            "frames differ between whole and chunked feeding");

    std::string framed;
    for (const Frame& f : whole.frames) {
        require(f.kind != FrameKind::ping || f.bytes == "\r\n\r\n", "ping frame is not CRLFCRLF");
        require(f.kind != FrameKind::pong || f.bytes == "\r\n", "pong frame is not CRLF");
        require(f.bytes.size() <= std::max<size_t>(max_message, 64), "frame over the maximum message size");
        framed += f.bytes;
    }
    require(s.bytes.starts_with(framed), "frames are not the stream's bytes in order");
    require(whole.error || framed.size() + whole.buffered == s.bytes.size(), "bytes lost between frames");

    if (s.exact) {
        require(!whole.error && whole.frames == s.frames && whole.buffered == 2 * s.crlfs,
                "well-formed stream framed differently from its messages and keep-alives");
        size_t body = 0;
        for (const Frame& f : whole.frames) {
            if (f.kind != FrameKind::message) continue;
            const auto m = pcscf::sip::parse_message(f.bytes, pcscf::sip::Framing::stream);
            require(m && m->body() == s.bodies[body++], "a framed message does not parse to its body");
        }
    }
    return 0;
}
