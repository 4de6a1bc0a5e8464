#pragma once
// Helpers shared by the SIP tests: fixture files and CRLF message text.

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "sip/message.hpp"

namespace pcscf::sip::test {

inline std::filesystem::path fixture_dir() { return PCSCF_SIP_FIXTURES; }

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string fixture(std::string_view relative) { return read_file(fixture_dir() / relative); }

// Every fixture file, sorted, for the tests that run over all of them.
inline std::vector<std::filesystem::path> all_fixtures() {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(fixture_dir()))
        if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// A string literal with its embedded NULs: bin("a\0b") has 3 bytes.
template <std::size_t N>
std::string bin(const char (&literal)[N]) {
    return std::string(literal, N - 1);
}

// Message text written with "\n" line ends, sent with CRLF.
inline std::string crlf(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// Passes when `result` failed with an error message containing `part`.
template <class R>
::testing::AssertionResult fails_with(const R& result, std::string_view part) {
    if (result) return ::testing::AssertionFailure() << "accepted";
    if (result.error().message.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "got: " << result.error().message << "\nwanted: " << part;
    return ::testing::AssertionSuccess();
}

// Keeps text alive until the test program ends, for values that point into it.
inline std::string_view keep(std::string text) {
    static std::deque<std::string> texts;
    texts.push_back(std::move(text));
    return texts.back();
}

// Parses kept text (a Message points into its buffer).
inline const Message& parsed(std::string text, Framing framing = Framing::datagram) {
    static std::deque<Message> messages;
    auto m = parse_message(keep(std::move(text)), framing);
    EXPECT_TRUE(m) << m.error().message;
    messages.push_back(m ? std::move(*m) : Message{});
    return messages.back();
}

}  // namespace pcscf::sip::test
