// What a reg event NOTIFY's body says about one registration (RFC 3680 5.3), and the
// SUBSCRIBE the P-CSCF sends for it (TS 24.229 5.2.3), read back with the SIP parser.
#include <gtest/gtest.h>

#include "control/proxy/reg_event.hpp"
#include "sip/sip.hpp"

namespace pcscf::proxy {
namespace {

const std::string kAor = "sip:alice@ims.example";

std::string reginfo(const std::string& aor, const std::string& reg_state, std::vector<std::string> contacts) {
    std::string doc =
        "<?xml version=\"1.0\"?>\n<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"1\" "
        "state=\"full\">\n <registration aor=\"" +
        aor + "\" id=\"r1\" state=\"" + reg_state + "\">\n";
    for (size_t i = 0; i < contacts.size(); ++i)
        doc += "  <contact id=\"c" + std::to_string(i) + "\" state=\"" + contacts[i] +
               "\" event=\"registered\"><uri>sip:ue@10.0.0.7:6101</uri></contact>\n";
    return doc + " </registration>\n</reginfo>\n";
}

TEST(RegEvent, WhatANotifySaysAboutARegistration) {
    EXPECT_FALSE(registration_ended(reginfo(kAor, "active", {"active"}), kAor));
    EXPECT_TRUE(registration_ended(reginfo(kAor, "terminated", {"terminated"}), kAor));
    EXPECT_TRUE(registration_ended(reginfo(kAor, "terminated", {}), kAor)) << "no contact listed";
    EXPECT_TRUE(registration_ended(reginfo(kAor, "active", {"terminated", "terminated"}), kAor))
        << "every contact gone";
    EXPECT_FALSE(registration_ended(reginfo(kAor, "active", {"terminated", "active"}), kAor)) << "one left";
    EXPECT_FALSE(registration_ended(reginfo("sip:bob@ims.example", "terminated", {}), kAor)) << "another AoR";
    EXPECT_FALSE(registration_ended(reginfo(kAor, "init", {}), kAor));
    // Hostile or cut bodies say nothing, and never read past their end.
    EXPECT_FALSE(registration_ended("", kAor));
    EXPECT_FALSE(registration_ended("<registration aor=\"" + kAor, kAor));
    EXPECT_FALSE(registration_ended("<registration aor='" + kAor + "' state='terminat", kAor));
    EXPECT_TRUE(registration_ended("<registration aor='" + kAor + "' state='terminated'/>", kAor)) << "quotes '";
    const std::string doc = reginfo(kAor, "terminated", {});
    for (size_t n = 0; n < doc.size(); ++n) (void)registration_ended(doc.substr(0, n), kAor);
}

TEST(RegEvent, TheSubscribeIsAValidRequestForTheImpu) {
    const Endpoint me{*net::IpAddr::parse("10.98.0.1"), 5060};
    const std::string text =
        subscribe_request({kAor, "c1@pcscf", "t1", "z9hG4bKs1", me, true, "<sip:orig@scscf.ims.example;lr>"});
    auto m = sip::parse_message(text, sip::Framing::datagram);
    ASSERT_TRUE(m.has_value()) << m.error().message;
    ASSERT_TRUE(sip::validate(*m).has_value());
    EXPECT_EQ(m->method(), "SUBSCRIBE");
    EXPECT_EQ(m->request_uri(), kAor);
    EXPECT_EQ(sip::top_via(*m)->transport_name, "TCP");
    EXPECT_EQ(sip::top_via(*m)->branch, "z9hG4bKs1");
    EXPECT_EQ(std::string(m->first(sip::HeaderKind::route)->value), "<sip:orig@scscf.ims.example;lr>");
    EXPECT_EQ(std::string(m->first(sip::HeaderKind::event)->value), "reg");
    EXPECT_EQ(sip::from(*m)->uri.text, subscriber_uri(me));
    EXPECT_EQ(sip::from(*m)->tag(), "t1");
    EXPECT_EQ(std::string(m->first(sip::HeaderKind::contact)->value), "<sip:pcscf@10.98.0.1:5060;transport=tcp>");
}

}  // namespace
}  // namespace pcscf::proxy
