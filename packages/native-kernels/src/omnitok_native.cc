// @omnitok/native-kernels: float32 training kernels for the omnitok runtime's `native` backend.
//
// Plain N-API (no node-addon-api), every function works on Float32Array views in place (no copies):
// the JS side (packages/core/src/runtime/kernels) owns all buffers. Parallelism: our own thread pool
// across the machine's cores (OMNITOK_NATIVE_THREADS sets the count; see Pool). GEMM: OpenBLAS' cblas_sgemm when libopenblas is
// present at run time (dlopen, pinned to one thread per caller: we split the work ourselves), else our
// own blocked kernel compiled for AVX-512 / AVX2+FMA / baseline with GCC's target_clones (runtime
// dispatch on the CPU's features, so one binary is portable).
#include <node_api.h>
#include <dlfcn.h>
#include <algorithm>
#include <atomic>
#include <climits>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include <cstring>
#include <string>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>  // environ (g++ defines _GNU_SOURCE)
#include <uv.h>
#include <cerrno>
#endif
#ifdef OMNITOK_JPEG
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#endif

namespace {

// ---------------------------------------------------------------------------------------------- BLAS
typedef void (*cblas_sgemm_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*openblas_set_threads_t)(int);
cblas_sgemm_t blas_sgemm = nullptr;
std::string blas_name = "builtin";
bool use_blas = true;

// OpenBLAS is used only where it is expected to beat the built-in kernel: not on AVX-512 machines
// (measured on an AVX-512 EPYC: built-in 185 GFLOP/s on one core, Debian's OpenBLAS 0.3.21 116).
// OMNITOK_NATIVE_GEMM=blas | builtin overrides; OMNITOK_NATIVE_NO_BLAS=1 = builtin.
bool has_avx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

void load_blas() {
  if (const char* off = getenv("OMNITOK_NATIVE_NO_BLAS"); off && off[0] == '1') return;
  const char* choice = getenv("OMNITOK_NATIVE_GEMM");
  if (choice && std::string(choice).rfind("builtin", 0) == 0) return;
  if (!(choice && std::string(choice) == "blas") && has_avx512()) return;
  const char* names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.3.21.so", nullptr};
  for (int i = 0; names[i]; i++) {
    void* h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    auto g = (cblas_sgemm_t)dlsym(h, "cblas_sgemm");
    if (!g) continue;
    if (auto s = (openblas_set_threads_t)dlsym(h, "openblas_set_num_threads")) s(1);
    blas_sgemm = g;
    blas_name = std::string("OpenBLAS (") + names[i] + ")";
    return;
  }
}

// Our own GEMM (no BLAS on the machine): gemm-impl.inc compiled for AVX-512, AVX2+FMA and baseline
// SSE2, the widest the CPU supports picked once at load time.
#if defined(__x86_64__) && !defined(OMNITOK_NO_CLONES)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
namespace gemm_avx512 {
constexpr int W = 16, MR = 14, NV = 2;
#include "gemm-impl.inc"
}  // namespace gemm_avx512
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace gemm_avx2 {
constexpr int W = 8, MR = 6, NV = 2;
#include "gemm-impl.inc"
}  // namespace gemm_avx2
#pragma GCC pop_options
#endif
namespace gemm_base {
constexpr int W = 4, MR = 4, NV = 2;
#include "gemm-impl.inc"
}  // namespace gemm_base

typedef void (*gemm_fn)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*gemm_par_fn)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int, gemm_base::par_fn, int, const float*);
typedef size_t (*packed_size_fn)(int, int);
typedef void (*pack_weights_fn)(bool, const float*, int, int, int, float*);
typedef void (*gemm_prepacked_fn)(int, int, int, const float*, int, const float*, float*, int, const float*, gemm_base::par_fn, int);
struct BuiltinGemm {
  const char* name;
  gemm_fn one;       // on the calling thread
  gemm_par_fn par;   // one product over the pool (shared packed B)
  packed_size_fn packedSize;  // prepacked weights (few-row inference)
  pack_weights_fn packWeights;
  gemm_prepacked_fn prepacked;
  int rowBlock;      // MC: the most rows `prepacked` takes
};
BuiltinGemm pick_gemm() {
#if defined(__x86_64__) && !defined(OMNITOK_NO_CLONES)
  __builtin_cpu_init();
  const BuiltinGemm avx512{"builtin AVX-512", gemm_avx512::gemm, gemm_avx512::gemm_par, gemm_avx512::packed_size, gemm_avx512::pack_weights, gemm_avx512::gemm_prepacked, gemm_avx512::MC};
  const BuiltinGemm avx2{"builtin AVX2+FMA", gemm_avx2::gemm, gemm_avx2::gemm_par, gemm_avx2::packed_size, gemm_avx2::pack_weights, gemm_avx2::gemm_prepacked, gemm_avx2::MC};
  // OMNITOK_NATIVE_GEMM=builtin-avx2 | builtin-baseline: a narrower kernel (to measure other machines)
  if (const char* c = getenv("OMNITOK_NATIVE_GEMM")) {
    if (std::string(c) == "builtin-baseline") return {"builtin baseline", gemm_base::gemm, gemm_base::gemm_par, gemm_base::packed_size, gemm_base::pack_weights, gemm_base::gemm_prepacked, gemm_base::MC};
    if (std::string(c) == "builtin-avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2;
  }
  if (has_avx512()) return avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2;
#endif
  return {"builtin baseline", gemm_base::gemm, gemm_base::gemm_par, gemm_base::packed_size, gemm_base::pack_weights, gemm_base::gemm_prepacked, gemm_base::MC};
}
const BuiltinGemm builtin = pick_gemm();
const char* builtin_name = builtin.name;
gemm_fn builtin_gemm = builtin.one;

// One single-threaded GEMM (callers parallelize).
inline void sgemm1(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t)i * ldc + j];
    return;
  }
  if (blas_sgemm && use_blas) {
    blas_sgemm(101 /*RowMajor*/, ta ? 112 : 111, tb ? 112 : 111, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    builtin_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

int max_threads = 1;

// ------------------------------------------------------------------------------ denormal numbers
// The kernels run with denormals flushed to zero (MXCSR's FTZ and DAZ), as TensorFlow's CPU kernels
// do: on Intel cores an FMA that reads or makes a denormal takes a microcode assist (~100× slower:
// a 512 × 128 × 3 072 GEMM with denormal-range inputs ran at 0.5 GFLOP/s instead of 44–66 on a Cascade
// Lake VM), and a text tower's backward makes them — attention probabilities near exp(−88) times small
// gradients; 14 % of one dY of the demo's text tower were denormal, and its backward GEMMs ran 15×
// slower than the forward ones (AMD cores take no such penalty: the demo trained at 355 samples/s on
// an EPYC VM, 23 on the Cascade Lake one). A value below 2^−126 ≈ 1.2e−38 reads and writes as 0.
// OMNITOK_NATIVE_DENORMALS=keep keeps IEEE denormals. MXCSR is per thread: the pool's workers set it
// once; a call from JS sets it for the call and puts the caller's back (V8's own float arithmetic
// must keep denormals).
#if defined(__x86_64__) || defined(__i386__)
bool flush_denormals = true;
struct DenormalsOff {
  unsigned saved;
  bool on;
  DenormalsOff() : saved(_mm_getcsr()), on(flush_denormals) {
    if (on) _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
  }
  ~DenormalsOff() {
    if (on) _mm_setcsr(saved);
  }
};
#else
bool flush_denormals = false;  // elsewhere denormals stay IEEE
struct DenormalsOff {};
#endif

// A kernel as called from JS: runs with denormals flushed (see DenormalsOff)
template <napi_callback F>
napi_value flushed(napi_env env, napi_callback_info info) {
  DenormalsOff off;
  return F(env, info);
}

// ----------------------------------------------------------------------------------- thread pool
// Work is split into chunks claimed from one atomic counter, by the calling (JS) thread too. The caller
// waits only for chunks a worker actually claimed: a worker that is asleep or descheduled (cores shared
// with other processes) costs nothing — the caller runs every chunk itself — unlike a fork-join barrier
// that waits for every thread to arrive. Workers spin briefly (yielding) after a job, then sleep.
// Chunk boundaries never depend on the thread count, so results are identical for any count.
class Pool {
 public:
  void resize(int workers) {
    std::lock_guard<std::mutex> busy(run_mu_);
    stop_all();
    stop_ = false;
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() { stop_all(); }

  void run(long n, void (*fn)(void*, long), void* ctx) {
    // one job at a time: a second JS thread (worker_threads) calling in meanwhile runs its job inline
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || threads_.empty() || n == 1) {
      for (long i = 0; i < n; i++) fn(ctx, i);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    total_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    uint64_t gen = ++gen_;
    next_.store(gen << 32, std::memory_order_release);  // publishes fn_, ctx_, total_
    if (sleeping_.load(std::memory_order_acquire) > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    long mine = work(gen);
    // wait for the chunks that workers claimed
    while (done_.load(std::memory_order_acquire) + mine < n) std::this_thread::yield();
  }

 private:
  // claims and runs chunks of job `gen`; returns how many this thread ran
  long work(uint64_t gen) {
    long ran = 0;
    for (;;) {
      uint64_t cur = next_.load(std::memory_order_acquire);
      if ((cur >> 32) != gen) break;
      long i = (long)(cur & 0xffffffffu);
      if (i >= total_.load(std::memory_order_relaxed)) break;
      if (!next_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) continue;
      fn_(ctx_, i);
      ran++;
    }
    return ran;
  }

  void loop() {
    DenormalsOff off;  // for the worker's life: it only runs kernels
    uint64_t seen = next_.load(std::memory_order_acquire) >> 32;
    for (;;) {
      uint64_t gen = seen;
      for (int spin = 0; spin < 2000; spin++) {  // ≈ tens of µs of yielding before sleeping
        gen = next_.load(std::memory_order_acquire) >> 32;
        if (gen != seen || stop_) break;
        std::this_thread::yield();
      }
      if (gen == seen && !stop_) {
        std::unique_lock<std::mutex> lock(mu_);
        sleeping_++;
        cv_.wait(lock, [&] { return (next_.load(std::memory_order_acquire) >> 32) != seen || stop_; });
        sleeping_--;
        gen = next_.load(std::memory_order_acquire) >> 32;
      }
      if (stop_) return;
      seen = gen;
      long ran = work(gen);
      if (ran) done_.fetch_add(ran, std::memory_order_acq_rel);
    }
  }

  void stop_all() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  std::vector<std::thread> threads_;
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> next_{0};
  std::atomic<long> total_{0}, done_{0};
  std::atomic<int> sleeping_{0};
  uint64_t gen_ = 0;
  void (*fn_)(void*, long) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
};

Pool pool;

// Runs f(i) for i in [0, n): on the pool when `parallel`, else inline.
template <class F>
void parallel_for(long n, bool parallel, F&& f) {
  if (n <= 0) return;
  if (!parallel || max_threads <= 1 || n == 1) {
    for (long i = 0; i < n; i++) f(i);
    return;
  }
  pool.run(n, [](void* c, long i) { (*(std::remove_reference_t<F>*)c)(i); }, (void*)&f);
}

// parallel_for's pool as a plain function (the built-in GEMM's gemm_par takes one)
void pool_run(long n, void (*fn)(void*, long), void* ctx) {
  if (max_threads <= 1 || n == 1) {
    for (long i = 0; i < n; i++) fn(ctx, i);
    return;
  }
  pool.run(n, fn, ctx);
}

// chunks of [0, n) of about `grain` items: [lo(i), lo(i + 1))
struct Chunks {
  long long n, count;
  Chunks(long long n_, long long grain) : n(n_), count(std::max(1LL, (n_ + std::max(1LL, grain) - 1) / std::max(1LL, grain))) {}
  long long lo(long long i) const { return n * i / count; }
};

// Batched GEMM, parallel over batches, or over row (or column) blocks of each product.
void add_bias(float* c, const float* bias, size_t rows, size_t N);

// `bias` (N values, or null): added to every output row (beta must then be 0).
void sgemm_batched(int batch, bool ta, bool tb, int M, int N, int K, const float* A, size_t sa, const float* B, size_t sb, float* C, size_t sc, float alpha, float beta, const float* bias = nullptr) {
  int lda = ta ? M : K, ldb = tb ? K : N;
  double flops = 2.0 * batch * M * N * K;
  bool parallel = flops >= 4e6;
  bool biasDone = false;  // the pooled built-in GEMM starts its output as the bias rows; elsewhere it is added after
  if (batch >= 8 || !parallel) {
    parallel_for(batch, parallel, [&](long b) { sgemm1(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, N); });
  } else for (int b = 0; b < batch; b++) {
    const float* Ab = A + b * sa;
    const float* Bb = B + b * sb;
    float* Cb = C + b * sc;
    if (M >= N && !(blas_sgemm && use_blas)) {
      // the built-in kernel splits the rows itself, sharing one packed copy of B
      builtin.par(ta, tb, M, N, K, alpha, Ab, lda, Bb, ldb, beta, Cb, N, pool_run, max_threads, bias);
      biasDone = true;
    } else if (M >= N) {
      // blocks of ≥ 128 rows (or 128 columns): B (or A) is packed once per block
      Chunks ch(M, std::max(128, M / 16));
      parallel_for(ch.count, true, [&](long t) {
        long i0 = ch.lo(t), m = ch.lo(t + 1) - i0;
        sgemm1(ta, tb, m, N, K, alpha, ta ? Ab + i0 : Ab + (size_t)i0 * lda, lda, Bb, ldb, beta, Cb + (size_t)i0 * N, N);
      });
    } else if (max_threads <= 1) {
      // one thread: one call, the same sums as the column blocks' without packing A once per block
      // (128 × 512 × 4 160, a weight gradient: 59–66 → 72–73 GFLOP/s on one Cascade Lake core)
      sgemm1(ta, tb, M, N, K, alpha, Ab, lda, Bb, ldb, beta, Cb, N);
    } else {
      Chunks ch((N + 15) / 16, std::max(8, N / 256));  // in units of 16 columns
      parallel_for(ch.count, true, [&](long t) {
        long j0 = ch.lo(t) * 16, j1 = std::min((long)N, (long)ch.lo(t + 1) * 16);
        if (j1 > j0) sgemm1(ta, tb, M, j1 - j0, K, alpha, Ab, lda, tb ? Bb + (size_t)j0 * ldb : Bb + j0, ldb, beta, Cb + j0, N);
      });
    }
  }
  if (bias && !biasDone) add_bias(C, bias, (size_t)batch * M, N);
}

// ------------------------------------------------------------------------------------- N-API glue
struct F32 {
  float* p = nullptr;
  size_t n = 0;
};

// A typed array of the wanted type: its data (already offset to the first element) and length;
// otherwise throws a TypeError with `what` and returns false.
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len, const char* what) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != want) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  return true;
}

bool get_f32(napi_env env, napi_value v, F32* out) {
  void* data;
  if (!get_typed(env, v, napi_float32_array, &data, &out->n, "expected a Float32Array")) return false;
  out->p = (float*)data;
  return true;
}

double get_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

bool get_bool(napi_env env, napi_value v) {
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok) b = get_num(env, v) != 0;
  return b;
}

