#include "tests/support/decompress.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <cstdint>

namespace cdn::test {

std::optional<std::string> gunzip(std::string_view in) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) return std::nullopt;
    std::string out(64 * 1024, '\0');
    std::string all;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        rc = inflate(&z, Z_NO_FLUSH);
        all.append(out.data(), out.size() - z.avail_out);
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) return std::nullopt;
    return all;
}

std::optional<std::string> unbrotli(std::string_view in, std::size_t max_size) {
    std::string out(max_size, '\0');
    std::size_t n = out.size();
    if (BrotliDecoderDecompress(in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &n,
                                reinterpret_cast<std::uint8_t*>(out.data())) !=
        BROTLI_DECODER_RESULT_SUCCESS)
        return std::nullopt;
    out.resize(n);
    return out;
}

}  // namespace cdn::test
