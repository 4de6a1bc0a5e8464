// MessageWriter: the edits the P-CSCF makes on SM1, SM6, SM7 and on relayed responses, the
// Content-Length rewrite, and round trips over every fixture.

#include <gtest/gtest.h>

#include "sip/accessors.hpp"
#include "sip/writer.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

using test::crlf;

const Message& parse(std::string text, Framing framing = Framing::datagram) {
    return test::parsed(std::move(text), framing);
}

// Start line, header fields (Content-Length apart) and body.
void expect_same_message(const Message& a, const Message& b) {
    EXPECT_EQ(a.start_line(), b.start_line());
    std::vector<std::pair<std::string_view, std::string_view>> ha, hb;
    for (const auto& h : a.headers())
        if (h.kind != HeaderKind::content_length) ha.emplace_back(h.name, h.value);
    for (const auto& h : b.headers())
        if (h.kind != HeaderKind::content_length) hb.emplace_back(h.name, h.value);
    EXPECT_EQ(ha, hb);
    EXPECT_EQ(a.body(), b.body());
    EXPECT_EQ(b.content_length(), b.body().size());
}

TEST(Writer, UnchangedSeedMessagesAreWrittenByteForByte) {
    for (const auto& path : test::all_fixtures()) {
        if (path.parent_path().filename() != "seed004") continue;
        const auto text = test::read_file(path);
        const auto m = parse(text);
        EXPECT_EQ(MessageWriter(m).write(), text) << path;
    }
}

TEST(Writer, EveryParsableFixtureRoundTrips) {
    int parsed = 0;
    for (const auto& path : test::all_fixtures()) {
        const auto text = test::read_file(path);
        auto m = parse_message(text, Framing::datagram);
        if (!m) continue;
        ++parsed;
        const auto written = MessageWriter(*m).write();
        auto again = parse_message(written, Framing::stream);  // now always has Content-Length
        ASSERT_TRUE(again) << path << ": " << again.error().message;
        expect_same_message(*m, *again);
        EXPECT_EQ(MessageWriter(*again).write(), written) << path;  // a fixed point
    }
    EXPECT_GE(parsed, 40);
}

TEST(Writer, RelaySm1ToTheCore) {
    const auto text = test::fixture("seed004/step1_register.sip");
    const auto m = parse(text);
    MessageWriter w(m);
    w.remove_headers(HeaderKind::security_client);
    w.remove_headers(HeaderKind::security_verify);
    ASSERT_TRUE(w.remove_option_tag(HeaderKind::require, "sec-agree"));
    ASSERT_TRUE(w.remove_option_tag(HeaderKind::proxy_require, "sec-agree"));
    ASSERT_TRUE(w.remove_option_tag(HeaderKind::supported, "SEC-AGREE"));
    ASSERT_TRUE(w.add_header(HeaderKind::path, "<sip:term@pcscf.example.com;lr>", Position::top));
    ASSERT_TRUE(w.prepend_via("SIP/2.0/UDP pcscf.example.com;branch=z9hG4bKpcscf1"));
    ASSERT_EQ(w.decrement_max_forwards().value(), 69u);
    const auto out = w.write();
    const auto r = parse(out);
    EXPECT_EQ(r.count(HeaderKind::security_client), 0u);
    EXPECT_EQ(r.count(HeaderKind::require), 0u);
    EXPECT_EQ(r.count(HeaderKind::proxy_require), 0u);
    EXPECT_EQ(r.first(HeaderKind::supported)->value, "path, eventlist, gruu, outbound");
    EXPECT_EQ(name_addrs(r, HeaderKind::path)->front().uri.host.text, "pcscf.example.com");
    auto hops = vias(r);
    ASSERT_TRUE(hops);
    ASSERT_EQ(hops->size(), 2u);
    EXPECT_EQ((*hops)[0].branch, "z9hG4bKpcscf1");
    EXPECT_EQ(max_forwards(r).value(), 69u);
    EXPECT_TRUE(validate(r)) << out;
    EXPECT_NE(out.find("\r\nPath: <sip:term@pcscf.example.com;lr>\r\n"), std::string::npos);
}

