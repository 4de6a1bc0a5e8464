#pragma once
// The byte form of what the state store keeps: fixed-width little-endian integers and
// length-prefixed byte strings, written and read field by field. Reading is bounded: a
// value that ends early or carries a length past its end is an error, never a crash.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "control/error.hpp"

namespace pcscf::ctl::state {

class Encoder {
public:
    template <class T>
    Encoder& num(T v) {
        static_assert(std::is_integral_v<T> || std::is_enum_v<T>);
        char b[sizeof v];
        std::memcpy(b, &v, sizeof v);  // x86: little-endian, as the format says
        out_.append(b, sizeof v);
        return *this;
    }
    Encoder& bytes(std::span<const uint8_t> b) {
        num(uint32_t(b.size()));
        out_.append(reinterpret_cast<const char*>(b.data()), b.size());
        return *this;
    }
    Encoder& str(std::string_view s) {
        num(uint32_t(s.size()));
        out_.append(s);
        return *this;
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class Decoder {
public:
    explicit Decoder(std::string_view in) : in_(in) {}

    template <class T>
    bool num(T& v) {
        if (in_.size() < sizeof v) return fail();
        std::memcpy(&v, in_.data(), sizeof v);
        in_.remove_prefix(sizeof v);
        return true;
    }
    bool bytes(std::span<uint8_t> out) {  // exactly out.size() bytes, length-prefixed
        uint32_t n = 0;
        if (!num(n) || n != out.size() || in_.size() < n) return fail();
        std::memcpy(out.data(), in_.data(), n);
        in_.remove_prefix(n);
        return true;
    }
    bool str(std::string& s) {
        uint32_t n = 0;
        if (!num(n) || in_.size() < n) return fail();
        s.assign(in_.data(), n);
        in_.remove_prefix(n);
        return true;
    }
    // Everything read and nothing left over.
    bool done() const { return ok_ && in_.empty(); }

private:
    bool fail() {
        ok_ = false;
        return false;
    }
    std::string_view in_;
    bool ok_ = true;
};

}  // namespace pcscf::ctl::state