#define ARGS(n)                                               \
  size_t argc = n;                                            \
  napi_value argv[n];                                         \
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr); \
  if (argc < n) {                                             \
    napi_throw_type_error(env, nullptr, "too few arguments"); \
    return nullptr;                                           \
  }
#define F32ARG(name, i) \
  F32 name;             \
  if (!get_f32(env, argv[i], &name)) return nullptr;
#define INT(i) ((long long)get_num(env, argv[i]))
#define NUM(i) (get_num(env, argv[i]))

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// matmul(a, b, c, batch, M, N, K, transA, transB, strideA, strideB, alpha=1, beta=0)
// strides in elements (0 broadcasts a batch-1 operand); c is [batch, M, N].
napi_value Matmul(napi_env env, napi_callback_info info) {
  ARGS(13);
  F32ARG(a, 0);
  F32ARG(b, 1);
  F32ARG(c, 2);
  int batch = INT(3), M = INT(4), N = INT(5), K = INT(6);
  bool ta = get_bool(env, argv[7]), tb = get_bool(env, argv[8]);
  size_t sa = INT(9), sb = INT(10);
  if (c.n < (size_t)batch * M * N || a.n < (batch - 1) * sa + (size_t)M * K || b.n < (batch - 1) * sb + (size_t)K * N) {
    napi_throw_range_error(env, nullptr, "matmul: buffer too small for the shapes");
    return nullptr;
  }
  sgemm_batched(batch, ta, tb, M, N, K, a.p, sa, b.p, sb, c.p, (size_t)M * N, (float)NUM(11), (float)NUM(12));
  return undefined(env);
}

