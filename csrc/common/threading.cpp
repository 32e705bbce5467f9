#include "common/threading.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <thread>
#include <vector>

#include <sched.h>

namespace pcn {
namespace {

// The count before pyconvnet's import sets its default (pyconvnet/_threads.py reads
// OMP_NUM_THREADS, the CPU affinity and the cgroup quota, and applies the cap): the usable cores.
int default_threads() {
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

namespace detail {
namespace {
// Largest team the calling thread has verified it can start (libgomp keeps a team's threads
// per master thread, so a team no larger than that starts no new thread).
thread_local int t_team_ok = 1;

// Starts `extra` threads that stay alive together (as a team's would), then lets them finish;
// returns how many the system granted.
int probe_threads(int extra) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::vector<pthread_t> started;
  started.reserve(static_cast<size_t>(extra));
  struct Arg {
    std::mutex* m;
    std::condition_variable* cv;
    bool* release;
  } arg{&m, &cv, &release};
  auto wait = [](void* p) -> void* {
    Arg* a = static_cast<Arg*>(p);
    std::unique_lock<std::mutex> lock(*a->m);
    a->cv->wait(lock, [&] { return *a->release; });
    return nullptr;
  };
  for (int i = 0; i < extra; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, wait, &arg) != 0) break;
    started.push_back(t);
  }
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  for (pthread_t t : started) pthread_join(t, nullptr);
  return static_cast<int>(started.size());
}
}  // namespace

int startable_team(int nt) {
  if (nt <= t_team_ok) return nt;
  const int got = 1 + probe_threads(nt - 1);
  if (got > t_team_ok) t_team_ok = got;
  return got;
}
}  // namespace detail
void note_team_started() { g_team_started.store(true, std::memory_order_relaxed); }