TEST(Writer, RelaySm6ToTheUeWithoutKeys) {
    const auto text = crlf(
        "SIP/2.0 401 Unauthorized\n"
        "Via: SIP/2.0/UDP pcscf.example.com;branch=z9hG4bKpcscf1\n"
        "Via: SIP/2.0/TCP [2001::1]:5060;branch=z9hG4bK1\n"
        "From: <sip:u@ims.example.com>;tag=1\nTo: <sip:u@ims.example.com>;tag=2\nCall-ID: c\nCSeq: 1 REGISTER\n"
        "WWW-Authenticate: Digest realm=\"ims.example.com\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5,\n"
        " ik=\"00112233445566778899aabbccddeeff\", ck=\"ffeeddccbbaa99887766554433221100\", qop=\"auth\"\n"
        "Content-Length: 0\n\n");
    const auto m = parse(text);
    ASSERT_TRUE(auth_values(m, HeaderKind::www_authenticate)->front().ik);

    SecurityMechanism server;
    server.name = "ipsec-3gpp";
    server.ipsec = Ipsec3gpp{IntegrityAlg::hmac_md5_96, EncryptionAlg::null, 3458785863u, 2821032177u, 50717, 50718};
    server.q = 100;

    MessageWriter w(m);
    ASSERT_TRUE(w.remove_params(HeaderKind::www_authenticate, {"ik", "CK"}));
    ASSERT_TRUE(w.remove_top_via());
    ASSERT_TRUE(w.add_header(HeaderKind::security_server, format_mechanism(server)));
    const auto out = w.write();
    EXPECT_EQ(out.find("ik="), std::string::npos);
    EXPECT_EQ(out.find("ck="), std::string::npos);
    const auto r = parse(out);
    auto challenge = auth_values(r, HeaderKind::www_authenticate);
    ASSERT_TRUE(challenge) << challenge.error().message;
    EXPECT_EQ((*challenge)[0].realm(), "ims.example.com");
    EXPECT_EQ((*challenge)[0].qop(), "auth");
    EXPECT_FALSE((*challenge)[0].ik);
    EXPECT_EQ(r.first(HeaderKind::www_authenticate)->value,
              "Digest realm=\"ims.example.com\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5, qop=\"auth\"");
    EXPECT_EQ(vias(r)->size(), 1u);
    EXPECT_EQ(top_via(r)->branch, "z9hG4bK1");
    auto offered = security_mechanisms(r, HeaderKind::security_server);
    ASSERT_TRUE(offered);
    ASSERT_EQ(offered->size(), 1u);
    EXPECT_EQ(offered->front(), server);
}

TEST(Writer, MarkSm7IntegrityProtected) {
    const auto text = test::fixture("seed004/step3_register_protected.sip");
    const auto m = parse(text);
    MessageWriter w(m);
    ASSERT_TRUE(w.set_param(HeaderKind::authorization, "integrity-protected", "\"yes\""));
    const auto r = parse(w.write());
    auto cred = auth_values(r, HeaderKind::authorization);
    ASSERT_TRUE(cred) << cred.error().message;
    EXPECT_EQ((*cred)[0].integrity_protected(), "yes");
    EXPECT_EQ((*cred)[0].response(), "e089b68060162b5c6a328e5dd2d43133");

    // a UE's own integrity-protected is replaced, not kept beside ours
    const auto spoofed = crlf(
        "REGISTER sip:r SIP/2.0\nAuthorization: Digest username=\"u\", integrity-protected=\"yes\", realm=\"r\"\nl: "
        "0\n\n");
    const auto s = parse(spoofed);
    MessageWriter ws(s);
    ASSERT_TRUE(ws.set_param(HeaderKind::authorization, "integrity-protected", "\"no\""));
    const auto rs = parse(ws.write());
    EXPECT_EQ(rs.first(HeaderKind::authorization)->value,
              "Digest username=\"u\", realm=\"r\", integrity-protected=\"no\"");
}