// addBias(c [M, N], bias [N]) in place
void add_bias(float* c, const float* bias, size_t M, size_t N) {
  Chunks ch(M, 32768 / (long long)N);
  parallel_for(ch.count, M * N > 65536, [&](long t) {
    for (long long i = ch.lo(t); i < ch.lo(t + 1); i++) {
      float* r = c + i * N;
      for (size_t j = 0; j < N; j++) r[j] += bias[j];
    }
  });
}

napi_value AddBias(napi_env env, napi_callback_info info) {
  ARGS(2);
  F32ARG(c, 0);
  F32ARG(bias, 1);
  add_bias(c.p, bias.p, c.n / bias.n, bias.n);
  return undefined(env);
}

// packWeights(b, K, N, transB) → the built-in GEMM's packed layout of op(b) [K, N] (a new
// Float32Array), or null when OpenBLAS does the GEMMs (it packs its own). For few-row inference:
// matmulPacked then streams it instead of packing (or reading in place) the weights every call.
napi_value PackWeights(napi_env env, napi_callback_info info) {
  ARGS(4);
  F32ARG(b, 0);
  int K = INT(1), N = INT(2);
  bool tb = get_bool(env, argv[3]);
  if (b.n < (size_t)K * N) {
    napi_throw_range_error(env, nullptr, "packWeights: buffer too small for the shape");
    return nullptr;
  }
  napi_value result;
  if (blas_sgemm && use_blas) {
    napi_get_null(env, &result);
    return result;
  }
  size_t n = builtin.packedSize(K, N);
  napi_value ab;
  void* data = nullptr;
  if (napi_create_arraybuffer(env, n * 4, &data, &ab) != napi_ok || napi_create_typedarray(env, napi_float32_array, n, ab, 0, &result) != napi_ok) return nullptr;
  builtin.packWeights(tb, b.p, tb ? K : N, K, N, (float*)data);
  return result;
}

// matmulPacked(a, packed, c, bias (or empty), M, N, K): c [M, N] = a [M, K] · the packed weights (+ bias),
// M ≤ packedRowsMax() (the built-in GEMM's row block: 224 rows on AVX-512).
napi_value MatmulPacked(napi_env env, napi_callback_info info) {
  ARGS(7);
  F32ARG(a, 0);
  F32ARG(packed, 1);
  F32ARG(c, 2);
  F32ARG(bias, 3);
  int M = INT(4), N = INT(5), K = INT(6);
  if (c.n < (size_t)M * N || a.n < (size_t)M * K || packed.n != builtin.packedSize(K, N) || (bias.n && bias.n != (size_t)N) || M > builtin.rowBlock) {
    napi_throw_range_error(env, nullptr, "matmulPacked: buffers do not fit the shapes (or too many rows)");
    return nullptr;
  }
  builtin.prepacked(M, N, K, a.p, K, packed.p, c.p, N, bias.n ? bias.p : nullptr, pool_run, max_threads);
  return undefined(env);
}

napi_value PackedRowsMax(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, builtin.rowBlock, &v);
  return v;
}

// matmulBias(a, b, c, bias, M, N, K, transA, transB): c [M, N] = op(a)·op(b) + bias [N] — a linear
// layer's forward; the built-in GEMM starts its output as the bias rows (no zeroing, no bias pass).
napi_value MatmulBias(napi_env env, napi_callback_info info) {
  ARGS(9);
  F32ARG(a, 0);
  F32ARG(b, 1);
  F32ARG(c, 2);
  F32ARG(bias, 3);
  int M = INT(4), N = INT(5), K = INT(6);
  bool ta = get_bool(env, argv[7]), tb = get_bool(env, argv[8]);
  if (c.n < (size_t)M * N || a.n < (size_t)M * K || b.n < (size_t)K * N || bias.n != (size_t)N) {
    napi_throw_range_error(env, nullptr, "matmulBias: buffer too small for the shapes (or bias not N long)");
    return nullptr;
  }
  sgemm_batched(1, ta, tb, M, N, K, a.p, 0, b.p, 0, c.p, (size_t)M * N, 1.f, 0.f, bias.p);
  return undefined(env);
}

// binary(op, a, b, out, shape[6], aStrides[6], bStrides[6]): out = a ∘ b with numpy broadcasting
// (a broadcast dim has stride 0; the caller pads to rank 6 and merges dims). op: 0 add, 1 sub, 2 mul, 3 div.
template <int OP>
inline float bin(float x, float y) {
  if constexpr (OP == 0) return x + y;
  if constexpr (OP == 1) return x - y;
  if constexpr (OP == 2) return x * y;
  return x / y;
}

template <int OP>
void binary_run(const float* a, const float* b, float* out, const long long* S, const long long* sa, const long long* sb) {
  long long outer = S[0] * S[1] * S[2] * S[3] * S[4], inner = S[5];
  Chunks ch(outer, 32768 / inner);
  parallel_for(ch.count, outer * inner > 131072, [&](long t) {
  for (long long o = ch.lo(t); o < ch.lo(t + 1); o++) {
    long long r = o, oa = 0, ob = 0;
    for (int i = 4; i >= 0; i--) {
      long long idx = r % S[i];
      r /= S[i];
      oa += idx * sa[i], ob += idx * sb[i];
    }
    const float* ar = a + oa;
    const float* br = b + ob;
    float* y = out + o * inner;
    if (sa[5] && sb[5]) {
#pragma omp simd
      for (long long i = 0; i < inner; i++) y[i] = bin<OP>(ar[i], br[i]);
    } else if (sa[5]) {
      float s = br[0];
#pragma omp simd
      for (long long i = 0; i < inner; i++) y[i] = bin<OP>(ar[i], s);
    } else if (sb[5]) {
      float s = ar[0];
#pragma omp simd
      for (long long i = 0; i < inner; i++) y[i] = bin<OP>(s, br[i]);
    } else {
      float v = bin<OP>(ar[0], br[0]);
      for (long long i = 0; i < inner; i++) y[i] = v;
    }
  }
  });
}

bool get_i64_array(napi_env env, napi_value arr, long long* out, int n) {
  for (int i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok) return false;
    out[i] = (long long)get_num(env, e);
  }
  return true;
}