namespace detail {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

thread_local bool t_leads = false;    // this thread holds the pool (run_as_one_team)
thread_local bool t_in_chunk = false; // this thread runs a chunk of a pool job

// Worker threads kept for the life of the process (never destroyed: they sleep between calls,
// and joining them at exit would only add a way to hang there).
class Pool {
 public:
  bool acquire() {
    const int nt = get_num_threads();
    if (nt <= 1 || forked_after_threads()) return false;
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true)) return false;
    try {
      grow(std::min(nt, kMaxTeam) - 1);
    } catch (...) {
      // The system refused a thread (process or memory limits): work with those that exist.
    }
    if (threads_ == 0) {
      busy_.store(false);
      return false;  // no threads to be had: run without the pool
    }
    allowed_ = std::min(std::min(nt, kMaxTeam) - 1, static_cast<int>(threads_));
    return true;
  }
  void release() { busy_.store(false); }
  int team_size() const { return allowed_ + 1; }

  void run(const PoolJob& job) {
    job_ = &job;
    const int team = allowed_.load() + 1;
    team_ = team;
    for (int h = 0; h < team; ++h)
      homes_[h].range.store(pack(job.chunks * h / team, job.chunks * (h + 1) / team));
    open_.store(true);  // seq_cst: pairs with the workers' active_ increment (see join)
    epoch_.fetch_add(1);
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(m_);
      cv_.notify_all();
    }
    take_chunks(0);
    // No new worker may join past this point; wait only for those already in the job.
    open_.store(false);
    for (int spins = 0; active_.load() != 0; ++spins) relax(spins);
    job_ = nullptr;
    if (err_) {
      std::exception_ptr e = err_;
      err_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void grow(int workers) {
    while (static_cast<int>(threads_) < workers) {
      const int index = static_cast<int>(threads_);
      std::thread(&Pool::work, this, index).detach();
      ++threads_;
      note_team_started();
    }
  }

  // Chunks are homed (threading.h): thread h, the leader 0 and worker i as i + 1, owns the
  // h-th of `team` even runs of consecutive chunks and takes them from the front; a thread
  // out of chunks takes the others' from the back, so one that has not woken up, or whose
  // core another process holds, does not keep the job waiting.
  void take_chunks(int home) {
    const PoolJob& job = *job_;
    const int team = team_;
    t_in_chunk = true;
    for (int i = 0; i < team; ++i) {
      const int h = (home + i) % team;
      for (int64_t k; (k = claim(homes_[h].range, i == 0)) >= 0;) {
        try {
          job.run(job.ctx, k);
        } catch (...) {
          for (int q = 0; q < team; ++q) homes_[q].range.store(0);  // stop handing out chunks
          std::lock_guard<std::mutex> lock(err_m_);
          if (!err_) err_ = std::current_exception();
        }
      }
    }
    t_in_chunk = false;
  }

  // A run of chunks [lo, hi) as one word (pool_run keeps counts under 2^31), so the owner
  // (from the front) and thieves (from the back) claim a chunk with one compare-exchange.
  static uint64_t pack(int64_t lo, int64_t hi) {
    return static_cast<uint64_t>(lo) << 32 | static_cast<uint64_t>(hi);
  }
  static int64_t claim(std::atomic<uint64_t>& range, bool front) {
    uint64_t r = range.load();
    for (;;) {
      const int64_t lo = static_cast<int64_t>(r >> 32), hi = static_cast<int64_t>(r & 0xffffffffu);
      if (lo >= hi) return -1;
      const uint64_t next = front ? pack(lo + 1, hi) : pack(lo, hi - 1);
      if (range.compare_exchange_weak(r, next)) return front ? lo : hi - 1;
    }
  }

  // Dekker-style handshake with run(): a worker announces itself in active_ and then checks
  // that the job is still open; the leader closes the job and then waits for active_ to drain.
  // With sequentially consistent atomics one of the two sees the other, so a worker never
  // touches a job whose leader has returned.
  bool join() {
    active_.fetch_add(1);
    if (open_.load()) return true;
    active_.fetch_sub(1);
    return false;
  }

  void work(int index) {
    uint64_t seen = epoch_.load();
    for (;;) {
      // Spin a little (the next loop of a network is usually microseconds away), then sleep.
      uint64_t e = epoch_.load();
      for (int spins = 0; e == seen && spins < kSpins; ++spins) {
        relax(spins);
        e = epoch_.load();
      }
      // A worker past the thread count now asked for sleeps through jobs until it is wanted
      // again, instead of waking and spinning for each.
      if (e == seen || index >= allowed_.load()) {
        std::unique_lock<std::mutex> lock(m_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return epoch_.load() != seen && index < allowed_.load(); });
        sleepers_.fetch_sub(1);
        e = epoch_.load();
      }
      seen = e;
      if (!join()) continue;
      take_chunks(index + 1);
      active_.fetch_sub(1);
    }
  }

  // Threads of one pool (a team: the leader and its workers) at most.
  static constexpr int kMaxTeam = 256;
  // About 100 us of PAUSE on current x86 cores.
  static constexpr int kSpins = 4000;

  // One step of a wait: PAUSE, and every 64th step a yield, so that a thread the scheduler
  // placed on the same core as the one it waits for (wake-affine placement) hands the core
  // back within microseconds instead of holding it for a whole time slice.
  static void relax(int spins) {
    if ((spins & 63) == 63) std::this_thread::yield();
    else cpu_relax();
  }

  std::atomic<bool> busy_{false};
  std::atomic<int> allowed_{0};
  size_t threads_ = 0;  // changed only by the leader
  const PoolJob* job_ = nullptr;
  std::atomic<uint64_t> epoch_{0};
  struct alignas(64) Home {  // a line each: the owner claims without disturbing the others
    std::atomic<uint64_t> range{0};
  };
  Home homes_[kMaxTeam];
  int team_ = 1;  // of the current job: written before it opens
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};
  std::atomic<int> sleepers_{0};
  std::mutex m_;
  std::condition_variable cv_;
  std::exception_ptr err_ = nullptr;
  std::mutex err_m_;
};

Pool& pool() {
  static Pool* p = new Pool();  // leaked on purpose (see Pool)
  return *p;
}

}  // namespace

bool leads_pool() { return t_leads; }
thread_local bool t_serial = false;   // loops of this thread run serially (set_serial)
bool in_pool_chunk() { return t_in_chunk || t_serial; }
void set_serial(bool serial) { t_serial = serial; }
bool pool_acquire() {
  if (!pool().acquire()) return false;
  t_leads = true;
  return true;
}
void pool_release() {
  t_leads = false;
  pool().release();
}
int pool_team_size() { return pool().team_size(); }
void pool_run(const PoolJob& job) {
  // Claims pack a chunk index in 32 bits (Pool::pack): a longer loop runs in groups of chunks.
  constexpr int64_t kMaxChunks = int64_t(1) << 31;
  if (job.chunks > kMaxChunks) {
    const int64_t group = (job.chunks + kMaxChunks - 1) / kMaxChunks;
    auto grouped = [&](int64_t g) {
      for (int64_t k = g * group; k < std::min(job.chunks, (g + 1) * group); ++k) job.run(job.ctx, k);
    };
    pool_run((job.chunks + group - 1) / group, grouped);
    return;
  }
  t_leads = false;  // nested loops inside the leader's chunks run serially
  try {
    pool().run(job);
  } catch (...) {
    t_leads = true;
    throw;
  }
  t_leads = true;
}

}  // namespace detail

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
