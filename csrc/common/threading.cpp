#include "common/threading.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include <sched.h>

namespace pcn {
namespace {

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int v = std::atoi(env);  // "4,2" (nested lists) reads as 4
    if (v > 0) return v;
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int c = CPU_COUNT(&set);
    if (c > 0) return c;
  }
#endif
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

std::atomic<int> g_threads{0};
std::atomic<bool> g_team_started{false};
std::atomic<bool> g_forked_after_threads{false};

void atfork_child() {
  if (g_team_started.load()) {
    g_forked_after_threads.store(true);
    g_threads.store(1);
  }
}

struct AtforkRegistration {
  AtforkRegistration() { pthread_atfork(nullptr, nullptr, &atfork_child); }
} g_atfork_registration;

}  // namespace

int get_num_threads() {
  int v = g_threads.load(std::memory_order_relaxed);
  if (v > 0) return v;
  int d = default_threads();
  int expected = 0;
  g_threads.compare_exchange_strong(expected, d);
  return g_threads.load();
}

void set_num_threads(int n) {
  if (n < 1) n = 1;
  if (g_forked_after_threads.load()) n = 1;
  g_threads.store(n);
}

bool forked_after_threads() { return g_forked_after_threads.load(); }
void note_team_started() { g_team_started.store(true, std::memory_order_relaxed); }

#ifdef PCN_HAVE_OPENMP
namespace detail {

Team*& lead_team() {
  thread_local Team* team = nullptr;
  return team;
}

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void run_job(Team& team, int thread) {
  try {
    team.job(team.ctx, thread);
  } catch (...) {
    std::lock_guard<std::mutex> lock(team.err_mutex);
    if (!team.err) team.err = std::current_exception();
  }
}
}  // namespace

void team_run(Team& team, void (*job)(void*, int), void* ctx) {
  team.job = job;
  team.ctx = ctx;
  team.pending.store(team.size - 1, std::memory_order_relaxed);
  team.epoch.fetch_add(1, std::memory_order_release);
  // The leader's share runs as a job too: a parallel_for inside it runs serially, as it
  // would inside an OpenMP region.
  lead_team() = nullptr;
  run_job(team, 0);
  lead_team() = &team;
  while (team.pending.load(std::memory_order_acquire) != 0) cpu_relax();
  if (team.err) {
    std::exception_ptr err = team.err;
    team.err = nullptr;
    std::rethrow_exception(err);
  }
}

void team_worker(Team& team, int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t e;
    // Between loops the leader runs only short serial stretches, so waiting threads spin;
    // past that they yield the core (to another process sharing it).
    for (int spins = 0; (e = team.epoch.load(std::memory_order_acquire)) == seen; ++spins) {
      if (spins < 20000) cpu_relax();
      else std::this_thread::yield();
    }
    seen = e;
    if (!team.job) return;
    run_job(team, thread);
    team.pending.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace detail
#endif

const char* openmp_runtime() {
#ifdef PCN_HAVE_OPENMP
#if defined(__GNUC__) && !defined(__clang__)
  return "OpenMP (libgomp)";
#elif defined(__clang__)
  return "OpenMP (libomp)";
#else
  return "OpenMP";
#endif
#else
  return "none (serial build)";
#endif
}

}  // namespace pcn