napi_value Binary(napi_env env, napi_callback_info info) {
  ARGS(7);
  int op = INT(0);
  F32ARG(a, 1);
  F32ARG(b, 2);
  F32ARG(out, 3);
  long long S[6], sa[6], sb[6];
  get_i64_array(env, argv[4], S, 6);
  get_i64_array(env, argv[5], sa, 6);
  get_i64_array(env, argv[6], sb, 6);
  switch (op) {
    case 0: binary_run<0>(a.p, b.p, out.p, S, sa, sb); break;
    case 1: binary_run<1>(a.p, b.p, out.p, S, sa, sb); break;
    case 2: binary_run<2>(a.p, b.p, out.p, S, sa, sb); break;
    default: binary_run<3>(a.p, b.p, out.p, S, sa, sb); break;
  }
  return undefined(env);
}

// reduceSum(x, out, outer, mid, inner): out[o, i] = Σ_m x[o, m, i]
napi_value ReduceSum(napi_env env, napi_callback_info info) {
  ARGS(5);
  F32ARG(x, 0);
  F32ARG(out, 1);
  size_t outer = INT(2), mid = INT(3), inner = INT(4);
  if (inner == 1) {
    Chunks ch(outer, 32768 / (long long)std::max<size_t>(mid, 1));
    parallel_for(ch.count, x.n > 262144, [&](long t) {
      for (long long o = ch.lo(t); o < ch.lo(t + 1); o++) {
        const float* r = x.p + o * mid;
        double s = 0;
        for (size_t m = 0; m < mid; m++) s += r[m];
        out.p[o] = (float)s;
      }
    });
    return undefined(env);
  }
  // column sums: partial rows per chunk of `mid`, combined in chunk order (same for any thread count)
  Chunks ch(mid, std::max(64LL, 65536LL / (long long)inner));
  std::vector<float> parts((size_t)ch.count * inner);
  for (size_t o = 0; o < outer; o++) {
    const float* base = x.p + o * mid * inner;
    parallel_for(ch.count, x.n > 262144, [&](long t) {
      float* acc = parts.data() + (size_t)t * inner;
      std::fill(acc, acc + inner, 0.f);
      for (long long m = ch.lo(t); m < ch.lo(t + 1); m++) {
        const float* r = base + m * inner;
        for (size_t i = 0; i < inner; i++) acc[i] += r[i];
      }
    });
    float* dst = out.p + o * inner;
    std::copy(parts.begin(), parts.begin() + inner, dst);
    for (long long t = 1; t < ch.count; t++)
      for (size_t i = 0; i < inner; i++) dst[i] += parts[(size_t)t * inner + i];
  }
  return undefined(env);
}

// transpose(x, out, shape[], perm[]) for rank ≤ 6
napi_value Transpose(napi_env env, napi_callback_info info) {
  ARGS(4);
  F32ARG(x, 0);
  F32ARG(out, 1);
  uint32_t rank;
  napi_get_array_length(env, argv[2], &rank);
  if (rank > 6) {
    napi_throw_range_error(env, nullptr, "transpose: rank > 6");
    return nullptr;
  }
  long long shape[6] = {1, 1, 1, 1, 1, 1}, perm[6] = {0, 1, 2, 3, 4, 5};
  for (uint32_t i = 0; i < rank; i++) {
    napi_value e;
    napi_get_element(env, argv[2], i, &e);
    shape[i] = (long long)get_num(env, e);
    napi_get_element(env, argv[3], i, &e);
    perm[i] = (long long)get_num(env, e);
  }
  // pad to rank 6 at the front
  long long S[6], P[6];
  int pad = 6 - rank;
  for (int i = 0; i < 6; i++) {
    S[i] = i < pad ? 1 : shape[i - pad];
    P[i] = i < pad ? i : perm[i - pad] + pad;
  }
  long long in_stride[6];
  in_stride[5] = 1;
  for (int i = 4; i >= 0; i--) in_stride[i] = in_stride[i + 1] * S[i + 1];
  long long os[6], st[6];
  for (int i = 0; i < 6; i++) os[i] = S[P[i]], st[i] = in_stride[P[i]];
  long long outer = os[0] * os[1] * os[2];
{
    Chunks ch_(outer, std::max(1LL, 16384LL / std::max(1LL, os[3] * os[4] * os[5])));
    parallel_for(ch_.count, x.n > 262144, [&](long t_) {
      for (long long o = ch_.lo(t_); o < ch_.lo(t_ + 1); o++) {
    long long i0 = o / (os[1] * os[2]), i1 = (o / os[2]) % os[1], i2 = o % os[2];
    const float* src = x.p + i0 * st[0] + i1 * st[1] + i2 * st[2];
    float* dst = out.p + o * os[3] * os[4] * os[5];
    for (long long a = 0; a < os[3]; a++)
      for (long long b = 0; b < os[4]; b++) {
        const float* s = src + a * st[3] + b * st[4];
        if (st[5] == 1) {
          std::memcpy(dst, s, sizeof(float) * os[5]);
          dst += os[5];
        } else {
          for (long long c = 0; c < os[5]; c++) *dst++ = s[c * st[5]];
        }
      }
  }
    });
  }
  return undefined(env);
}

// slice(x, out, shape[], begin[], size[]) for rank ≤ 6: out = x[begin : begin + size]
napi_value Slice(napi_env env, napi_callback_info info) {
  ARGS(5);
  F32ARG(x, 0);
  F32ARG(out, 1);
  uint32_t rank;
  napi_get_array_length(env, argv[2], &rank);
  if (rank > 6) {
    napi_throw_range_error(env, nullptr, "slice: rank > 6");
    return nullptr;
  }
  long long S[6], Beg[6], Z[6];
  int pad = 6 - rank;
  for (int i = 0; i < 6; i++) {
    S[i] = 1, Beg[i] = 0, Z[i] = 1;
    if (i >= pad) {
      napi_value e;
      napi_get_element(env, argv[2], i - pad, &e);
      S[i] = (long long)get_num(env, e);
      napi_get_element(env, argv[3], i - pad, &e);
      Beg[i] = (long long)get_num(env, e);
      napi_get_element(env, argv[4], i - pad, &e);
      Z[i] = (long long)get_num(env, e);
    }
  }
  long long st[6];
  st[5] = 1;
  for (int i = 4; i >= 0; i--) st[i] = st[i + 1] * S[i + 1];
  long long base = 0;
  for (int i = 0; i < 6; i++) base += Beg[i] * st[i];
  long long outer = Z[0] * Z[1] * Z[2] * Z[3] * Z[4];
{
    Chunks ch_(outer, std::max(1LL, 16384LL / std::max(1LL, Z[5])));
    parallel_for(ch_.count, out.n > 262144, [&](long t_) {
      for (long long o = ch_.lo(t_); o < ch_.lo(t_ + 1); o++) {
    long long r = o, off = base;
    for (int i = 4; i >= 0; i--) {
      off += (r % Z[i]) * st[i];
      r /= Z[i];
    }
    std::memcpy(out.p + o * Z[5], x.p + off, sizeof(float) * Z[5]);
  }
    });
  }
  return undefined(env);
}

// layerNorm(x, w, b, y, mean, rstd, rows, cols, eps)
// Row sums in an order fixed whatever the ISA: LANES running sums (element c goes to sum c % LANES),
// then combined pairwise. Vectorizes — one running sum is a chain of dependent adds, ~4 cycles each —
// and gives the same bits on every machine.
constexpr int LANES = 16;
inline float lanes_total(float* acc) {
  for (int w = LANES / 2; w > 0; w >>= 1)
    for (int j = 0; j < w; j++) acc[j] += acc[j + w];
  return acc[0];
}