TEST(Writer, ViaEdits) {
    const auto text = crlf(
        "SIP/2.0 200 OK\nv: SIP/2.0/UDP p1;branch=z9hG4bK1 , SIP/2.0/UDP p2;branch=z9hG4bK2\n"
        "Via: SIP/2.0/UDP ue;rport;branch=z9hG4bK3\nl: 0\n\n");
    const auto m = parse(text);
    MessageWriter w(m);
    ASSERT_TRUE(w.remove_top_via());
    auto r = parse(w.write());
    EXPECT_EQ(r.first(HeaderKind::via)->name, "v");
    EXPECT_EQ(r.first(HeaderKind::via)->value, "SIP/2.0/UDP p2;branch=z9hG4bK2");
    ASSERT_TRUE(w.remove_top_via());
    ASSERT_TRUE(w.remove_top_via());
    auto none = w.remove_top_via();
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message, "no Via to remove");

    // received / rport on the topmost Via of a request (RFC 3581)
    const auto req =
        crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP ue.example.com;rport;branch=z9hG4bK3, SIP/2.0/UDP x\nl: 0\n\n");
    const auto q = parse(req);
    MessageWriter wq(q);
    ASSERT_TRUE(wq.set_param(HeaderKind::via, "received", "2001:db8::7"));
    ASSERT_TRUE(wq.set_param(HeaderKind::via, "rport", "38003"));
    const auto rq = parse(wq.write());
    EXPECT_EQ(rq.first(HeaderKind::via)->value,
              "SIP/2.0/UDP ue.example.com;branch=z9hG4bK3;received=2001:db8::7;rport=38003, SIP/2.0/UDP x");
    auto top = top_via(rq);
    ASSERT_TRUE(top) << top.error().message;
    EXPECT_EQ(top->rport, 38003);

    // a Via added to a message that has none goes first
    const auto bare = crlf("OPTIONS sip:a@b SIP/2.0\nTo: <sip:a@b>\nl: 0\n\n");
    const auto b = parse(bare);
    MessageWriter wb(b);
    ASSERT_TRUE(wb.prepend_via("SIP/2.0/UDP p;branch=z9hG4bKx"));
    EXPECT_EQ(wb.write(), crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP p;branch=z9hG4bKx\nTo: <sip:a@b>\nl: 0\n\n"));
}

TEST(Writer, HeaderPlacementAndRemovalByName) {
    const auto text =
        crlf("OPTIONS sip:a@b SIP/2.0\nPath: <sip:p1;lr>\nX-A: 1\nPath: <sip:p2;lr>\nk: x\nx-a: 2\nl: 0\n\n");
    const auto m = parse(text);
    MessageWriter w(m);
    ASSERT_TRUE(w.add_header(HeaderKind::path, "<sip:top;lr>", Position::top));
    ASSERT_TRUE(w.add_header(HeaderKind::path, "<sip:bottom;lr>", Position::bottom));
    ASSERT_TRUE(w.add_header(HeaderKind::service_route, "<sip:sr;lr>"));
    ASSERT_TRUE(w.add_header("P-Debug", "on"));
    w.remove_headers("X-A");
    w.remove_headers("Supported");  // removes the compact "k"
    EXPECT_EQ(w.write(), crlf("OPTIONS sip:a@b SIP/2.0\nPath: <sip:top;lr>\nPath: <sip:p1;lr>\nPath: <sip:p2;lr>\n"
                              "Path: <sip:bottom;lr>\nl: 0\nService-Route: <sip:sr;lr>\nP-Debug: on\n\n"));
}

