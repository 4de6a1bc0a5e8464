#pragma once
// The benchmarks' options, read strictly: a value that is not a number of the option's
// type (letters, trailing text, a minus sign on a count, out of range) or not one of its
// words stops the program with exit code 2, naming the option and what it was given.
// std::stoul would throw "stoul" from deep in main, or take "-1" as 4294967295.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pcscf::bench {

// What follows `prefix` ("--sizes=") in the argument, or nullptr when it is another option.
inline const char* option_value(std::string_view arg, std::string_view prefix) {
    return arg.starts_with(prefix) ? arg.data() + prefix.size() : nullptr;
}

// The option's name for a message, from "--sas", "--sas=" or the whole "--sas=abc".
inline std::string_view option_name(std::string_view option) { return option.substr(0, option.find('=')); }

// Each item of a comma-separated list ("64,512,1400") read by `one`, in order.
template <class One>
auto list_arg(std::string_view text, One one) {
    std::vector<decltype(one(text))> v;
    for (size_t at = 0;;) {
        const size_t comma = text.find(',', at);
        v.push_back(one(text.substr(at, comma - at)));
        if (comma == std::string_view::npos) return v;
        at = comma + 1;
    }
}

// `option` as in option_name(); T is the option's type.
template <class T>
T number_arg(std::string_view option, std::string_view text) {
    T v{};
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(text.data(), last, v);
    if (text.empty() || ec != std::errc{} || end != last) {
        option = option_name(option);
        std::fprintf(stderr, "%.*s takes %s, not '%.*s'\n", int(option.size()), option.data(),
                     std::is_floating_point_v<T> ? "a number" : "a whole number in range", int(text.size()),
                     text.data());
        std::exit(2);
    }
    return v;
}

template <class T>
std::vector<T> number_list_arg(std::string_view option, std::string_view text) {
    return list_arg(text, [&](std::string_view item) { return number_arg<T>(option, item); });
}

// One of `words` ("sha1", "md5"): returns its position there.
inline size_t word_arg(std::string_view option, std::string_view text, std::initializer_list<std::string_view> words) {
    size_t i = 0;
    for (std::string_view w : words) {
        if (w == text) return i;
        ++i;
    }
    option = option_name(option);
    std::fprintf(stderr, "%.*s takes", int(option.size()), option.data());
    for (std::string_view w : words) std::fprintf(stderr, " %.*s", int(w.size()), w.data());
    std::fprintf(stderr, ", not '%.*s'\n", int(text.size()), text.data());
    std::exit(2);
}

inline std::vector<size_t> word_list_arg(std::string_view option, std::string_view text,
                                         std::initializer_list<std::string_view> words) {
    return list_arg(text, [&](std::string_view item) { return word_arg(option, item, words); });
}

// "4,6": IP versions.
inline std::vector<int> ip_versions_arg(std::string_view option, std::string_view text) {
    std::vector<int> v;
    for (size_t w : word_list_arg(option, text, {"4", "6"})) v.push_back(w == 0 ? 4 : 6);
    return v;
}

}  // namespace pcscf::bench