// Runs f(c, lane) for c < n in that order, lane = c % LANES (whole blocks of LANES, then the tail)
template <class F>
inline void for_lanes(long long n, F&& f) {
  long long c = 0;
  for (; c + LANES <= n; c += LANES)
    for (int j = 0; j < LANES; j++) f(c + j, j);
  for (int j = 0; c < n; c++, j++) f(c, j);
}

// Σ x[c], and Σ (x[c] − mu)²
inline float row_sum(const float* x, long long n) {
  float acc[LANES] = {};
  for_lanes(n, [&](long long c, int j) { acc[j] += x[c]; });
  return lanes_total(acc);
}

inline float row_sq_dev(const float* x, float mu, long long n) {
  float acc[LANES] = {};
  for_lanes(n, [&](long long c, int j) {
    float d = x[c] - mu;
    acc[j] += d * d;
  });
  return lanes_total(acc);
}

napi_value LayerNormFwd(napi_env env, napi_callback_info info) {
  ARGS(9);
  F32ARG(x, 0);
  F32ARG(w, 1);
  F32ARG(b, 2);
  F32ARG(y, 3);
  F32ARG(mean, 4);
  F32ARG(rstd, 5);
  long long R = INT(6), C = INT(7);
  float eps = (float)NUM(8);
{
    Chunks ch_(R, std::max(1LL, 16384LL / C));
    parallel_for(ch_.count, R * C > 65536, [&](long t_) {
      for (long long r = ch_.lo(t_); r < ch_.lo(t_ + 1); r++) {
    const float* xr = x.p + r * C;
    float* yr = y.p + r * C;
    float mu = row_sum(xr, C) / C;
    float rs = 1.f / std::sqrt(row_sq_dev(xr, mu, C) / C + eps);
    mean.p[r] = mu;
    rstd.p[r] = rs;
    for (long long c = 0; c < C; c++) yr[c] = (xr[c] - mu) * rs * w.p[c] + b.p[c];
  }
    });
  }
  return undefined(env);
}

// layerNormBwd(dy, x, w, mean, rstd, dx, dw, db, rows, cols)
napi_value LayerNormBwd(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32ARG(dy, 0);
  F32ARG(x, 1);
  F32ARG(w, 2);
  F32ARG(mean, 3);
  F32ARG(rstd, 4);
  F32ARG(dx, 5);
  F32ARG(dw, 6);
  F32ARG(db, 7);
  long long R = INT(8), C = INT(9);
  // dw, db: partial sums per chunk of rows, combined in chunk order (same result for any thread count)
  Chunks ch(R, std::max(16LL, 32768LL / C));
  std::vector<float> parts((size_t)ch.count * 2 * C, 0.f);
  parallel_for(ch.count, R * C > 65536, [&](long t) {
    float* pw = parts.data() + (size_t)t * 2 * C;
    float* pb = pw + C;
    for (long long r = ch.lo(t); r < ch.lo(t + 1); r++) {
      const float* xr = x.p + r * C;
      const float* gr = dy.p + r * C;
      float* dr = dx.p + r * C;
      float mu = mean.p[r], rs = rstd.p[r];
      float a1[LANES] = {}, a2[LANES] = {};  // Σ g·w, Σ g·w·x̂ (by lanes, as row_sum)
      for_lanes(C, [&](long long c, int j) {
        float xh = (xr[c] - mu) * rs;
        float gw = gr[c] * w.p[c];
        a1[j] += gw;
        a2[j] += gw * xh;
        pw[c] += gr[c] * xh;
        pb[c] += gr[c];
      });
      float s1 = lanes_total(a1) / C, s2 = lanes_total(a2) / C;
      for (long long c = 0; c < C; c++) {
        float xh = (xr[c] - mu) * rs;
        dr[c] = rs * (gr[c] * w.p[c] - s1 - xh * s2);
      }
    }
  });
  for (long long c = 0; c < C; c++) {
    float a = 0, bsum = 0;
    for (long t = 0; t < ch.count; t++) a += parts[(size_t)t * 2 * C + c], bsum += parts[(size_t)t * 2 * C + C + c];
    dw.p[c] = a;
    db.p[c] = bsum;
  }
  return undefined(env);
}

// expf / erff that vectorize (#pragma omp simd): Cephes' expf polynomial (≈ 1 ulp) and erf by
// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, the same formula as TensorFlow.js' cpu Erf).
inline float fast_exp(float x) {
  x = std::min(88.3762626647949f, std::max(-87.3365478515625f, x));
  float fx = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round to nearest without floor() (baseline SSE2 has no roundps)
  float z = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  float y = ((((1.9875691500E-4f * z + 1.3981999507E-3f) * z + 8.3334519073E-3f) * z + 4.1665795894E-2f) * z + 1.6666665459E-1f) * z + 5.0000001201E-1f;
  y = y * z * z + z + 1.f;
  int32_t e = ((int32_t)fx + 127) << 23;
  float p;
  std::memcpy(&p, &e, 4);
  return y * p;
}

inline float fast_erf(float x) {
  float ax = std::fabs(x);
  float t = 1.f / (1.f + 0.3275911f * ax);
  float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  float r = 1.f - poly * fast_exp(-ax * ax);
  return x < 0 ? -r : r;
}

inline float fast_tanh(float x) {
  float e = fast_exp(-2.f * std::fabs(x));
  float r = (1.f - e) / (1.f + e);
  return x < 0 ? -r : r;
}

// gelu(x, y, kind): kind 0 erf, 1 tanh, 2 quick; geluBwd(x, dy, dx, kind)
constexpr float kSqrt2Pi = 0.7978845608028654f, kInvSqrt2 = 0.7071067811865476f, kInvSqrt2Pi = 0.3989422804014327f;

inline float gelu_f(int kind, float v) {
  if (kind == 0) return 0.5f * v * (1.f + fast_erf(v * kInvSqrt2));
  if (kind == 1) return 0.5f * v * (1.f + fast_tanh(kSqrt2Pi * (v + 0.044715f * v * v * v)));
  return v / (1.f + fast_exp(-1.702f * v));
}

inline float gelu_d(int kind, float v) {
  if (kind == 0) return 0.5f * (1.f + fast_erf(v * kInvSqrt2)) + v * kInvSqrt2Pi * fast_exp(-0.5f * v * v);
  if (kind == 1) {
    float t = fast_tanh(kSqrt2Pi * (v + 0.044715f * v * v * v));
    return 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kSqrt2Pi * (1.f + 3.f * 0.044715f * v * v);
  }
  float s = 1.f / (1.f + fast_exp(-1.702f * v));
  return s + 1.702f * v * s * (1.f - s);
}

// one loop per kind and direction so each vectorizes; cloned per ISA like the GEMM kernel
#ifndef OMNITOK_NO_CLONES
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void gelu_chunk(int kind, const float* x, const float* dy, float* y, long long i0, long long i1) {
  if (dy) {
    if (kind == 0) {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = dy[i] * gelu_d(0, x[i]);
    } else if (kind == 1) {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = dy[i] * gelu_d(1, x[i]);
    } else {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = dy[i] * gelu_d(2, x[i]);
    }
  } else {
    if (kind == 0) {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = gelu_f(0, x[i]);
    } else if (kind == 1) {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = gelu_f(1, x[i]);
    } else {
#pragma omp simd
      for (long long i = i0; i < i1; i++) y[i] = gelu_f(2, x[i]);
    }
  }
}

void gelu_any(int kind, const float* x, const float* dy, float* y, long long n) {
  constexpr long long CH = 16384;
  long long chunks = (n + CH - 1) / CH;
parallel_for(chunks, n > 65536, [&](long c) { gelu_chunk(kind, x, dy, y, c * CH, std::min(n, (c + 1) * CH)); });
}

napi_value GeluFwd(napi_env env, napi_callback_info info) {
  ARGS(3);
  F32ARG(x, 0);
  F32ARG(y, 1);
  gelu_any(INT(2), x.p, nullptr, y.p, x.n);
  return undefined(env);
}

