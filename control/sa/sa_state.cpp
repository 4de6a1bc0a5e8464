#include "control/sa/sa_state.hpp"

#include <algorithm>
#include <charconv>

#include "control/state/codec.hpp"

namespace pcscf::ctl {

namespace {
constexpr uint8_t kVersion = 2;  // of these values; the store's format key covers the rest
// SA records: 3 appended the encryption algorithm and CK_ESP, 4 the mode, NAT port and
// inner address (UDP-enc-tun), 5 widened the HMAC states to SHA-256's 32 bytes; a record
// of 2 is still read as ealg=null, one of 2 or 3 as transport mode, one of 2 to 4 with
// the 20-byte states of MD5 and SHA-1. An older binary refuses a newer version.
constexpr uint8_t kSaVersion = 5;
constexpr std::string_view kSaPrefix = "sa/", kSeqPrefix = "seq/";

// A value outside the enum (a damaged record) by its number.
template <class E>
std::string text(E e) {
    const std::string_view n = esp::name(e);
    return n == "?" ? std::to_string(int(e)) : std::string(n);
}
std::string pair_text(esp::Alg alg, esp::Ealg ealg) { return "alg=" + text(alg) + ", ealg=" + text(ealg); }
}  // namespace

Expected<void> check_cipher(esp::Alg alg, esp::Ealg ealg, size_t cipher_len) {
    if (!esp::transform(alg, ealg))
        return fail(Errc::invalid, pair_text(alg, ealg) +
                                       " is not a pair TS 33.203 Annex H allows (an HMAC with null, aes-cbc or "
                                       "des-ede3-cbc; null with aes-gcm; aes-gmac with null; hmac-sha-256-128 as "
                                       "the other HMACs)");
    const size_t want = esp::cipher_key_len(alg, ealg);
    if (cipher_len == want) return {};
    if (want == 0)
        return fail(Errc::invalid,
                    pair_text(alg, ealg) + " takes no cipher key (" + std::to_string(cipher_len) + " bytes given)");
    return fail(Errc::invalid, "the cipher key of " + pair_text(alg, ealg) + " is " + std::to_string(want) + " bytes" +
                                   (esp::is_aead(*esp::transform(alg, ealg)) ? " (AES key || salt)" : " (CK_ESP)") +
                                   ", not " + std::to_string(cipher_len) + " (TS 33.203 Annex I)");
}

std::string sa_record_key(SaId id) { return std::string(kSaPrefix) + std::to_string(id); }
std::string seq_record_key(SaId id) { return std::string(kSeqPrefix) + std::to_string(id); }

std::optional<SaId> id_of(std::string_view key, std::string_view prefix) {
    if (!key.starts_with(prefix)) return std::nullopt;
    key.remove_prefix(prefix.size());
    SaId id = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || id == 0) return std::nullopt;
    return id;
}

std::string encode(const SaInfo& sa, const esp::HmacKey& key) {
    const esp::SaConfig& c = sa.cfg;
    state::Encoder e;
    e.num(kSaVersion).num(sa.generation).num(sa.id).num(c.dir).num(c.alg).num(c.spi);
    e.bytes(c.ue_addr.bytes).bytes(c.pcscf_addr.bytes).num(c.ue_port).num(c.pcscf_port);
    e.num(sa.worker).str(sa.label).bytes(key.ipad).bytes(key.opad);
    e.num(c.ealg).bytes(sa.cipher.span());
    e.num(c.mode).num(c.encap_port).bytes(c.ue_inner.bytes);
    return e.take();
}

