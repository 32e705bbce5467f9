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
template <class Body>
void run_team(int nt, Body&& body) {
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

// A team kept for the whole of one call (run_as_one_team): the thread that leads it runs the
// call, and each parallel_for inside it is handed to the team's other threads, which wait
// for work between loops, instead of starting an OpenMP region per loop. A job is run as
// job(ctx, thread) on every thread of the team; a null job ends the team.
struct Team {
  int size = 1;
  std::atomic<uint64_t> epoch{0};  // bumped to publish a job (release) or the end
  std::atomic<int> pending{0};     // threads still running the current job
  void (*job)(void*, int) = nullptr;
  void* ctx = nullptr;
  std::exception_ptr err = nullptr;
  std::mutex err_mutex;
};
// The team the current thread leads and may hand loops to: null on the team's other threads,
// inside a job, and outside run_as_one_team.
Team*& lead_team();
// Publishes job to the other threads, runs its share (thread 0) and waits for all;
// rethrows the first exception any thread raised.
void team_run(Team& team, void (*job)(void*, int), void* ctx);
void team_worker(Team& team, int thread);

template <class Job>
void team_run(Team& team, Job& job) {
  team_run(team, [](void* c, int t) { (*static_cast<Job*>(c))(t); }, &job);
}
}  // namespace detail
#endif

// Runs body() on the calling thread with a team of get_num_threads() threads kept for all of
// it: every parallel_for and parallel_for_dynamic inside runs on that team (the same chunks,
// so the same bits, as outside). For a whole network per call (infer/network.cpp): a team
// starts once per call rather than once per layer. Nested calls just run body().
template <class Body>
void run_as_one_team(Body&& body) {
#ifdef PCN_HAVE_OPENMP
  const int nt = get_num_threads();
  if (nt > 1 && !detail::lead_team() && !omp_in_parallel()) {
    detail::Team team;
    detail::run_team(nt, [&](int t, int size) {
      if (t != 0) {
        detail::team_worker(team, t);
        return;
      }
      team.size = size;
      detail::lead_team() = &team;
      std::exception_ptr err = nullptr;
      try {
        body();
      } catch (...) {
        err = std::current_exception();
      }
      detail::lead_team() = nullptr;
      team.job = nullptr;  // end: release the other threads
      team.epoch.fetch_add(1, std::memory_order_release);
      if (err) std::rethrow_exception(err);
    });
    return;
  }
#endif
  body();
}

// Calls fn(begin, end) on contiguous chunks covering [0, n), at most one chunk per thread.
// Chunk boundaries are multiples of `grain`. Exceptions thrown by fn are rethrown here.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t units = (n + grain - 1) / grain;
  int nt = get_num_threads();
#ifdef PCN_HAVE_OPENMP
  if (detail::Team* team = detail::lead_team()) {
    nt = static_cast<int>(std::min<int64_t>(team->size, units));
    auto job = [&](int t) {
      if (t >= nt) return;
      int64_t lo = units * t / nt, hi = units * (t + 1) / nt;
      int64_t b = lo * grain, e = hi * grain < n ? hi * grain : n;
      if (b < e) fn(b, e);
    };
    detail::team_run(*team, job);
    return;
  }
#endif
  if (nt > units) nt = static_cast<int>(units);
#ifdef PCN_HAVE_OPENMP
  if (nt > 1) {
    detail::run_team(nt, [&](int t, int team) {
      int64_t lo = units * t / team, hi = units * (t + 1) / team;
      int64_t b = lo * grain, e = hi * grain < n ? hi * grain : n;
      if (b < e) fn(b, e);
    });
    return;
  }
#endif
  fn(int64_t(0), n);
}

// Like parallel_for, but threads take chunks [k * chunk, (k + 1) * chunk) in turn from a shared
// counter until none is left, so a thread whose core is shared with another process takes
// fewer of them instead of holding everyone up. Only for chunks whose results do not depend
// on which thread computes them (the same bits either way).
template <class F>
void parallel_for_dynamic(int64_t n, int64_t chunk, F&& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  const int64_t chunks = (n + chunk - 1) / chunk;
  int nt = get_num_threads();
#ifdef PCN_HAVE_OPENMP
  if (detail::Team* team = detail::lead_team()) {
    std::atomic<int64_t> next{0};
    auto job = [&](int) {
      for (int64_t k = next.fetch_add(1); k < chunks; k = next.fetch_add(1)) {
        try {
          fn(k * chunk, std::min(n, (k + 1) * chunk));
        } catch (...) {
          next.store(chunks);
          throw;
        }
      }
    };
    detail::team_run(*team, job);
    return;
  }
#endif
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
