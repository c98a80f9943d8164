#pragma once
// A throwaway PKI for TLS integration tests, made at test time with the openssl CLI (ECDSA P-256
// keys): a CA, host certificates signed by it, an expired one. Shared by the edge's TLS listener
// tests and its TLS-to-origin tests.
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace cdn::test {

// Runs a shell command line (stderr joined to stdout) and returns status and output.
inline CommandResult sh(const std::string& command,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return run_command({"sh", "-c", command + " 2>&1"}, timeout);
}

inline void must(const std::string& command) {
    const CommandResult r = sh(command);
    INFO(command << "\n" << r.out);
    REQUIRE(r.status == 0);
}

// CA files ca.pem / ca.key under dir, and what issue() makes next to them.
struct Pki {
    explicit Pki(const TempDir& d) : dir(d.path().string()) {
        must("cd " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 " +
             "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cdn-test-ca");
    }
    std::string path(const std::string& name) const { return dir + "/" + name; }
    // Issues NAME.pem / NAME.key for the given names: DNS names, or "IP:127.0.0.1" for an IP
    // address SAN. The first name is the CN.
    void issue(const std::string& name, const std::vector<std::string>& names, int serial) const {
        std::string san = "subjectAltName=";
        for (std::size_t i = 0; i < names.size(); ++i)
            san += (i ? "," : "") + (names[i].starts_with("IP:") ? names[i] : "DNS:" + names[i]);
        const std::string cn = names[0].starts_with("IP:") ? names[0].substr(3) : names[0];
        must("cd " + dir + " && printf '" + san + "\\n' > " + name + ".ext" +
             " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
             ".key -out " + name + ".csr -subj /CN=" + cn + " && openssl x509 -req -in " + name +
             ".csr -CA ca.pem -CAkey ca.key -set_serial " + std::to_string(serial) +
             " -days 2 -extfile " + name + ".ext -out " + name + ".pem");
    }
    // NAME.pem valid only in January 2020 (openssl ca takes explicit dates).
    void issue_expired(const std::string& name) const {
        must("cd " + dir + " && mkdir -p db && : > db/index.txt && echo 01 > db/serial && " +
             "printf '[ca]\\ndefault_ca=c\\n[c]\\ndatabase=db/index.txt\\nnew_certs_dir=db\\n" +
             "serial=db/serial\\ndefault_md=sha256\\npolicy=p\\nunique_subject=no\\n[p]\\n" +
             "commonName=supplied\\n' > ca.cnf && openssl req -newkey ec -pkeyopt " +
             "ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key -out " + name +
             ".csr -subj /CN=" + name + ".test && openssl ca -batch -config ca.cnf -cert ca.pem " +
             "-keyfile ca.key -in " + name + ".csr -out " + name +
             ".pem -startdate 20200101000000Z -enddate 20200201000000Z -notext");
    }
    std::string dir;
};

}  // namespace cdn::test
