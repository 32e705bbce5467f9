// Thread count and the one parallel construct every kernel uses.
//
// The thread count lives in an atomic, not in OpenMP's per-thread ICV, so a value set from
// one Python thread reaches kernels started from any other. Work is split into chunks of
// independent outputs (statically, or handed out in turn by parallel_for_dynamic); no
// reduction ever depends on the split, which is what makes results identical for every
// thread count.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

#ifdef PCN_HAVE_OPENMP
#include <omp.h>
#endif

namespace pcn {

int get_num_threads();
void set_num_threads(int n);
// True in a process forked after this one ran an OpenMP team: libgomp's pool cannot be
// reused there, so such a child is kept single-threaded.
bool forked_after_threads();
void note_team_started();

#ifdef PCN_HAVE_OPENMP
namespace detail {
// Runs body(t, team) on each thread of a team of nt (> 1) threads; the first exception any
// of them throws is rethrown here, after the team has finished.
//
// libgomp ends the process when the system refuses it a thread, so a team larger than any the
// calling thread has started before is first checked by starting that many threads ourselves
// (startable_team); a refusal there shrinks the team (the same bits, on fewer threads). The
// check and libgomp's own start are not atomic: a process taking the last thread between them
// still meets libgomp's exit, a race only a pid limit already at its edge can lose.
int startable_team(int nt);

template <class Body>
void run_team(int nt, Body&& body) {
  nt = startable_team(nt);
  if (nt <= 1) {
    body(0, 1);
    return;
  }
  note_team_started();
  std::exception_ptr err = nullptr;
  std::mutex err_mutex;
#pragma omp parallel num_threads(nt)
  {
    try {
      body(omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
      std::lock_guard<std::mutex> lock(err_mutex);
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}
}  // namespace detail
#endif

namespace detail {
// The serving pool behind run_as_one_team (threading.cpp): worker threads kept between calls.
// A loop is handed to it as chunks, homed: of a team of T threads (the caller 0, workers 1 to
// T - 1), thread t first takes the t-th of T even runs of consecutive chunks, then whatever
// is left of the others'. The caller never waits for a worker that has not joined the loop
// (one that is asleep, descheduled or still waking up), only for the workers that did.
//
// Homing is for locality at batch 1. A kernel that cuts its output into one band of rows per
// thread, in the same proportions as the other layers (rows, positions or tiles in order),
// has each thread read what its own core wrote in the layer before. On a VM whose two virtual
// CPUs at times sit on different L3 caches (a cache line's round trip between them 400 ns
// instead of 100), chunks handed out in turn made about half of every activation cross
// between the caches: ResNet-50 at batch 1 took 21 ms there against 18 ms, one thread 34 ms
// either way; with row bands, 19.9 ms.
struct PoolJob {
  void (*run)(void* ctx, int64_t chunk);
  void* ctx;
  int64_t chunks;
};
// Whether the calling thread leads the pool now (inside run_as_one_team, not inside a chunk).
bool leads_pool();
// Whether loops on the calling thread run serially: inside a chunk of a pool job (nested
// loops), or in a run_as_one_team call that found the pool held by another thread.
bool in_pool_chunk();
void set_serial(bool serial);
// Runs every chunk of job; rethrows the first exception a chunk raised.
void pool_run(const PoolJob& job);
// Makes the calling thread the pool's leader with get_num_threads() - 1 workers; false when
// the pool is taken (another thread leads it) or threads are not to be used.
bool pool_acquire();
void pool_release();
int pool_team_size();

template <class F>
void pool_run(int64_t chunks, F& f) {
  pool_run(PoolJob{[](void* c, int64_t k) { (*static_cast<F*>(c))(k); }, &f, chunks});
}
}  // namespace detail

// Runs body() on the calling thread with the serving pool held for all of it: every
// parallel_for and parallel_for_dynamic inside hands its chunks (the same chunks as outside,
// so the same bits) to the pool's workers instead of starting an OpenMP region per loop. For
// a whole network per call (infer/network.cpp). When another thread holds the pool, body()
// runs with every loop serial on the calling thread; a nested call just runs body().
template <class Body>
void run_as_one_team(Body&& body) {
  if (detail::leads_pool() || detail::in_pool_chunk()) {
    body();
    return;
  }
  if (!detail::pool_acquire()) {
    // Another thread's call holds the pool: this one runs on its own thread, so concurrent
    // requests share the cores instead of each starting a team of get_num_threads().
    struct Restore {
      ~Restore() { detail::set_serial(false); }
    } restore;
    detail::set_serial(true);
    body();
    return;
  }
  struct Release {
    ~Release() { detail::pool_release(); }
  } release;
  body();
}

namespace detail {
// [begin, end) of part t of `parts` over n items in units of `grain`: the one split of
// parallel_for, used both by OpenMP teams and by the pool (the same chunks, so the same bits).
inline void static_part(int64_t n, int64_t grain, int64_t units, int64_t t, int64_t parts,
                        int64_t& begin, int64_t& end) {
  const int64_t lo = units * t / parts, hi = units * (t + 1) / parts;
  begin = lo * grain;
  end = hi * grain < n ? hi * grain : n;
}
}  // namespace detail

// Calls fn(begin, end) on contiguous chunks covering [0, n), at most one chunk per thread.
// Chunk boundaries are multiples of `grain`. Exceptions thrown by fn are rethrown here.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t units = (n + grain - 1) / grain;
  int nt = get_num_threads();
  if (detail::in_pool_chunk()) {
    fn(int64_t(0), n);
    return;
  }
  if (detail::leads_pool()) {
    const int64_t parts = std::min<int64_t>(detail::pool_team_size(), units);
    if (parts <= 1) {
      fn(int64_t(0), n);
      return;
    }
    auto chunk = [&](int64_t t) {
      int64_t b, e;
      detail::static_part(n, grain, units, t, parts, b, e);
      if (b < e) fn(b, e);
    };
    detail::pool_run(parts, chunk);
    return;
  }
  if (nt > units) nt = static_cast<int>(units);
#ifdef PCN_HAVE_OPENMP
  if (nt > 1) {
    detail::run_team(nt, [&](int t, int team) {
      int64_t b, e;
      detail::static_part(n, grain, units, t, team, b, e);
      if (b < e) fn(b, e);
    });
    return;
  }
#endif
  fn(int64_t(0), n);
}

// Like parallel_for, but threads take chunks [k * chunk, (k + 1) * chunk) until none is left
// (in the pool: their own run of chunks first, then the others'), so a thread whose core is
// shared with another process takes fewer of them instead of holding everyone up. Only for chunks whose results do not depend
// on which thread computes them (the same bits either way).
template <class F>
void parallel_for_dynamic(int64_t n, int64_t chunk, F&& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  const int64_t chunks = (n + chunk - 1) / chunk;
  int nt = get_num_threads();
  if (detail::in_pool_chunk()) {
    fn(int64_t(0), n);
    return;
  }
  if (detail::leads_pool()) {
    if (chunks <= 1) {
      fn(int64_t(0), n);
      return;
    }
    auto part = [&](int64_t k) { fn(k * chunk, std::min(n, (k + 1) * chunk)); };
    detail::pool_run(chunks, part);
    return;
  }
  if (nt > chunks) nt = static_cast<int>(chunks);
#ifdef PCN_HAVE_OPENMP
  if (nt > 1) {
    std::atomic<int64_t> next{0};
    detail::run_team(nt, [&](int, int) {
      for (int64_t k = next.fetch_add(1); k < chunks; k = next.fetch_add(1)) {
        try {
          fn(k * chunk, std::min(n, (k + 1) * chunk));
        } catch (...) {
          next.store(chunks);  // stop handing out work
          throw;
        }
      }
    });
    return;
  }
#endif
  fn(int64_t(0), n);
}

// Batch-1 bands (see the pool's homing above): a call on n images whose work has `parts`
// rows (or tiles) in order runs one band per thread at batch 1, none (1) otherwise; band t
// begins at band_begin(parts, t, bands). Every serving kernel cuts its bands this way, so a
// layer's band t covers the same share of the map as the layer before's.
inline int64_t batch1_bands(int64_t n, int64_t parts) {
  return n == 1 ? std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), parts)) : 1;
}
inline int64_t band_begin(int64_t parts, int64_t band, int64_t bands) { return parts * band / bands; }

// Chunk size for parallel_for_dynamic over n units: up to 8 chunks per thread of at least
// min_chunk units each, or one even chunk per thread when n is too small for two each (a
// chunk usually costs some setup, and an uneven last chunk would be the slowest).
inline int64_t dynamic_chunk(int64_t n, int64_t min_chunk) {
  const int64_t nt = get_num_threads();
  const int64_t per_thread = std::clamp<int64_t>(n / (min_chunk * nt), 1, 8);
  return (n + nt * per_thread - 1) / (nt * per_thread);
}

// Calls fn(i) for every i in [0, n), split across threads in contiguous chunks.
template <class F>
void parallel_for_each(int64_t n, F&& fn) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

const char* openmp_runtime();

}  // namespace pcn
