// TEMP stand-in (not committed)
#pragma once
#include <cstdint>
#include <cstring>
namespace pcn {
inline void round_to_bf16(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) { uint32_t u; std::memcpy(&u, src + i, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u; else u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u; std::memcpy(dst + i, &u, 4); }
}
}
