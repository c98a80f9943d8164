#include "edge/proxy/compressor.hpp"

#include <brotli/encode.h>
#include <zlib.h>

#include <memory>

namespace cdn::edge::proxy {

namespace {

// A deflate stream writing the gzip format, ended however it is left.
class GzipEncoder {
  public:
    explicit GzipEncoder(int level) {
        // windowBits 15 + 16: gzip header and trailer; memLevel 8 is zlib's default.
        ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    }
    ~GzipEncoder() {
        if (ok_) deflateEnd(&z_);
    }
    GzipEncoder(const GzipEncoder&) = delete;
    GzipEncoder& operator=(const GzipEncoder&) = delete;

    std::optional<std::string> run(std::string_view in) {
        if (!ok_) return std::nullopt;
        std::string out(deflateBound(&z_, static_cast<uLong>(in.size())), '\0');
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        z_.next_out = reinterpret_cast<Bytef*>(out.data());
        z_.avail_out = static_cast<uInt>(out.size());
        // deflateBound is enough for one Z_FINISH call.
        if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return std::nullopt;
        out.resize(z_.total_out);
        return out;
    }

  private:
    z_stream z_{};
    bool ok_ = false;
};

// A brotli encoder instance.
class BrotliEncoder {
  public:
    BrotliEncoder(int quality, int window)
        : s_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
        if (!s_) return;
        BrotliEncoderSetParameter(s_.get(), BROTLI_PARAM_QUALITY, static_cast<uint32_t>(quality));
        BrotliEncoderSetParameter(s_.get(), BROTLI_PARAM_LGWIN, static_cast<uint32_t>(window));
        BrotliEncoderSetParameter(s_.get(), BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
    }

    std::optional<std::string> run(std::string_view in, std::size_t size_hint) {
        if (!s_) return std::nullopt;
        BrotliEncoderSetParameter(
            s_.get(), BROTLI_PARAM_SIZE_HINT,
            static_cast<uint32_t>(std::min<std::size_t>(size_hint, 1u << 30)));
        std::string out(BrotliEncoderMaxCompressedSize(in.size()), '\0');
        if (out.empty()) out.resize(in.size() + 1024);  // 0: the bound overflowed
        std::size_t avail_in = in.size();
        const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
        std::size_t avail_out = out.size();
        auto* next_out = reinterpret_cast<uint8_t*>(out.data());
        while (!BrotliEncoderIsFinished(s_.get())) {
            if (avail_out == 0) return std::nullopt;  // cannot happen within the bound
            if (!BrotliEncoderCompressStream(s_.get(), BROTLI_OPERATION_FINISH, &avail_in, &next_in,
                                             &avail_out, &next_out, nullptr))
                return std::nullopt;
        }
        out.resize(out.size() - avail_out);
        return out;
    }

  private:
    struct Destroy {
        void operator()(BrotliEncoderState* s) const { BrotliEncoderDestroyInstance(s); }
    };
    std::unique_ptr<BrotliEncoderState, Destroy> s_;
};

}  // namespace

std::optional<std::string> compress_body(cache::Coding coding, std::string_view body,
                                         int gzip_level, int brotli_quality) {
    switch (coding) {
        case cache::Coding::gzip: return GzipEncoder(gzip_level).run(body);
        case cache::Coding::br: return BrotliEncoder(brotli_quality, 22).run(body, body.size());
        case cache::Coding::identity: break;
    }
    return std::nullopt;
}

}  // namespace cdn::edge::proxy
