#pragma once
// What the clang fuzz build (scripts/fuzz) needs of C++23 that Debian 12's clang 14 with
// libstdc++ 12 lacks. scripts/fuzz force-includes this header (-include) into every file
// of that build; the g++ builds never see it. Each part stands down where the compiler or
// library has the real thing.
//
// std::expected: libstdc++ 12's <expected> relies on conditionally trivial special members
// (P0848, clang 16) and declares nothing unless __cpp_concepts >= 202002L, which clang 14
// does not claim. Claiming it (-D__cpp_concepts=202002L) compiles the header, but clang 14
// then takes the first of expected's constrained destructors, `= default`, and deletes it
// for every non-trivial T or E: std::expected<std::string, int> cannot be destroyed. So
// here is the part of std::expected the project uses (construction from a value or
// std::unexpected, assignment, observers, value_or, comparisons), stored in a std::variant,
// whose conditional triviality libstdc++ builds without P0848. No monadic operations: code
// that starts using them fails to compile here, loudly, and this header grows.

// std::construct_at(p, args...) on an aggregate (the engine builds its outbound keys so)
// relies on aggregate initialization from parentheses (P0960, clang 16). For exactly those
// calls, this overload initializes with braces; it comes before every library header, so
// that the library's own calls (allocators, emplace) see it too.
#if defined(__clang__) && __cplusplus > 202002L && !defined(__cpp_aggregate_paren_init)
#include <new>
#include <type_traits>
#include <utility>

namespace std {

template <class T, class... A>
requires(is_aggregate_v<T> && sizeof...(A) > 0 && !is_constructible_v<T, A...>) constexpr T* construct_at(T* p,
                                                                                                          A&&... a) {
    return ::new (static_cast<void*>(p)) T{std::forward<A>(a)...};
}

}  // namespace std

#endif  // clang without P0960

// std::expected (see the top).
#include <expected>  // a library that has it defines __cpp_lib_expected, and we stand down

#if __cplusplus > 202002L && !defined(__cpp_lib_expected)

#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace std {

template <class E>
class unexpected {
public:
    template <class G = E>
    requires(!is_same_v<remove_cvref_t<G>, unexpected> && !is_same_v<remove_cvref_t<G>, in_place_t> &&
             is_constructible_v<E, G>) constexpr explicit unexpected(G&& e)
        : e_(std::forward<G>(e)) {}
    template <class... A>
    constexpr explicit unexpected(in_place_t, A&&... a) : e_(std::forward<A>(a)...) {}

    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }
    constexpr E&& error() && noexcept { return std::move(e_); }

    template <class G>
    friend constexpr bool operator==(const unexpected& a, const unexpected<G>& b) {
        return a.error() == b.error();
    }

private:
    E e_;
};
template <class E>
unexpected(E) -> unexpected<E>;

struct unexpect_t {
    explicit unexpect_t() = default;
};
inline constexpr unexpect_t unexpect{};

template <class E>
class bad_expected_access;
template <>
class bad_expected_access<void> : public exception {
public:
    const char* what() const noexcept override { return "bad access to std::expected without expected value"; }
};
template <class E>
class bad_expected_access : public bad_expected_access<void> {
public:
    explicit bad_expected_access(E e) : e_(std::move(e)) {}
    const E& error() const& noexcept { return e_; }

private:
    E e_;
};

namespace compat_detail {
template <class T>
inline constexpr bool is_unexpected = false;
template <class E>
inline constexpr bool is_unexpected<unexpected<E>> = true;

// What expected<T, E> and expected<void, E> share: the error side. `Self` is the expected,
// `V` what holds its value (T, or monostate for void).
template <class Self, class V, class E>
class expected_base {
public:
    using error_type = E;
    using unexpected_type = unexpected<E>;

    template <class G>
    requires is_constructible_v<E, const G&>
    constexpr explicit(!is_convertible_v<const G&, E>) expected_base(const unexpected<G>& u)
        : v_(in_place_index<1>, in_place, u.error()) {}
    template <class G>
    requires is_constructible_v<E, G>
    constexpr explicit(!is_convertible_v<G, E>) expected_base(unexpected<G>&& u)
        : v_(in_place_index<1>, in_place, std::move(u).error()) {}
    template <class... A>
    constexpr explicit expected_base(unexpect_t, A&&... a) : v_(in_place_index<1>, in_place, std::forward<A>(a)...) {}

    template <class G>
    constexpr Self& operator=(const unexpected<G>& u) {
        v_.template emplace<1>(in_place, u.error());
        return static_cast<Self&>(*this);
    }
    template <class G>
    constexpr Self& operator=(unexpected<G>&& u) {
        v_.template emplace<1>(in_place, std::move(u).error());
        return static_cast<Self&>(*this);
    }