Expected<StoredSa> decode_sa(std::string_view value) {
    StoredSa s;
    esp::SaConfig& c = s.info.cfg;
    state::Decoder d(value);
    uint8_t version = 0;
    bool ok = d.num(version) && version >= 2 && version <= kSaVersion && d.num(s.info.generation) && d.num(s.info.id) &&
              d.num(c.dir) && d.num(c.alg) && d.num(c.spi) && d.bytes(c.ue_addr.bytes) && d.bytes(c.pcscf_addr.bytes) &&
              d.num(c.ue_port) && d.num(c.pcscf_port) && d.num(s.info.worker) && d.str(s.info.label);
    const size_t state_len = version >= 5 ? s.key.ipad.size() : 20;
    ok = ok && d.bytes(std::span(s.key.ipad).first(state_len)) && d.bytes(std::span(s.key.opad).first(state_len));
    c.ealg = esp::Ealg::null;  // version 2
    std::string cipher;
    if (ok && version >= 3) ok = d.num(c.ealg) && d.str(cipher);
    c.mode = esp::Mode::transport;  // versions 2 and 3
    if (ok && version >= 4) ok = d.num(c.mode) && d.num(c.encap_port) && d.bytes(c.ue_inner.bytes);
    ok = ok && d.done();
    if (!ok || (c.dir != esp::Direction::inbound && c.dir != esp::Direction::outbound))
        return fail(Errc::invalid, "an SA record is not in the expected form");
    if (c.mode != esp::Mode::transport &&
        (c.mode != esp::Mode::udp_enc_tun || !c.ue_addr.is_v4() || !c.ue_inner.is_v4()))
        return fail(Errc::invalid, "SA record " + std::to_string(s.info.id) +
                                       ": an unknown mode, or UDP-enc-tun without IPv4 public and inner addresses");
    // Every pair Annex H allows, and hmac-sha-256-128's (a binary that predates an alg
    // value refuses its records on the alg).
    if (auto pair = check_cipher(c.alg, c.ealg, cipher.size()); !pair)
        return fail(Errc::invalid, "SA record " + std::to_string(s.info.id) + ": " + pair.error().message);
    s.info.cipher.len = uint8_t(cipher.size());
    std::copy(cipher.begin(), cipher.end(), s.info.cipher.bytes.begin());
    c.cookie = s.info.id;
    s.info.state = SaState::active;
    return s;
}

std::string encode(const SeqMark& m) {
    state::Encoder e;
    e.num(kVersion).num(m.seq).num(m.interval).num(uint8_t(m.exact)).num(m.generation);
    return e.take();
}

Expected<SeqMark> decode_seq(std::string_view value) {
    SeqMark m;
    state::Decoder d(value);
    uint8_t version = 0, exact = 0;
    if (!(d.num(version) && version == kVersion && d.num(m.seq) && d.num(m.interval) && d.num(exact) &&
          d.num(m.generation) && d.done()))
        return fail(Errc::invalid, "a sequence number record is not in the expected form");
    m.exact = exact != 0;
    return m;
}

uint32_t resume_at(const SaInfo& sa, const std::optional<SeqMark>& mark, uint32_t interval_now,
                   uint32_t generation_now) {
    // Starts since the mark (or, without one, since the SA was added), this one included.
    const uint32_t since = mark ? mark->generation : sa.generation;
    const uint64_t starts = generation_now > since ? generation_now - since : 1;
    const uint64_t k = std::max(mark ? mark->interval : 0u, interval_now);
    uint64_t at = 0;
    if (mark && mark->exact) at = mark->seq + 2 * k * (starts - 1);  // exact at the first start after it
    else at = (mark ? uint64_t{mark->seq} : 0) + 2 * k * starts;
    return at > UINT32_MAX ? UINT32_MAX : uint32_t(at);  // exhausted: the SA must be replaced
}

std::string encode_generation(uint32_t generation) {
    state::Encoder e;
    e.num(kVersion).num(generation);
    return e.take();
}

Expected<uint32_t> decode_generation(std::string_view value) {
    state::Decoder d(value);
    uint8_t version = 0;
    uint32_t g = 0;
    if (!(d.num(version) && version == kVersion && d.num(g) && d.done()))
        return fail(Errc::invalid, "the generation record is not in the expected form");
    return g;
}

}  // namespace pcscf::ctl
