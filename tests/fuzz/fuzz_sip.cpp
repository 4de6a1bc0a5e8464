// Fuzz target for the SIP parser, the typed value parsers, the writer and the TCP framer.
// A libFuzzer binary in the clang fuzz build (scripts/fuzz); replayed in every build over
// its corpus (corpus_replay_test.cpp) and over the SIP fixtures with mutations that know
// SIP (tests/sip/fuzz_replay_test.cpp). Besides "never crash", it checks properties: what
// parses can be written and parsed again with the same content, and a parsed Security-*
// list formats to text that parses back to the same mechanisms.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/sip.hpp"

namespace {

using namespace pcscf::sip;

void require(bool property) {
    if (!property) __builtin_trap();
}

void read_everything(const Message& m) {
    (void)validate(m);
    (void)vias(m);
    (void)top_via(m);
    (void)from(m);
    (void)to(m);
    (void)call_id(m);
    (void)cseq(m);
    (void)expires(m);
    (void)max_forwards(m);
    (void)contacts(m);
    for (const auto kind : {HeaderKind::route, HeaderKind::record_route, HeaderKind::path, HeaderKind::service_route,
                            HeaderKind::p_associated_uri})
        (void)name_addrs(m, kind);
    for (const auto kind : {HeaderKind::require, HeaderKind::proxy_require, HeaderKind::supported})
        (void)option_tags(m, kind);
    for (const auto kind : {HeaderKind::security_client, HeaderKind::security_server, HeaderKind::security_verify}) {
        auto list = security_mechanisms(m, kind);
        if (list) {
            auto back = parse_security_list(format_mechanisms(*list));
            require(list->empty() || (back && same_mechanisms(*back, *list)));
        }
    }
    (void)auth_values(m, HeaderKind::authorization);
    (void)auth_values(m, HeaderKind::www_authenticate);
    (void)parse_uri(m.request_uri());
}

void write_and_reparse(const Message& m) {
    const auto unchanged = MessageWriter(m).write();
    auto again = parse_message(unchanged, Framing::stream);
    require(again.has_value());
    require(again->body() == m.body());
    require(again->start_line() == m.start_line());

    MessageWriter w(m);
    w.remove_headers(HeaderKind::security_client);
    w.remove_headers(HeaderKind::security_verify);
    (void)w.remove_option_tag(HeaderKind::proxy_require, "sec-agree");
    (void)w.remove_params(HeaderKind::www_authenticate, {"ik", "ck"});
    (void)w.remove_params(HeaderKind::contact, {"expires"});
    (void)w.set_param(HeaderKind::authorization, "integrity-protected", "\"yes\"");
    (void)w.set_param(HeaderKind::via, "received", "192.0.2.1");
    (void)w.remove_top_via();
    (void)w.prepend_via("SIP/2.0/UDP pcscf.example.com;branch=z9hG4bKfuzz");
    (void)w.add_header(HeaderKind::path, "<sip:pcscf.example.com;lr>", Position::top);
    (void)w.decrement_max_forwards();
    (void)w.remove_top_value(HeaderKind::route);
    (void)w.set_header(HeaderKind::expires, "0");
    (void)w.add_header(HeaderKind::record_route, "<sip:pcscf.example.com;lr>", Position::top);
    const auto edited = w.write();
    require(parse_message(std::string_view(edited), Framing::stream).has_value());

    if (auto r = MessageWriter::response_to(m, 494, "Security Agreement Required", "fuzz")) {
        (void)r->add_header(HeaderKind::security_server,
                            "ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4");
        (void)r->set_body("x", "text/plain");
        const auto response = r->write();
        auto parsed = parse_message(std::string_view(response), Framing::stream);
        require(parsed && parsed->status_code() == 494 && parsed->body() == "x");
    }
}

void parse_values(std::string_view s) {
    s = s.substr(0, 2048);  // value parsers see one header value, not whole datagrams
    (void)parse_uri(s);
    (void)parse_name_addr(s);
    (void)parse_contact_list(s);
    (void)parse_via_list(s);
    (void)parse_cseq(s);
    (void)parse_call_id(s);
    (void)parse_qvalue(s);
    (void)parse_option_tags(s);
    (void)parse_auth(s);
    if (auto list = parse_security_list(s)) {
        auto back = parse_security_list(format_mechanisms(*list));
        require(back && same_mechanisms(*back, *list));
    }
}

void frame_stream(std::string_view s) {
    StreamFramer framer(4096);
    std::size_t at = 0;
    std::size_t step = s.empty() ? 1 : static_cast<unsigned char>(s[0]) % 64 + 1;
    for (int rounds = 0; rounds < 100000; ++rounds) {
        at += framer.feed(s.substr(at, step));
        auto frame = framer.next();
        if (!frame) return;
        if (frame->kind == FrameKind::message) {
            require(frame->bytes.size() <= 4096);
            if (auto m = parse_message(frame->bytes, Framing::stream))
                require(m->bytes().size() <= frame->bytes.size());
        } else if (frame->kind == FrameKind::need_more && at >= s.size()) {
            return;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (auto m = parse_message(input, Framing::datagram)) {
        read_everything(*m);
        write_and_reparse(*m);
    }
    (void)parse_message(input, Framing::stream);
    parse_values(input);
    frame_stream(input);
    return 0;
}
