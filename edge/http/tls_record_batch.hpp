#pragma once
// Encrypting a batch of reply bytes into TLS records without asio's stream on the way out (used
// by the HTTP/1.1 and HTTP/2 sessions over TLS; reading, the handshake and close_notify stay
// asio's).
#include <boost/asio/buffer.hpp>

#include <string>

struct ssl_st;  // OpenSSL's SSL and BIO
struct bio_st;

namespace cdn::edge::http::detail {

// TLS without asio's BIO pair on the way out: asio's ssl::stream passes every record through a
// 17 KiB BIO pair (two copies of each byte) and writes each record with its own syscall. This
// encrypts a whole batch of frames straight into one buffer of records through a BIO of its own
// (set as the SSL's write BIO only while encrypting) and lets the caller send it in one write.
// Reading, the handshake and close_notify stay asio's. The one thing given up: a record the
// read side itself produces (a TLS 1.3 KeyUpdate answer) may overtake a batch in flight; that
// breaks only the connection of the client that asked for it.
class TlsRecordBatch {
  public:
    TlsRecordBatch() = default;
    ~TlsRecordBatch();
    TlsRecordBatch(const TlsRecordBatch&) = delete;
    TlsRecordBatch& operator=(const TlsRecordBatch&) = delete;
    // Encrypts all of `plain` through `ssl` into records(), appended. False on a TLS error.
    bool encrypt(::ssl_st* ssl, boost::asio::const_buffer plain);
    std::string& records() { return records_; }
    // After the records went out: empty again, and a buffer grown past 96 KiB (an HTTP/2 batch
    // fits; a large HTTP/1.1 reply's 256 KiB batches do not) is given back, so an idle
    // keep-alive connection holds no more than that.
    void sent() {
        if (records_.capacity() > 96 * 1024)
            records_ = std::string();
        else
            records_.clear();
    }

  private:
    ::bio_st* bio_ = nullptr;
    std::string records_;
};

}  // namespace cdn::edge::http::detail
