// PNG chunks, CRCs, inflate (zlib), row filters and the conversion to float CHW (png_decode.h).
#include "image/png_decode.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>

#include "common/check.h"

namespace pcn::image {

namespace {

constexpr uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
constexpr uint32_t kMaxChunk = 0x7fffffffu;  // PNG lengths and sizes are at most 2^31 - 1

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

constexpr uint32_t tag(const char (&s)[5]) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) |
         (uint32_t(uint8_t(s[2])) << 8) | uint32_t(uint8_t(s[3]));
}

bool is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// The chunk type for messages: its letters, or the bytes in hex when they are not letters.
std::string type_name(const uint8_t* t) {
  if (is_letter(t[0]) && is_letter(t[1]) && is_letter(t[2]) && is_letter(t[3]))
    return "'" + std::string(reinterpret_cast<const char*>(t), 4) + "'";
  static const char hex[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 0; i < 4; ++i) {
    s += hex[t[i] >> 4];
    s += hex[t[i] & 15];
  }
  return s;
}

struct Header {
  uint32_t width = 0, height = 0;
  int depth = 0, colour = 0, interlace = 0;
};

int samples_per_pixel(int colour) {
  switch (colour) {
    case 0: return 1;  // grey
    case 2: return 3;  // RGB
    case 3: return 1;  // palette index
    case 4: return 2;  // grey + alpha
    case 6: return 4;  // RGBA
    default: return 0;
  }
}