napi_value GeluBwd(napi_env env, napi_callback_info info) {
  ARGS(4);
  F32ARG(x, 0);
  F32ARG(dy, 1);
  F32ARG(dx, 2);
  gelu_any(INT(3), x.p, dy.p, dx.p, x.n);
  return undefined(env);
}

// Rows i0 … i0 + m − 1 of the attention probabilities, in place over S (m rows of N scores QKᵀ, the
// rows Np = keys_padded(N) floats apart, 64-byte aligned): softmax of scale·S + masks in the
// reference's order — scale, + (1 − keep)·(−1e9), + (−1e9) above the diagonal when causal, then
// exp(s − max) / Σ; the padding columns come out 0. With `save`, each row's max and 1/Σ go to
// stats[2r], stats[2r + 1]; without, they are read from there (the backward recomputes the forward's
// probabilities bit for bit). Whole aligned vectors: rows of exactly N floats left a ragged tail per
// row (65 keys: 4 vectors and 1 float), copied lane by lane through the stack in each of the three
// passes — 47 % of the attention forward's time at 65 tokens. Cloned per ISA.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64)));

inline v16 fast_exp_v(v16 x) {
  const v16 hi = (v16){} + 88.3762626647949f, lo = (v16){} + -87.3365478515625f;
  x = x < hi ? x : hi;
  x = x > lo ? x : lo;
  const v16 magic = (v16){} + 12582912.f;
  v16 fx = (x * 1.44269504088896341f + magic) - magic;
  v16 z = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  v16 y = ((((1.9875691500E-4f * z + 1.3981999507E-3f) * z + 8.3334519073E-3f) * z + 4.1665795894E-2f) * z + 1.6666665459E-1f) * z + 5.0000001201E-1f;
  y = y * z * z + z + 1.f;
  v16i e = (__builtin_convertvector(fx, v16i) + 127) << 23;
  v16 p;
  std::memcpy(&p, &e, 64);
  return y * p;
}

// The largest lane and the sum of the lanes, by halves (a lane-by-lane scalar loop was a chain of 16
// dependent operations per row).
inline float hmax(v16 x) {
  v16 y = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x = x > y ? x : y;
  y = __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  x = x > y ? x : y;
  y = __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  x = x > y ? x : y;
  return std::max(x[0], x[1]);
}
inline float hsum(v16 x) {
  x += __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x += __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  x += __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  return x[0] + x[1];
}

#ifndef OMNITOK_NO_CLONES
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void softmax_rows(float* S, int m, int N, int Np, int i0, float scale, const float* keep, bool causal, float* stats, bool save) {
  const float MASKED = -1e9f;
  v16i lane;
  for (int l = 0; l < 16; l++) lane[l] = l;
  for (int r = 0; r < m; r++) {
    float* s = S + (size_t)r * Np;
    const int limit = causal ? i0 + r : INT_MAX;  // keys past the query are masked
    // pass 1: scale and masks, in place, and the row max
    v16 mxv = (v16){} - INFINITY;
    for (int j0 = 0; j0 < Np; j0 += 16) {
      const v16i idx = lane + j0;
      v16 v = *(v16*)(s + j0) * scale;
      if (keep) {
        v16 k = (v16){} + 1.f;
        if (N - j0 >= 16) k = *(const v16u*)(keep + j0);
        else
          for (int l = 0; l < N - j0; l++) k[l] = keep[j0 + l];
        v = v + ((v16){} + 1.f - k) * MASKED;
      }
      if (causal) v = idx > limit ? v + MASKED : v;
      v = idx < N ? v : (v16){} - INFINITY;
      mxv = v > mxv ? v : mxv;
      *(v16*)(s + j0) = v;
    }
    const float mx = save ? hmax(mxv) : stats[2 * r];
    // pass 2: exponentials and their sum (padding lanes are −inf: exp gives 0 after the select)
    v16 sumv = {};
    for (int j0 = 0; j0 < Np; j0 += 16) {
      v16 e = fast_exp_v(*(v16*)(s + j0) - mx);
      e = (lane + j0) < N ? e : (v16){};
      sumv += e;
      *(v16*)(s + j0) = e;
    }
    float inv;
    if (save) {
      inv = 1.f / hsum(sumv);
      stats[2 * r] = mx;
      stats[2 * r + 1] = inv;
    } else {
      inv = stats[2 * r + 1];
    }
    // pass 3: normalized
    for (int j0 = 0; j0 < Np; j0 += 16) *(v16*)(s + j0) *= inv;
  }
}

// dS = scale·P∘(dP − rowsum(P∘dP)) in place over dP, m rows Np floats apart (the padding columns
// of P and dP are 0, so they add nothing and stay 0): the softmax's gradient with the scores' scale
// folded in, so the products dQ = dS·K and dK = dSᵀ·Q read dS where it lies (a GEMM with alpha ≠ 1
// packs A to scale it). The row sums run on 16 lanes (a sequential scalar sum was a chain of N
// dependent adds: 10 % of the backward).
#ifndef OMNITOK_NO_CLONES
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void softmax_grad_rows(float* dS, const float* P, int m, int Np, float scale) {
  for (int r = 0; r < m; r++) {
    float* d = dS + (size_t)r * Np;
    const float* p = P + (size_t)r * Np;
    v16 acc = {};
    for (int j = 0; j < Np; j += 16) acc += *(const v16*)(d + j) * *(const v16*)(p + j);
    const float dot = hsum(acc);
    for (int j = 0; j < Np; j += 16) *(v16*)(d + j) = scale * (*(const v16*)(p + j) * (*(const v16*)(d + j) - dot));
  }
}

// The attention's two small products per head, register-blocked (4 query rows × 32 columns of 16-wide
// vectors a step) instead of the packed GEMM: at N = 77, Dh = 64 that GEMM spent its time packing and
// in edge tiles (29 GFLOP/s for CLIP's text tower). The scores use one fixed order (d ascending, one
// fused multiply-add each), and the backward recomputes them with the same function, so its
// probabilities stay the forward's bit for bit.
// Kt [Dh][Np] = the head's keys transposed, zero past N (Np = keys_padded(N)): K rows at stride ldk.
void pack_keys_t(const float* K, int ldk, int N, int Dh, int Np, float* Kt) {
  for (int d = 0; d < Dh; d++) {
    float* row = Kt + (size_t)d * Np;
    for (int j = 0; j < N; j++) row[j] = K[(size_t)j * ldk + d];
    for (int j = N; j < Np; j++) row[j] = 0.f;
  }
}

