#include "edge/http/tls_record_batch.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace cdn::edge::http::detail {

namespace {

// A write-only BIO that appends to the std::string in its data pointer.
int append_write(BIO* b, const char* data, int len) {
    if (len <= 0) return 0;
    static_cast<std::string*>(BIO_get_data(b))->append(data, static_cast<std::size_t>(len));
    return len;
}
long append_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing buffered: a flush always succeeds
}
int append_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}
const BIO_METHOD* append_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cdn-append");
        if (m) {
            BIO_meth_set_write(m, append_write);
            BIO_meth_set_ctrl(m, append_ctrl);
            BIO_meth_set_create(m, append_create);
        }
        return m;
    }();
    return method;
}

}  // namespace

TlsRecordBatch::~TlsRecordBatch() {
    if (bio_) BIO_free(bio_);
}

bool TlsRecordBatch::encrypt(SSL* ssl, boost::asio::const_buffer plain) {
    if (!bio_) {
        const BIO_METHOD* m = append_method();
        if (!m || !(bio_ = BIO_new(m))) return false;
        BIO_set_data(bio_, &records_);
    }
    // Records add at most 22 bytes per 16 KiB: room for them, so a batch never regrows.
    records_.reserve(records_.size() + plain.size() + plain.size() / 512 + 64);
    // Our BIO for the records of this batch, then asio's pair end back (each swap hands one
    // reference to the SSL; both stay alive through the extra one taken here).
    BIO* theirs = SSL_get_wbio(ssl);
    if (!theirs || !BIO_up_ref(theirs) || !BIO_up_ref(bio_)) return false;
    SSL_set0_wbio(ssl, bio_);
    ERR_clear_error();
    const auto* p = static_cast<const char*>(plain.data());
    std::size_t left = plain.size();
    bool ok = true;
    while (left > 0) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl, p, left, &n) != 1) {
            ok = false;
            break;
        }
        p += n;
        left -= n;
    }
    SSL_set0_wbio(ssl, theirs);
    return ok;
}

}  // namespace cdn::edge::http::detail
