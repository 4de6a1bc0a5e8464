#pragma once
// Reads the `key value` blocks written by the tests' vector scripts (vectors/make_*.py).
#include <cctype>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace pcscf::test {

using Vector = std::map<std::string, std::string>;

inline std::vector<Vector> read_vectors(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<Vector> out;
    Vector cur;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        if (line == "end") {
            out.push_back(std::move(cur));
            cur.clear();
            continue;
        }
        const auto sp = line.find(' ');
        if (sp == std::string::npos) throw std::runtime_error("bad vector line: " + line);
        cur[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return out;
}

// Where the vectors whose `key` is `value` sit: the values of a parameterised test.
inline std::vector<size_t> indices_where(const std::vector<Vector>& all, const std::string& key,
                                         const std::string& value) {
    std::vector<size_t> out;
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i].at(key) == value) out.push_back(i);
    return out;
}

// A vector's `name` as a test name may spell it (letters, digits and '_').
inline std::string test_name_of(const Vector& v) {
    std::string n = v.at("name");
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

}  // namespace pcscf::test