// The first 64-byte aligned float at or after p (buffers get 16 floats to spare).
inline float* aligned64(float* p) { return (float*)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

// The calling thread's buffers for a head's transposed keys (slot 0) and values (slot 1, the
// backward's dP = dO·Vᵀ): Dh rows of Np floats, 64-byte aligned (attn_scores reads whole vectors).
float* keys_t_buffer(int Dh, int Np, int slot = 0) {
  thread_local std::vector<float> kt[2];
  std::vector<float>& b = kt[slot];
  if (b.size() < (size_t)Dh * Np + 16) b.resize((size_t)Dh * Np + 16);
  return aligned64(b.data());
}

// Np: the keys rounded up to 16 (attn_scores' last column block may be one vector wide: 65 keys
// computed 96 columns when blocks were two vectors each).
inline int keys_padded(int N) { return (N + 15) / 16 * 16; }

// S [m][Np] (rows Np floats apart, 64-byte aligned) = Q [m rows at stride ldq] · Kt: the unscaled
// scores QKᵀ, 0 in the padding columns (Kt's are 0).
#ifndef OMNITOK_NO_CLONES
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void attn_scores(const float* Q, int ldq, const float* Kt, int Np, int m, int Dh, float* S) {
  for (int r0 = 0; r0 < m; r0 += 4) {
    const float* q[4];
    for (int r = 0; r < 4; r++) q[r] = Q + (size_t)std::min(r0 + r, m - 1) * ldq;  // past m: row m − 1 again, not stored
    for (int j0 = 0; j0 < Np; j0 += 32) {
      v16 acc[4][2] = {};
      const bool two = Np - j0 >= 32;
      if (two) {
        for (int d = 0; d < Dh; d++) {
          const v16 k0 = *(const v16*)(Kt + (size_t)d * Np + j0);
          const v16 k1 = *(const v16*)(Kt + (size_t)d * Np + j0 + 16);
          for (int r = 0; r < 4; r++) {
            const v16 qd = q[r][d] - (v16){};  // a broadcast load (see micro_rows)
            acc[r][0] += qd * k0;
            acc[r][1] += qd * k1;
          }
        }
      } else {  // the last 16 columns: the same sums, one vector
        for (int d = 0; d < Dh; d++) {
          const v16 k0 = *(const v16*)(Kt + (size_t)d * Np + j0);
          for (int r = 0; r < 4; r++) acc[r][0] += (q[r][d] - (v16){}) * k0;
        }
      }
      for (int r = 0; r < 4 && r0 + r < m; r++) {
        *(v16*)(S + (size_t)(r0 + r) * Np + j0) = acc[r][0];
        if (two) *(v16*)(S + (size_t)(r0 + r) * Np + j0 + 16) = acc[r][1];
      }
    }
  }
}

// O [m rows at stride ldo] = P [m rows at stride ldp] · V [N rows at stride ldv], Dh a multiple of 32.
#ifndef OMNITOK_NO_CLONES
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void attn_pv(const float* P, int ldp, int N, const float* V, int ldv, int m, int Dh, float* O, int ldo) {
  for (int r0 = 0; r0 < m; r0 += 4) {
    const float* p[4];
    for (int r = 0; r < 4; r++) p[r] = P + (size_t)std::min(r0 + r, m - 1) * ldp;
    for (int c0 = 0; c0 < Dh; c0 += 32) {
      v16 acc[4][2] = {};
      for (int j = 0; j < N; j++) {
        const v16 v0 = *(const v16u*)(V + (size_t)j * ldv + c0);
        const v16 v1 = *(const v16u*)(V + (size_t)j * ldv + c0 + 16);
        for (int r = 0; r < 4; r++) {
          const v16 pj = p[r][j] - (v16){};
          acc[r][0] += pj * v0;
          acc[r][1] += pj * v1;
        }
      }
      for (int r = 0; r < 4 && r0 + r < m; r++) {
        *(v16u*)(O + (size_t)(r0 + r) * ldo + c0) = acc[r][0];
        *(v16u*)(O + (size_t)(r0 + r) * ldo + c0 + 16) = acc[r][1];
      }
    }
  }
}

// Attention runs a block of query rows at a time (flash-attention's memory plan on the CPU): the
// scores and probabilities of a block (QB × N floats) stay in cache and nothing of size N × N is kept —
// the forward saves each row's max and 1/Σ, and the backward recomputes its block of P from them.
// (Keeping P cost B·H·N² floats a layer: 630 MB for a 16-clip batch of 1,568 video tokens.) Up to
// 2·ATT_QB keys the block is every query; past that, blocks of at most ATT_QB rows, all about equal
// (197 tokens: 4 × 50) — fixed blocks of 64 left 65 tokens a block of 1 that cost nearly as much.
constexpr int ATT_QB = 64;
inline int query_block(int N) {
  if (N <= 2 * ATT_QB) return N;
  const int blocks = (N + ATT_QB - 1) / ATT_QB;
  return (N + blocks - 1) / blocks;
}

// flashAttention(qkv [B,N,3D], keyMask [B,N] or empty, out [B,N,D], stats [B,H,N,2], B, N, H, Dh, causal)
napi_value FlashAttention(napi_env env, napi_callback_info info) {
  ARGS(9);
  F32ARG(qkv, 0);
  F32ARG(mask, 1);
  F32ARG(out, 2);
  F32ARG(stats, 3);
  int B = INT(4), N = INT(5), H = INT(6), Dh = INT(7);
  bool causal = get_bool(env, argv[8]);
  int D = H * Dh;
  float scale = 1.f / std::sqrt((float)Dh);
  Chunks ch(B * H, std::max(1, 16384 / (N * N + 1)));
  parallel_for(ch.count, true, [&](long t) {
    thread_local std::vector<float> buf;
    const int QB = query_block(N);
    const int Np = keys_padded(N);
    if (buf.size() < (size_t)QB * Np + 16) buf.resize((size_t)QB * Np + 16);
    float* S = aligned64(buf.data());
    float* Kt = keys_t_buffer(Dh, Np);
    for (int bh = ch.lo(t); bh < ch.lo(t + 1); bh++) {
      int b = bh / H, h = bh % H;
      const float* Q = qkv.p + (size_t)b * N * 3 * D + h * Dh;
      const float* K = Q + D;
      const float* V = Q + 2 * D;
      const float* keep = mask.n ? mask.p + (size_t)b * N : nullptr;
      pack_keys_t(K, 3 * D, N, Dh, Np, Kt);
      for (int i0 = 0; i0 < N; i0 += QB) {
        int m = std::min(QB, N - i0);
        attn_scores(Q + (size_t)i0 * 3 * D, 3 * D, Kt, Np, m, Dh, S);  // S = Q·Kᵀ
        softmax_rows(S, m, N, Np, i0, scale, keep, causal, stats.p + ((size_t)bh * N + i0) * 2, true);
        float* O = out.p + ((size_t)b * N + i0) * D + h * Dh;
        if (Dh % 32 == 0) attn_pv(S, Np, N, V, 3 * D, m, Dh, O, D);  // O = P·V
        else sgemm1(false, false, m, Dh, N, 1.f, S, Np, V, 3 * D, 0.f, O, D);
      }
    }
  });
  return undefined(env);
}

// flashAttentionBwd(dOut [B,N,D], qkv, keyMask [B,N] or empty, stats, dqkv [B,N,3D], B, N, H, Dh, causal)
napi_value FlashAttentionBwd(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32ARG(dout, 0);
  F32ARG(qkv, 1);
  F32ARG(mask, 2);
  F32ARG(stats, 3);
  F32ARG(dqkv, 4);
  int B = INT(5), N = INT(6), H = INT(7), Dh = INT(8);
  bool causal = get_bool(env, argv[9]);
  int D = H * Dh;
  float scale = 1.f / std::sqrt((float)Dh);
  Chunks ch(B * H, std::max(1, 16384 / (N * N + 1)));
  parallel_for(ch.count, true, [&](long t) {
    thread_local std::vector<float> buf;
    const int QB = query_block(N);
    const int Np = keys_padded(N);
    if (buf.size() < (size_t)2 * QB * Np + 16) buf.resize((size_t)2 * QB * Np + 16);
    float* P = aligned64(buf.data());
    float* dS = P + (size_t)QB * Np;
    float* Kt = keys_t_buffer(Dh, Np);
    float* Vt = keys_t_buffer(Dh, Np, 1);
    for (int bh = ch.lo(t); bh < ch.lo(t + 1); bh++) {
      int b = bh / H, h = bh % H;
      size_t base = (size_t)b * N * 3 * D + h * Dh;
      const float* Q = qkv.p + base;
      const float* K = Q + D;
      const float* V = Q + 2 * D;
      float* dQ = dqkv.p + base;
      float* dK = dQ + D;
      float* dV = dQ + 2 * D;
      const float* dO = dout.p + (size_t)b * N * D + h * Dh;
      const float* keep = mask.n ? mask.p + (size_t)b * N : nullptr;
      pack_keys_t(K, 3 * D, N, Dh, Np, Kt);
      pack_keys_t(V, 3 * D, N, Dh, Np, Vt);
      for (int i0 = 0; i0 < N; i0 += QB) {
        int m = std::min(QB, N - i0);
        const float* Qb = Q + (size_t)i0 * 3 * D;
        const float* dOb = dO + (size_t)i0 * D;
        attn_scores(Qb, 3 * D, Kt, Np, m, Dh, P);  // the forward's S (the same function: bit for bit), then P
        softmax_rows(P, m, N, Np, i0, scale, keep, causal, stats.p + ((size_t)bh * N + i0) * 2, false);
        attn_scores(dOb, D, Vt, Np, m, Dh, dS);  // dP = dO·Vᵀ
        softmax_grad_rows(dS, P, m, Np, scale);    // dS, times the scale
        const float acc = i0 == 0 ? 0.f : 1.f;  // dK, dV sum over the query blocks
        sgemm1(false, false, m, Dh, N, 1.f, dS, Np, K, 3 * D, 0.f, dQ + (size_t)i0 * 3 * D, 3 * D);  // dQ = s·dS·K
        sgemm1(true, false, N, Dh, m, 1.f, dS, Np, Qb, 3 * D, acc, dK, 3 * D);  // dK += s·dSᵀ·Q
        sgemm1(true, false, N, Dh, m, 1.f, P, Np, dOb, D, acc, dV, 3 * D);  // dV += Pᵀ·dO
      }
    }
  });
  return undefined(env);
}

// adamw(p, g, m, v, lr, beta1, beta2, eps, decay (1 − lr·wd, or 1), bc1, bc2, gradScale) in place,
// in torch.optim.AdamW's order of operations.
napi_value AdamW(napi_env env, napi_callback_info info) {
  ARGS(12);
  F32ARG(p, 0);
  F32ARG(g, 1);
  F32ARG(m, 2);
  F32ARG(v, 3);
  float lr = NUM(4), b1 = NUM(5), b2 = NUM(6), eps = NUM(7), decay = NUM(8), bc1 = NUM(9), bc2 = NUM(10), gs = NUM(11);
  float sbc2 = std::sqrt((float)bc2), step = lr / bc1, ob1 = 1.f - b1, ob2 = 1.f - b2;
  long long n = p.n;
{
    Chunks ch_(n, 32768);
    parallel_for(ch_.count, n > 131072, [&](long t_) {
      for (long long i = ch_.lo(t_); i < ch_.lo(t_ + 1); i++) {
    float gi = gs == 1.f ? g.p[i] : g.p[i] * gs;
    float mi = m.p[i] * b1 + gi * ob1;
    float vi = v.p[i] * b2 + gi * gi * ob2;
    m.p[i] = mi;
    v.p[i] = vi;
    float denom = std::sqrt(vi) / sbc2 + eps;
    p.p[i] = p.p[i] * decay - (mi / denom) * step;
  }
    });
  }
  return undefined(env);
}

// sumSquares(x) → number (double accumulation)
napi_value SumSquares(napi_env env, napi_callback_info info) {
  ARGS(1);
  F32ARG(x, 0);
  long long n = x.n;
  Chunks ch(n, 65536);
  std::vector<double> parts(ch.count);
  parallel_for(ch.count, n > 262144, [&](long t) {
    double acc = 0;
    for (long long i = ch.lo(t); i < ch.lo(t + 1); i++) acc += (double)x.p[i] * x.p[i];
    parts[t] = acc;
  });
  double s = 0;
  for (double v : parts) s += v;  // chunk order: the same sum for any thread count
  napi_value r;
  napi_create_double(env, s, &r);
  return r;
}

// info() → { blas, threads, isa }
napi_value Info(napi_env env, napi_callback_info info) {
  napi_value o, s, t, isa;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, (blas_sgemm && use_blas) ? blas_name.c_str() : builtin_name, NAPI_AUTO_LENGTH, &s);
  napi_create_int32(env, max_threads, &t);
#if defined(__x86_64__)
  __builtin_cpu_init();
  const char* i = __builtin_cpu_supports("avx512f") ? "avx512f" : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? "avx2+fma" : "baseline";
#else
  const char* i = "baseline";
#endif
  napi_create_string_utf8(env, i, NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, o, "blas", s);
  napi_set_named_property(env, o, "threads", t);
  napi_set_named_property(env, o, "isa", isa);
  napi_value fd;
  napi_get_boolean(env, flush_denormals, &fd);
  napi_set_named_property(env, o, "flushDenormals", fd);
  return o;
}

