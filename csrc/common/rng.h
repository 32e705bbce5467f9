// Counter-based random bits: the value for element i depends only on (seed, i), never on
// which thread computes it or in what order, so dropout masks are identical for any
// thread count and can be regenerated in backward instead of stored.
#pragma once
#include <cstdint>

namespace pcn {

// 64-bit finaliser of SplitMix64 applied to the seed, giving a per-call key.
inline uint64_t rng_key(uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 32 random bits for element i under `key` (murmur3 fmix32 of a keyed counter). The
// AVX2 dropout kernel computes the same function lane-wise, so both paths give equal masks.
inline uint32_t rng_bits(uint64_t key, uint64_t i) {
  uint32_t lo = static_cast<uint32_t>(key);
  uint32_t hi = static_cast<uint32_t>(key >> 32);
  uint32_t x = static_cast<uint32_t>(i) * 0x9E3779B1u + lo;
  x ^= static_cast<uint32_t>(i >> 32) * 0x85EBCA77u + hi;
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

}  // namespace pcn