TEST(Writer, RefusesHeaderInjection) {
    const auto m = parse(crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nl: 0\n\n"));
    MessageWriter w(m);
    EXPECT_FALSE(w.add_header(HeaderKind::path, "<sip:a>\r\nX-Evil: 1"));
    EXPECT_FALSE(w.add_header("X-Evil", std::string("a\0b", 3)));
    EXPECT_FALSE(w.add_header("Bad Name", "x"));
    EXPECT_FALSE(w.add_header(HeaderKind::other, "x"));
    EXPECT_FALSE(w.set_param(HeaderKind::via, "received", "1\r\nX: y"));
    EXPECT_FALSE(w.set_param(HeaderKind::via, "a;b", "1"));
    EXPECT_FALSE(w.set_param(HeaderKind::via, "received", "1;maddr=evil"));  // a second parameter
    EXPECT_FALSE(w.set_param(HeaderKind::via, "received", "1, SIP/2.0/UDP evil"));
    EXPECT_FALSE(w.set_param(HeaderKind::via, "x", "\"open"));
    EXPECT_FALSE(w.set_param(HeaderKind::via, "x", "\"a\"b"));
    EXPECT_FALSE(w.set_param(HeaderKind::path, "lr", ""));  // no Path to put it on
    EXPECT_EQ(w.write(), crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nl: 0\n\n"));
}

TEST(Writer, RequestUriAndMaxForwards) {
    const auto m = parse(crlf("INVITE sip:old@b SIP/2.0\nMax-Forwards: 1\nl: 0\n\n"));
    MessageWriter w(m);
    ASSERT_TRUE(w.set_request_uri("sip:new@[2001:db8::5]:5060;transport=tcp"));
    EXPECT_FALSE(w.set_request_uri("not a uri"));
    EXPECT_EQ(w.decrement_max_forwards().value(), 0u);
    auto zero = w.decrement_max_forwards();
    ASSERT_FALSE(zero);
    EXPECT_EQ(zero.error().message, "Max-Forwards is 0 (too many hops)");
    EXPECT_EQ(w.write(), crlf("INVITE sip:new@[2001:db8::5]:5060;transport=tcp SIP/2.0\nMax-Forwards: 0\nl: 0\n\n"));

    const auto absent = parse(crlf("INVITE sip:a@b SIP/2.0\nl: 0\n\n"));
    MessageWriter wa(absent);
    EXPECT_EQ(wa.decrement_max_forwards().value(), 70u);
    EXPECT_EQ(wa.write(), crlf("INVITE sip:a@b SIP/2.0\nl: 0\nMax-Forwards: 70\n\n"));

    const auto bad = parse(crlf("INVITE sip:a@b SIP/2.0\nMax-Forwards: lots\nl: 0\n\n"));
    EXPECT_FALSE(MessageWriter(bad).decrement_max_forwards());
    const auto twice = parse(crlf("INVITE sip:a@b SIP/2.0\nMax-Forwards: 5\nMax-Forwards: 5\nl: 0\n\n"));
    EXPECT_FALSE(MessageWriter(twice).decrement_max_forwards());

    const auto response = parse(crlf("SIP/2.0 200 OK\nl: 0\n\n"));
    EXPECT_EQ(MessageWriter(response).set_request_uri("sip:a@b").error().message, "a response has no Request-URI");
}

TEST(Writer, ContentLengthIsAlwaysTheBodyLength) {
    const auto no_length = parse(crlf("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\n\nhello"));
    EXPECT_EQ(MessageWriter(no_length).write(),
              crlf("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\nContent-Length: 5\n\nhello"));
    // extra datagram octets are not copied; a removed Content-Length still comes back
    const auto extra = parse(crlf("MESSAGE sip:a@b SIP/2.0\nl:   2\nX: y\n\nhello"));
    MessageWriter w(extra);
    w.remove_headers(HeaderKind::content_length);
    EXPECT_EQ(w.write(), crlf("MESSAGE sip:a@b SIP/2.0\nl: 2\nX: y\n\nhe"));
}

TEST(Writer, RemoveParamsFromEveryElement) {
    const auto m = parse(
        crlf("REGISTER sip:r SIP/2.0\nContact: <sip:a@h;expires=5>;expires=600;q=0.5, sip:b@h;EXPIRES=3;x\nl: 0\n\n"));
    MessageWriter w(m);
    ASSERT_TRUE(w.remove_params(HeaderKind::contact, {"expires"}));
    const auto r = parse(w.write());
    EXPECT_EQ(r.first(HeaderKind::contact)->value, "<sip:a@h;expires=5>;q=0.5, sip:b@h;x");

    const auto broken = parse(crlf("REGISTER sip:r SIP/2.0\nContact: <sip:a@h>;;x\nl: 0\n\n"));
    EXPECT_FALSE(MessageWriter(broken).remove_params(HeaderKind::contact, {"x"}));
}

TEST(Writer, SetHeaderReplacesEveryFieldOfTheKind) {
    const auto m = parse(crlf("REGISTER sip:r SIP/2.0\nExpires: 600\nX: 1\nExpires: 700\nl: 0\n\n"));
    MessageWriter w(m);
    ASSERT_TRUE(w.set_header(HeaderKind::expires, "0"));
    ASSERT_TRUE(
        w.set_header(HeaderKind::security_server, "ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4"));
    EXPECT_EQ(w.write(), crlf("REGISTER sip:r SIP/2.0\nExpires: 0\nX: 1\nl: 0\n"
                              "Security-Server: ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4\n\n"));
    // a second set replaces the first, wherever it went
    ASSERT_TRUE(w.set_header(HeaderKind::expires, "5"));
    ASSERT_TRUE(w.set_header(HeaderKind::security_server, "digest"));
    const auto again = parse(w.write());
    EXPECT_EQ(expires(again).value(), 5u);
    ASSERT_EQ(again.count(HeaderKind::security_server), 1u);
    EXPECT_EQ(again.first(HeaderKind::security_server)->value, "digest");
    // removing a kind removes what was added of it, by kind or by name
    ASSERT_TRUE(w.add_header("X-Added", "1"));
    w.remove_headers(HeaderKind::security_server);
    w.remove_headers("x-added");
    w.remove_headers("X");
    EXPECT_EQ(w.write(), crlf("REGISTER sip:r SIP/2.0\nExpires: 5\nl: 0\n\n"));
    EXPECT_FALSE(w.set_header(HeaderKind::content_length, "7"));
    EXPECT_FALSE(w.set_header(HeaderKind::expires, "1\r\nX: y"));
}

TEST(Writer, ContentLengthCannotBeAddedTwice) {
    const auto m = parse(crlf("OPTIONS sip:a@b SIP/2.0\nl: 0\n\n"));
    MessageWriter w(m);
    EXPECT_FALSE(w.add_header(HeaderKind::content_length, "5"));
    EXPECT_FALSE(w.add_header("content-length", "5"));
    EXPECT_FALSE(w.add_header("l", "5"));
    // a known name given as text goes where its kind goes, under its canonical name
    ASSERT_TRUE(w.add_header("v", "SIP/2.0/UDP p;branch=z9hG4bKv"));
    EXPECT_EQ(w.write(), crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP p;branch=z9hG4bKv\nl: 0\n\n"));
}

TEST(Writer, RemoveTopRouteValue) {
    const auto m =
        parse(crlf("INVITE sip:b@h SIP/2.0\nRoute: <sip:pcscf.example.com;lr>, <sip:scscf.example.com;lr>\n"
                   "Route: <sip:as.example.com;lr>\nl: 0\n\n"));
    MessageWriter w(m);
    ASSERT_TRUE(w.remove_top_value(HeaderKind::route));
    auto r = name_addrs(parse(w.write()), HeaderKind::route);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].uri.host.text, "scscf.example.com");
    ASSERT_TRUE(w.remove_top_value(HeaderKind::route));
    ASSERT_TRUE(w.remove_top_value(HeaderKind::route));
    EXPECT_EQ(w.remove_top_value(HeaderKind::route).error().message, "no Route to remove");
    EXPECT_EQ(parse(w.write()).count(HeaderKind::route), 0u);

    // commas inside an auth value separate parameters: the whole first field goes
    const auto a =
        parse(crlf("SIP/2.0 401 Unauthorized\nWWW-Authenticate: Digest realm=\"a\", nonce=\"1\"\n"
                   "WWW-Authenticate: Digest realm=\"b\", nonce=\"2\"\nl: 0\n\n"));
    MessageWriter wa(a);
    ASSERT_TRUE(wa.remove_top_value(HeaderKind::www_authenticate));
    const auto left = parse(wa.write());
    ASSERT_EQ(left.count(HeaderKind::www_authenticate), 1u);
    EXPECT_EQ(auth_values(left, HeaderKind::www_authenticate)->front().realm(), "b");
}

TEST(Writer, ResponseToARequest) {
    const auto text = test::fixture("seed004/step1_register.sip");
    const auto m = parse(text);
    auto w = MessageWriter::response_to(m, 494, "Security Agreement Required", "pcscf1");
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE(
        w->add_header(HeaderKind::security_server, "ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4"));
    ASSERT_TRUE(w->add_header(HeaderKind::require, "sec-agree"));
    const auto out = w->write();
    const auto r = parse(out, Framing::stream);
    EXPECT_EQ(r.status_code(), 494);
    EXPECT_EQ(r.reason(), "Security Agreement Required");
    EXPECT_TRUE(validate(r)) << out;
    EXPECT_EQ(top_via(r)->branch, "z9hG4bK370690ecb-643c9869");
    EXPECT_EQ(from(r)->tag(), "54467370690e30-327b23c6");
    EXPECT_EQ(to(r)->tag(), "pcscf1");
    EXPECT_EQ(to(r)->uri.text, to(m)->uri.text);
    EXPECT_EQ(call_id(r).value(), call_id(m).value());
    EXPECT_EQ(cseq(r).value(), cseq(m).value());
    EXPECT_EQ(r.count(HeaderKind::security_client), 0u);
    EXPECT_EQ(r.count(HeaderKind::authorization), 0u);
    EXPECT_EQ(r.count(HeaderKind::contact), 0u);
    EXPECT_EQ(r.count(HeaderKind::max_forwards), 0u);
    EXPECT_EQ(r.count(HeaderKind::security_server), 1u);
    EXPECT_EQ(r.content_length(), 0u);
    EXPECT_TRUE(r.body().empty());

    // a body in the request does not go into the answer
    const auto notify = parse(test::fixture("seed004/step7_notify.sip"));
    auto ok = MessageWriter::response_to(notify, 200, "OK");  // To already has a tag
    ASSERT_TRUE(ok) << ok.error().message;
    const auto okr = parse(ok->write(), Framing::stream);
    EXPECT_TRUE(okr.body().empty());
    EXPECT_EQ(okr.count(HeaderKind::content_type), 0u);
    EXPECT_EQ(to(okr)->tag(), "544673707d1e7d-3d740161");

    EXPECT_EQ(MessageWriter::response_to(m, 400, "Bad").error().message,
              "a response to a request without To tag needs one (RFC 3261 8.2.6.2)");
    EXPECT_TRUE(MessageWriter::response_to(m, 100, "Trying"));
    EXPECT_FALSE(MessageWriter::response_to(m, 99, "x"));
    EXPECT_FALSE(MessageWriter::response_to(m, 700, "x"));
    EXPECT_FALSE(MessageWriter::response_to(m, 400, "Bad\r\nX: y", "t"));
    EXPECT_FALSE(MessageWriter::response_to(notify, 200, "OK", "a;b=c\r\n"));
    EXPECT_EQ(MessageWriter::response_to(okr, 200, "OK").error().message,
              "a response answers a request, not a response");
}

TEST(Writer, SetBody) {
    const auto m = parse(test::fixture("seed004/step7_notify.sip"));
    MessageWriter w(m);
    ASSERT_TRUE(w.set_body("hello", "text/plain"));
    auto r = parse(w.write(), Framing::stream);
    EXPECT_EQ(r.body(), "hello");
    EXPECT_EQ(r.content_length(), 5u);
    EXPECT_EQ(r.first(HeaderKind::content_type)->value, "text/plain");
    ASSERT_TRUE(w.set_body(""));
    r = parse(w.write(), Framing::stream);
    EXPECT_TRUE(r.body().empty());
    EXPECT_EQ(r.count(HeaderKind::content_type), 0u);
}

}  // namespace
}  // namespace pcscf::sip