// configure(threads, useBlas): threads ≤ 0 keeps the current count
napi_value Configure(napi_env env, napi_callback_info info) {
  ARGS(2);
  int t = INT(0);
  if (t > 0 && t != max_threads) {
    max_threads = t;
    pool.resize(t - 1);
  }
  use_blas = get_bool(env, argv[1]);
  return undefined(env);
}

#include "jpeg-decode.inc"
#include "image-resize.inc"
#include "process-spawn.inc"

napi_value Init(napi_env env, napi_value exports) {
  // one setup and one pool per process, shared by every JS environment (main thread, worker_threads)
  static std::mutex init_mu;
  static int envs = 0;
  {
    std::lock_guard<std::mutex> lock(init_mu);
    if (envs++ == 0) {
      if (!blas_sgemm) load_blas();
      max_threads = std::max(1u, std::thread::hardware_concurrency());
      if (const char* e = getenv("OMNITOK_NATIVE_THREADS")) {
        int t = atoi(e);
        if (t > 0) max_threads = t;
      }
      if (const char* d = getenv("OMNITOK_NATIVE_DENORMALS"); d && std::string(d) == "keep") flush_denormals = false;
      pool.resize(max_threads - 1);  // the calling thread is the other one
    }
  }
  napi_add_env_cleanup_hook(env, [](void*) {
    std::lock_guard<std::mutex> lock(init_mu);
    if (--envs == 0) pool.resize(0);
  }, nullptr);
  std::vector<std::pair<const char*, napi_callback>> fns = {
      // the arithmetic kernels run with denormals flushed (DenormalsOff); copies, image decoding and
      // resizing (bit-exact with PIL) as they are
      {"matmul", flushed<Matmul>},       {"matmulBias", flushed<MatmulBias>},   {"packWeights", PackWeights}, {"matmulPacked", flushed<MatmulPacked>}, {"packedRowsMax", PackedRowsMax},   {"addBias", flushed<AddBias>},         {"binary", flushed<Binary>},         {"reduceSum", flushed<ReduceSum>},
      {"transpose", Transpose}, {"slice", Slice}, {"layerNorm", flushed<LayerNormFwd>},  {"layerNormBwd", flushed<LayerNormBwd>}, {"gelu", flushed<GeluFwd>},
      {"geluBwd", flushed<GeluBwd>},     {"flashAttention", flushed<FlashAttention>},  {"flashAttentionBwd", flushed<FlashAttentionBwd>}, {"adamw", flushed<AdamW>},
      {"sumSquares", flushed<SumSquares>}, {"info", Info},           {"configure", Configure},
      {"resizeNormalize", ResizeNormalize},
#ifdef OMNITOK_JPEG
      {"decodeJpeg", DecodeJpeg}, {"jpegDecoder", JpegDecoder},
#endif
  };
#if defined(__linux__)
  // Only where the kernel (and any seccomp filter) allows pidfds: else callers use child_process.
  if (sp_pidfd_supported()) fns.insert(fns.end(), {{"spawnProcess", SpawnProcess}, {"killProcess", KillProcess}});
#endif
  for (auto& [name, cb] : fns) {
    napi_value fn;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
    napi_set_named_property(env, exports, name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