    constexpr bool has_value() const noexcept { return v_.index() == 0; }
    constexpr explicit operator bool() const noexcept { return has_value(); }
    constexpr const E& error() const& noexcept { return std::get_if<1>(&v_)->error(); }
    constexpr E& error() & noexcept { return std::get_if<1>(&v_)->error(); }
    constexpr E&& error() && noexcept { return std::move(std::get_if<1>(&v_)->error()); }

    template <class G>
    friend constexpr bool operator==(const Self& a, const unexpected<G>& u) {
        return !a.has_value() && a.error() == u.error();
    }

protected:
    template <class... A>
    constexpr explicit expected_base(in_place_t, A&&... a) : v_(in_place_index<0>, std::forward<A>(a)...) {}
    constexpr void check() const {
        if (!has_value()) throw bad_expected_access<E>(error());
    }

    variant<V, unexpected<E>> v_;
};
}  // namespace compat_detail

template <class T, class E>
class expected : public compat_detail::expected_base<expected<T, E>, T, E> {
    using base = compat_detail::expected_base<expected<T, E>, T, E>;
    using base::v_;

public:
    using value_type = T;
    using base::base;
    using base::operator=;

    constexpr expected() requires is_default_constructible_v<T> : base(in_place) {}
    template <class U = T>
    requires(!is_same_v<remove_cvref_t<U>, in_place_t> && !is_same_v<remove_cvref_t<U>, expected> &&
             !compat_detail::is_unexpected<remove_cvref_t<U>> &&
             is_constructible_v<T, U>) constexpr explicit(!is_convertible_v<U, T>) expected(U&& v)
        : base(in_place, std::forward<U>(v)) {}
    template <class U, class G>
    requires(!is_same_v<expected<U, G>, expected> && is_constructible_v<T, const U&> &&
             is_constructible_v<E, const G&>) constexpr explicit(!is_convertible_v<const U&, T> ||
                                                                 !is_convertible_v<const G&, E>)
        expected(const expected<U, G>& o)
        : base(in_place) {
        if (o.has_value()) v_.template emplace<0>(*o);
        else v_.template emplace<1>(in_place, o.error());
    }
    template <class... A>
    constexpr explicit expected(in_place_t, A&&... a) : base(in_place, std::forward<A>(a)...) {}

    template <class U = T>
    requires(!is_same_v<remove_cvref_t<U>, expected> && !compat_detail::is_unexpected<remove_cvref_t<U>> &&
             is_constructible_v<T, U>) constexpr expected&
    operator=(U&& v) {
        v_.template emplace<0>(std::forward<U>(v));
        return *this;
    }
    template <class... A>
    constexpr T& emplace(A&&... a) {
        return v_.template emplace<0>(std::forward<A>(a)...);
    }

    constexpr const T* operator->() const noexcept { return std::get_if<0>(&v_); }
    constexpr T* operator->() noexcept { return std::get_if<0>(&v_); }
    constexpr const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
    constexpr T& operator*() & noexcept { return *std::get_if<0>(&v_); }
    constexpr T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
    constexpr const T& value() const& { return this->check(), **this; }
    constexpr T& value() & { return this->check(), **this; }
    constexpr T&& value() && { return this->check(), std::move(**this); }
    template <class U>
    constexpr T value_or(U&& u) const& {
        return this->has_value() ? **this : static_cast<T>(std::forward<U>(u));
    }
    template <class U>
    constexpr T value_or(U&& u) && {
        return this->has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(u));
    }

    template <class U, class G>
    requires(!is_void_v<U>) friend constexpr bool operator==(const expected& a, const expected<U, G>& b) {
        if (a.has_value() != b.has_value()) return false;
        return a.has_value() ? *a == *b : a.error() == b.error();
    }
    template <class U>
    requires(!compat_detail::is_unexpected<U>) friend constexpr bool operator==(const expected& a, const U& v) {
        return a.has_value() && *a == v;
    }
};

template <class E>
class expected<void, E> : public compat_detail::expected_base<expected<void, E>, monostate, E> {
    using base = compat_detail::expected_base<expected<void, E>, monostate, E>;
    using base::v_;

public:
    using value_type = void;
    using base::base;
    using base::operator=;

    constexpr expected() noexcept : base(in_place) {}
    constexpr explicit expected(in_place_t) noexcept : base(in_place) {}
    constexpr void emplace() noexcept { v_.template emplace<0>(); }
    constexpr void operator*() const noexcept {}
    constexpr void value() const { this->check(); }

    template <class G>
    friend constexpr bool operator==(const expected& a, const expected<void, G>& b) {
        if (a.has_value() != b.has_value()) return false;
        return a.has_value() || a.error() == b.error();
    }
};

}  // namespace std

#endif  // C++23 without __cpp_lib_expected
