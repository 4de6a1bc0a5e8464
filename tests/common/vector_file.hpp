#pragma once
// Reads the `key value` blocks written by the tests' vector scripts (vectors/make_*.py).
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

}  // namespace pcscf::test
