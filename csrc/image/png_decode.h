// PNG decoding for ImageFolder: one whole file in memory -> float32 CHW in [0, 1].
//
// Decoded here: non-interlaced PNGs of 8-bit grey, grey+alpha, RGB, RGBA and palette images of
// 1/2/4/8 bits, at the one size the caller expects, converted exactly as Pillow's
// convert("L") / convert("RGB") (alpha dropped) followed by a division by 255. Everything else
// (16-bit and sub-8-bit grey, interlacing, transparency chunks, APNG, another size, not a PNG at
// all) is reported as `other`, for the caller to decode with Pillow. A malformed file is an
// `error` with a message saying what is wrong.
//
// The bytes are untrusted: every chunk length is checked against the file, every chunk's CRC
// is verified, IHDR fields are range-checked, the inflated data must be exactly
// height * (1 + row bytes) and every row's filter type 0-4. Needs zlib (inflate, crc32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pcn::image {

enum class PngStatus : uint8_t { ok = 0, other = 1, error = 2 };

struct PngTarget {
  int64_t height = 0;      // the only size decoded here (>= 1); another size is `other`
  int64_t width = 0;
  int channels = 1;        // 1: Pillow's "L" luma, 3: RGB
  int64_t max_pixels = -1; // more pixels than this is `other` (Pillow warns or refuses); < 0: no limit
};

// zlib's inflate state and scratch buffers, reused from file to file by one thread.
class PngDecoder {
 public:
  PngDecoder();
  ~PngDecoder();
  PngDecoder(const PngDecoder&) = delete;
  PngDecoder& operator=(const PngDecoder&) = delete;

  // Decodes the PNG file held in data[0, size) into out[channels][height][width]. On `error`
  // `message` says what is wrong with the file. `out` may be partly written unless `ok`.
  PngStatus decode(const uint8_t* data, size_t size, const PngTarget& target, float* out,
                   std::string& message);

 private:
  struct Inflater;
  std::unique_ptr<Inflater> inflater_;
  std::vector<uint8_t> joined_;  // the IDAT payloads, when there are several
  std::vector<uint8_t> rows_;    // a zero row, then the inflated rows, unfiltered in place
};

// The largest file decode() reads for `target`: the pixels of 8-bit RGBA with generous room for
// zlib's overhead and ancillary chunks. A larger file is left to Pillow, which reads it in pieces.
size_t png_file_size_limit(const PngTarget& target);

}  // namespace pcn::image
