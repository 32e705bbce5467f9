// A PNG file on disk -> float32 CHW (png_decode.h), read whole with POSIX calls.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image/png_decode.h"

namespace pcn::image {

// Reads the regular file at `path` (NUL-terminated) into `buffer` and decodes it. A file that
// cannot be opened or read, is not a regular file, or is larger than png_file_size_limit() is
// `other`: the caller's general decoder then reports or handles it in its usual way.
PngStatus decode_png_file(const char* path, const PngTarget& target, float* out, PngDecoder& decoder,
                          std::vector<uint8_t>& buffer, std::string& message);

}  // namespace pcn::image