// The bit depths the PNG specification allows for each colour type (table 11.1).
bool valid_depth(int colour, int depth) {
  switch (colour) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

// IHDR: 13 bytes; the checks a decoder must make before trusting the size and the layout.
bool parse_header(const uint8_t* d, uint32_t len, Header& h, std::string& message) {
  if (len != 13) {
    message = cat("PNG IHDR chunk has length ", len, ", not 13");
    return false;
  }
  h.width = be32(d);
  h.height = be32(d + 4);
  h.depth = d[8];
  h.colour = d[9];
  h.interlace = d[12];
  if (h.width == 0 || h.width > kMaxChunk || h.height == 0 || h.height > kMaxChunk) {
    message = cat("PNG IHDR has size ", h.width, "x", h.height, " (width and height must be 1 to 2^31-1)");
    return false;
  }
  if (samples_per_pixel(h.colour) == 0) {
    message = cat("PNG IHDR has colour type ", h.colour, " (must be 0, 2, 3, 4 or 6)");
    return false;
  }
  if (!valid_depth(h.colour, h.depth)) {
    message = cat("PNG IHDR has bit depth ", h.depth, ", invalid for colour type ", h.colour);
    return false;
  }
  if (d[10] != 0 || d[11] != 0) {
    message = cat("PNG IHDR has compression method ", int(d[10]), " and filter method ", int(d[11]),
                  " (both must be 0)");
    return false;
  }
  if (h.interlace > 1) {
    message = cat("PNG IHDR has interlace method ", h.interlace, " (must be 0 or 1)");
    return false;
  }
  return true;
}

// What this decoder converts exactly as Pillow does; the rest goes to Pillow.
bool decoded_here(const Header& h) {
  return h.interlace == 0 && (h.depth == 8 || h.colour == 3);
}

// Undoes one row's filter in place (PNG specification section 9). `prior` is the previous
// row after unfiltering (zeros above the first row), `bpp` the bytes per complete pixel
// (at least 1). Bytes left of the row count as 0.
bool unfilter_row(int filter, uint8_t* row, const uint8_t* prior, size_t n, size_t bpp) {
  switch (filter) {
    case 0:
      return true;
    case 1:  // Sub
      for (size_t i = bpp; i < n; ++i) row[i] = uint8_t(row[i] + row[i - bpp]);
      return true;
    case 2:  // Up
      for (size_t i = 0; i < n; ++i) row[i] = uint8_t(row[i] + prior[i]);
      return true;
    case 3:  // Average: floor((left + up) / 2) of the unfiltered bytes, without overflow
      for (size_t i = 0; i < bpp && i < n; ++i) row[i] = uint8_t(row[i] + (prior[i] >> 1));
      for (size_t i = bpp; i < n; ++i) row[i] = uint8_t(row[i] + ((row[i - bpp] + prior[i]) >> 1));
      return true;
    case 4: {  // Paeth: the neighbour nearest to left + up - upper-left; ties prefer left, then up
      for (size_t i = 0; i < bpp && i < n; ++i) row[i] = uint8_t(row[i] + prior[i]);
      for (size_t i = bpp; i < n; ++i) {
        const int a = row[i - bpp], b = prior[i], c = prior[i - bpp];
        const int p = a + b - c;
        const int pa = p > a ? p - a : a - p;
        const int pb = p > b ? p - b : b - p;
        const int pc = p > c ? p - c : c - p;
        const int pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        row[i] = uint8_t(row[i] + pred);
      }
      return true;
    }
    default:
      return false;
  }
}

// Pillow's integer ITU-R 601-2 luma (convert("L") from RGB and RGBA): weights in 1/65536,
// rounded to nearest.
inline uint8_t luma(uint32_t r, uint32_t g, uint32_t b) {
  return uint8_t((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

// v / 255 for every byte: the float32 quotient NumPy's divide(uint8, float32(255)) gives.
struct UnitTable {
  float v[256];
  UnitTable() {
    for (int i = 0; i < 256; ++i) v[i] = static_cast<float>(i) / 255.0f;
  }
};
const UnitTable kUnit;

// One unfiltered row of 8-bit samples into row y of the output planes.
void convert_row(const uint8_t* s, int colour, int channels, int64_t w, float* p0, float* p1, float* p2) {
  const float* u = kUnit.v;
  switch (colour) {
    case 0:
    case 4: {  // grey, grey + alpha: the grey sample (alpha dropped) in every channel
      const int step = colour == 0 ? 1 : 2;
      for (int64_t x = 0; x < w; ++x) p0[x] = u[s[x * step]];
      if (channels == 3) {
        std::memcpy(p1, p0, size_t(w) * sizeof(float));
        std::memcpy(p2, p0, size_t(w) * sizeof(float));
      }
      return;
    }
    case 2:
    case 6: {  // RGB, RGBA
      const int step = colour == 2 ? 3 : 4;
      if (channels == 1) {
        for (int64_t x = 0; x < w; ++x, s += step) p0[x] = u[luma(s[0], s[1], s[2])];
      } else {
        for (int64_t x = 0; x < w; ++x, s += step) {
          p0[x] = u[s[0]];
          p1[x] = u[s[1]];
          p2[x] = u[s[2]];
        }
      }
      return;
    }
    default:
      return;
  }
}

// One row of palette indices (1/2/4/8 bits, packed from the high bits) through the palette's
// per-channel values. False when an index has no palette entry (Pillow gives such indices
// colours of its own; that case is left to it).
bool convert_palette_row(const uint8_t* s, int depth, int entries, const float (*pal)[256], int channels,
                         int64_t w, float* const* planes) {
  const int per_byte = 8 / depth;
  const unsigned mask = (1u << depth) - 1u;
  for (int64_t x = 0; x < w; ++x) {
    const int shift = 8 - depth * (1 + int(x % per_byte));
    const unsigned idx = (unsigned(s[x / per_byte]) >> shift) & mask;
    if (int(idx) >= entries) return false;
    for (int c = 0; c < channels; ++c) planes[c][x] = pal[c][idx];
  }
  return true;
}

}  // namespace

struct PngDecoder::Inflater {
  z_stream zs{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&zs);
  }
};

PngDecoder::PngDecoder() : inflater_(new Inflater) {}
PngDecoder::~PngDecoder() = default;

size_t png_file_size_limit(const PngTarget& t) {
  // An image this decoder reads has at most 4 bytes per pixel; stored (uncompressed) deflate
  // blocks add 5 bytes per 64 KiB, and 1 MiB is room for metadata chunks.
  const uint64_t raw = uint64_t(t.height) * (1 + 4 * uint64_t(t.width));
  return size_t(raw + raw / 64 + (uint64_t(1) << 20));
}

PngStatus PngDecoder::decode(const uint8_t* data, size_t size, const PngTarget& target, float* out,
                             std::string& message) {
  if (size < 8 || std::memcmp(data, kSignature, 8) != 0) return PngStatus::other;  // not a PNG

  // Pass 1: walk the chunks, checking lengths, types and CRCs, up to IEND.
  Header h;
  bool have_header = false, idat_ended = false, have_end = false;
  const uint8_t* palette = nullptr;
  uint32_t palette_len = 0;
  size_t idat_count = 0, idat_total = 0;
  const uint8_t* first_idat = nullptr;
  size_t pos = 8;
  while (!have_end) {
    if (size - pos < 12) {
      message = cat("PNG file is truncated: it ends at byte ", size, " without an IEND chunk");
      return PngStatus::error;
    }
    const uint8_t* p = data + pos;
    const uint32_t len = be32(p);
    const uint8_t* type = p + 4;
    if (len > kMaxChunk) {
      message = cat("PNG chunk ", type_name(type), " at byte ", pos, " has length ", len, " (at most 2^31-1)");
      return PngStatus::error;
    }
    if (size - pos - 12 < len) {
      message = cat("PNG file is truncated: chunk ", type_name(type), " at byte ", pos, " needs ", len,
                    " bytes of data, the file ends ", size - pos - 12, " bytes after its header");
      return PngStatus::error;
    }
    if (!(is_letter(type[0]) && is_letter(type[1]) && is_letter(type[2]) && is_letter(type[3]))) {
      message = cat("PNG chunk at byte ", pos, " has an invalid type ", type_name(type));
      return PngStatus::error;
    }
    const uint8_t* body = p + 8;
    if (uint32_t(crc32(0L, type, 4 + len)) != be32(body + len)) {
      message = cat("PNG chunk ", type_name(type), " at byte ", pos, " has a bad CRC");
      return PngStatus::error;
    }
    const uint32_t id = be32(type);
    if (!have_header && id != tag("IHDR")) {
      message = cat("PNG file does not start with an IHDR chunk (found ", type_name(type), ")");
      return PngStatus::error;
    }
    if (first_idat != nullptr && id != tag("IDAT")) idat_ended = true;
    switch (id) {
      case tag("IHDR"): {
        if (have_header) {
          message = "PNG file has a second IHDR chunk";
          return PngStatus::error;
        }
        if (!parse_header(body, len, h, message)) return PngStatus::error;
        have_header = true;
        // Decided now: the rest of the file is Pillow's to judge when it is not decoded here.
        if (!decoded_here(h) || int64_t(h.width) != target.width || int64_t(h.height) != target.height)
          return PngStatus::other;
        if (target.max_pixels >= 0 && int64_t(h.width) * int64_t(h.height) > target.max_pixels)
          return PngStatus::other;
        break;
      }
      case tag("PLTE"):
        if (h.colour == 3) {
          if (palette != nullptr || first_idat != nullptr) {
            message = palette != nullptr ? "PNG file has a second PLTE chunk" : "PNG PLTE chunk follows the image data";
            return PngStatus::error;
          }
          if (len == 0 || len % 3 != 0 || len > 768) {
            message = cat("PNG PLTE chunk has length ", len, " (must be 3 to 768, a multiple of 3)");
            return PngStatus::error;
          }
          palette = body;
          palette_len = len;
        }
        break;  // a suggested palette of a truecolour image changes nothing
      case tag("IDAT"):
        if (idat_ended) {
          message = cat("PNG IDAT chunk at byte ", pos, " does not follow the other IDAT chunks");
          return PngStatus::error;
        }
        if (h.colour == 3 && palette == nullptr) {
          message = "PNG palette image has no PLTE chunk before its image data";
          return PngStatus::error;
        }
        if (first_idat == nullptr) first_idat = body;
        ++idat_count;
        idat_total += len;
        break;
      case tag("tRNS"):  // transparency: Pillow's conversions treat it in their own ways
      case tag("acTL"):  // APNG: Pillow picks the frame
      case tag("fcTL"):
      case tag("fdAT"):
        return PngStatus::other;
      case tag("IEND"):
        have_end = true;
        break;
      default:
        break;  // ancillary and unknown chunks change no pixel
    }
    pos += size_t(len) + 12;
  }
  if (first_idat == nullptr) {
    message = "PNG file has no IDAT chunk (no image data)";
    return PngStatus::error;
  }

  // Pass 2: inflate the IDAT stream into rows_ after one zero row (the row above the first).
  const int spp = samples_per_pixel(h.colour);
  const size_t w = h.width, ht = h.height;
  const size_t row_bytes = (w * size_t(spp) * size_t(h.depth) + 7) / 8;
  const size_t stride = row_bytes + 1;  // the filter-type byte, then the row
  const size_t expected = ht * stride;
  // zlib decodes fastest (inflate_fast) while it has 258 bytes of room; the slack past the rows
  // also shows image data that is too long.
  constexpr size_t kSlack = 258;
  if (idat_total > UINT_MAX || expected > UINT_MAX - kSlack) return PngStatus::other;  // zlib counts in 32 bits
  rows_.resize(stride + expected + kSlack);
  std::memset(rows_.data(), 0, stride);

  const uint8_t* in = first_idat;
  if (idat_count > 1) {  // consecutive chunks (checked above): join their payloads
    joined_.resize(idat_total);
    size_t at = 0, q = size_t(first_idat - data) - 8;
    for (size_t k = 0; k < idat_count; ++k) {
      const uint32_t len = be32(data + q);
      std::memcpy(joined_.data() + at, data + q + 8, len);
      at += len;
      q += size_t(len) + 12;
    }
    in = joined_.data();
  }

  Inflater& inf = *inflater_;
  const int init = inf.ready ? inflateReset(&inf.zs) : inflateInit(&inf.zs);
  if (init == Z_MEM_ERROR) throw std::bad_alloc();
  if (init != Z_OK) {
    message = cat("zlib could not start inflating (error ", init, ")");
    return PngStatus::error;
  }
  inf.ready = true;
  inf.zs.next_in = const_cast<Bytef*>(in);
  inf.zs.avail_in = uInt(idat_total);
  inf.zs.next_out = rows_.data() + stride;
  inf.zs.avail_out = uInt(expected + kSlack);
  // One call with the whole input and output: zlib then needs no window of its own.
  const int ret = inflate(&inf.zs, Z_FINISH);
  const size_t got = expected + kSlack - inf.zs.avail_out;
  if (ret == Z_STREAM_END || got > expected) {
    if (got > expected) {
      message = cat("PNG image data is longer than the ", expected, " bytes of ", ht, " rows of ", w, " pixels");
      return PngStatus::error;
    }
    if (got < expected) {
      message = cat("PNG image data is too short: ", got, " bytes inflated, ", ht, " rows of ", w,
                    " pixels need ", expected);
      return PngStatus::error;
    }
  } else if (ret == Z_MEM_ERROR) {
    throw std::bad_alloc();
  } else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT) {
    message = cat("PNG image data is corrupt (zlib: ", inf.zs.msg != nullptr ? inf.zs.msg : "preset dictionary", ")");
    return PngStatus::error;
  } else {  // Z_BUF_ERROR: the input ended before the stream did
    message = cat("PNG image data is truncated: the compressed stream ends after ", got, " of ", expected,
                  " bytes");
    return PngStatus::error;
  }

  // Pass 3: unfilter each row against the one above, then convert it.
  const size_t bpp = std::max<size_t>(1, size_t(spp) * size_t(h.depth) / 8);
  const int channels = target.channels;
  const size_t plane = ht * w;
  float pal[3][256];
  int entries = 0;
  if (h.colour == 3) {
    entries = int(palette_len / 3);
    for (int i = 0; i < entries; ++i) {
      const uint8_t* e = palette + 3 * i;
      if (channels == 1) {
        pal[0][i] = kUnit.v[luma(e[0], e[1], e[2])];
      } else {
        for (int c = 0; c < 3; ++c) pal[c][i] = kUnit.v[e[c]];
      }
    }
  }
  for (size_t y = 0; y < ht; ++y) {
    uint8_t* row = rows_.data() + (y + 1) * stride;
    const uint8_t* prior = row - stride + 1;
    if (!unfilter_row(row[0], row + 1, prior, row_bytes, bpp)) {
      message = cat("PNG row ", y, " has filter type ", int(row[0]), " (must be 0 to 4)");
      return PngStatus::error;
    }
    float* planes[3] = {out + y * w, nullptr, nullptr};
    for (int c = 1; c < channels; ++c) planes[c] = planes[0] + size_t(c) * plane;
    if (h.colour == 3) {
      if (!convert_palette_row(row + 1, h.depth, entries, pal, channels, int64_t(w), planes))
        return PngStatus::other;
    } else {
      convert_row(row + 1, h.colour, channels, int64_t(w), planes[0], planes[1], planes[2]);
    }
  }
  return PngStatus::ok;
}

}  // namespace pcn::image
