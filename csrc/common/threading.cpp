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
