#pragma once
// Reads the expected-results tables (tests/data/*.expected.tsv) shared by the geo tests.
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cdn::geodns::test {

inline std::string data_path(const std::string& name) {
    return std::string(GEODNS_TEST_DATA) + "/" + name;
}

// Rows of a tab-separated file as column name -> value, skipping '#' comment lines.
struct Row {
    std::vector<std::string> names, values;
    const std::string& operator[](const std::string& name) const {
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == name) return values.at(i);
        }
        throw std::out_of_range("no column " + name);
    }
};

inline std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, '\t'))
        out.push_back(cell);
    return out;
}

inline std::vector<Row> read_tsv(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file);
    std::vector<Row> rows;
    std::vector<std::string> header;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (header.empty()) {
            header = split_tabs(line);
            continue;
        }
        rows.push_back(Row{header, split_tabs(line)});
    }
    return rows;
}

// "us-east=913,eu-central=6964,..." -> ids and km in that order.
inline std::vector<std::pair<std::string, double>> parse_order(const std::string& text) {
    std::vector<std::pair<std::string, double>> out;
    if (text == "-") return out;
    std::istringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const auto eq = item.find('=');
        out.emplace_back(item.substr(0, eq), std::stod(item.substr(eq + 1)));
    }
    return out;
}

}  // namespace cdn::geodns::test
