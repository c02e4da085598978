// oneDNN 2-D convolution (forward, input gradient, weight gradient) as XLA FFI handlers.
//
// Layouts are those of `lax.conv_general_dilated(..., ('NHWC', 'HWIO', 'NHWC'))`: input and
// output NHWC, weights HWIO, float32, no dilation, one group, no bias. Attributes:
//   strides: int64[2]  (sh, sw)
//   padding: int64[4]  (lo_h, hi_h, lo_w, hi_w), non-negative
//   blocked: int64     0: oneDNN runs on the plain nhwc/hwio buffers directly;
//                      1: format_tag::any, with reorders to/from the plain buffers.
//
// Operands may carry extra leading (batch) dimensions, as `ffi_call(vmap_method=
// "expand_dims")` passes them: each is either the full size or 1 (broadcast). When only
// the activations are batched the batch is folded into N (one oneDNN call); otherwise the
// handler loops over it.
//
// Primitives are built once per (kind, shapes, attributes) and cached: building one costs
// far more than running it for small layers. The cache keeps the most recently used
// DNNL_CONV_CACHE_SIZE primitives (default 256). Every C++ exception, a failed allocation
// included, comes back to Python as an XLA error instead of aborting the process.

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <list>
#include <memory>
#include <new>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

namespace {

enum Kind : int64_t { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };

// Convolution geometry, oneDNN naming: N, C (in), H, W; O (out), KH, KW; OH, OW.
struct Geometry {
  int64_t n, c, h, w, o, kh, kw, oh, ow, sh, sw, plh, phh, plw, phw;
};

using Key = std::array<int64_t, 17>;

struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 0;
    for (int64_t v : k) h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// A cached primitive with its two inputs and one output: oneDNN argument ids, the
// primitive's memory descs (blocked with `any`), the plain user descs, and reorders.
struct Entry {
  dnnl::primitive prim;
  std::array<int, 3> arg;           // in0, in1, out
  std::array<memory::desc, 3> md;   // what the primitive wants
  std::array<memory::desc, 3> user; // nhwc / hwio
  std::array<bool, 3> reorder;
  std::array<dnnl::reorder, 3> ro;  // user->md for inputs, md->user for the output
  size_t scratch = 0;               // Largest scratchpad of the primitive and reorders.
};

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& Stream() {  // CPU streams are cheap but not meant to be shared by threads.
  thread_local dnnl::stream stream(Engine());
  return stream;
}

memory::desc Act(int64_t n, int64_t c, int64_t h, int64_t w, bool any) {
  return memory::desc({n, c, h, w}, memory::data_type::f32, any ? tag::any : tag::nhwc);
}

memory::desc Wts(const Geometry& g, bool any) {
  return memory::desc({g.o, g.c, g.kh, g.kw}, memory::data_type::f32,
                      any ? tag::any : tag::hwio);
}

std::shared_ptr<Entry> Build(Kind kind, const Geometry& g, bool any) {
  const dnnl::engine& eng = Engine();
  // The scratchpad is passed in per call: in library mode oneDNN (built without
  // ONEDNN_ENABLE_CONCURRENT_EXEC, as the wheels are) shares one between primitives, and
  // XLA runs independent custom calls (e.g. both gradients, or several devices) at once.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  memory::dims strides = {g.sh, g.sw}, pad_l = {g.plh, g.plw}, pad_r = {g.phh, g.phw};
  auto src = Act(g.n, g.c, g.h, g.w, any), dst = Act(g.n, g.o, g.oh, g.ow, any);
  auto wts = Wts(g, any);
  dnnl::convolution_forward::primitive_desc fwd(
      eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
      wts, dst, strides, pad_l, pad_r, attr);
  auto e = std::make_shared<Entry>();
  auto src_u = Act(g.n, g.c, g.h, g.w, false), dst_u = Act(g.n, g.o, g.oh, g.ow, false);
  auto wts_u = Wts(g, false);
  if (kind == kFwd) {
    e->prim = dnnl::convolution_forward(fwd);
    e->scratch = fwd.scratchpad_desc().get_size();
    e->arg = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    e->md = {fwd.src_desc(), fwd.weights_desc(), fwd.dst_desc()};
    e->user = {src_u, wts_u, dst_u};
  } else if (kind == kBwdData) {
    dnnl::convolution_backward_data::primitive_desc pd(
        eng, dnnl::algorithm::convolution_direct, src, wts, dst, strides, pad_l, pad_r, fwd,
        attr);
    e->prim = dnnl::convolution_backward_data(pd);
    e->scratch = pd.scratchpad_desc().get_size();
    e->arg = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
    e->md = {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()};
    e->user = {dst_u, wts_u, src_u};
  } else {
    dnnl::convolution_backward_weights::primitive_desc pd(
        eng, dnnl::algorithm::convolution_direct, src, wts, dst, strides, pad_l, pad_r, fwd,
        attr);
    e->prim = dnnl::convolution_backward_weights(pd);
    e->scratch = pd.scratchpad_desc().get_size();
    e->arg = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS};
    e->md = {pd.src_desc(), pd.diff_dst_desc(), pd.diff_weights_desc()};
    e->user = {src_u, dst_u, wts_u};
  }
  for (int i = 0; i < 3; ++i) {
    e->reorder[i] = e->md[i] != e->user[i];
    if (!e->reorder[i]) continue;
    auto pd = i < 2 ? dnnl::reorder::primitive_desc(eng, e->user[i], eng, e->md[i], attr)
                    : dnnl::reorder::primitive_desc(eng, e->md[i], eng, e->user[i], attr);
    e->ro[i] = dnnl::reorder(pd);
    e->scratch = std::max(e->scratch, pd.scratchpad_desc().get_size());
  }
  return e;
}

size_t CacheCapacity() {
  static const size_t capacity = [] {
    const char* v = std::getenv("DNNL_CONV_CACHE_SIZE");
    long n = v ? std::strtol(v, nullptr, 10) : 0;
    return n > 0 ? static_cast<size_t>(n) : size_t{256};
  }();
  return capacity;
}

// Least recently used first out: `order` holds the keys, most recent at the front.
struct Cache {
  std::list<Key> order;
  std::unordered_map<Key, std::pair<std::shared_ptr<Entry>, std::list<Key>::iterator>, KeyHash>
      entries;
};

std::mutex cache_mu;
auto* cache = new Cache();

std::shared_ptr<Entry> Get(Kind kind, const Geometry& g, bool any) {
  Key key = {kind, any, g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.oh, g.ow,
             g.sh, g.sw, g.plh, g.phh, g.plw, g.phw};
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    auto it = cache->entries.find(key);
    if (it != cache->entries.end()) {
      cache->order.splice(cache->order.begin(), cache->order, it->second.second);
      return it->second.first;
    }
  }
  auto e = Build(kind, g, any);  // Outside the lock: slow; a racing duplicate is harmless.
  std::lock_guard<std::mutex> lock(cache_mu);
  auto it = cache->entries.find(key);
  if (it != cache->entries.end()) return it->second.first;
  cache->order.push_front(key);
  cache->entries.emplace(key, std::make_pair(e, cache->order.begin()));
  while (cache->entries.size() > CacheCapacity()) {  // A call still running keeps its own.
    cache->entries.erase(cache->order.back());
    cache->order.pop_back();
  }
  return e;
}

// Reorder targets (slots 0-2) and scratchpads (slot 3), reused per thread (fresh allocations
// would page-fault on every call) up to kKeep bytes each; a larger one is the call's own,
// freed when it returns.
struct Free {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<void, Free>;
constexpr size_t kKeep = size_t{256} << 20;

void* Allocate(size_t bytes, Buffer* into) {
  bytes = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  into->reset(std::aligned_alloc(64, bytes));
  if (!*into) throw std::bad_alloc();
  return into->get();
}

void* Scratch(int slot, size_t bytes, std::vector<Buffer>* owned) {
  thread_local std::array<Buffer, 4> buf;
  thread_local std::array<size_t, 4> size = {0, 0, 0, 0};
  if (bytes > kKeep) {
    owned->emplace_back();
    return Allocate(bytes, &owned->back());
  }
  if (size[slot] < bytes) {
    size[slot] = 0;
    Allocate(bytes, &buf[slot]);
    size[slot] = bytes;
  }
  return buf[slot].get();
}

void Run(const Entry& e, std::array<float*, 3> ptr) {
  dnnl::stream& s = Stream();
  const dnnl::engine& eng = Engine();
  std::unordered_map<int, memory> args;
  std::array<memory, 3> user, prim;
  std::vector<Buffer> owned;  // Empty, and so free, unless a buffer is over kKeep.
  for (int i = 0; i < 3; ++i) {
    user[i] = memory(e.user[i], eng, ptr[i]);
    prim[i] = e.reorder[i] ? memory(e.md[i], eng, Scratch(i, e.md[i].get_size(), &owned))
                           : user[i];
    args[e.arg[i]] = prim[i];
  }
  memory scratch(memory::desc({static_cast<int64_t>(e.scratch)}, memory::data_type::u8,
                              tag::a), eng, Scratch(3, e.scratch, &owned));
  args[DNNL_ARG_SCRATCHPAD] = scratch;
  auto reorder = [&](int i, const memory& from, const memory& to) {
    e.ro[i].execute(s, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to},
                        {DNNL_ARG_SCRATCHPAD, scratch}});
  };
  for (int i = 0; i < 2; ++i)
    if (e.reorder[i]) reorder(i, user[i], prim[i]);
  e.prim.execute(s, args);
  if (e.reorder[2]) reorder(2, prim[2], user[2]);
  s.wait();
}

// XLA:CPU runs independent thunks at once (e.g. a layer's two gradients), and every oneDNN
// call already uses all OpenMP threads: concurrent calls would oversubscribe the cores and
// stall in OpenMP barriers. So calls take turns, unless DNNL_CONV_CONCURRENT=1 (no
// difference measured on the seed CNN's train step; it matters more with more devices).
std::mutex& TurnMutex() {
  static std::mutex mu;
  return mu;
}

bool Serialize() {
  static const bool serialize = [] {
    const char* v = std::getenv("DNNL_CONV_CONCURRENT");
    return !(v && v[0] == '1');
  }();
  return serialize;
}

// XLA:CPU runs with denormals flushed (FTZ/DAZ in MXCSR; checked: 1e-39 * 1.5 gives 0 under
// jit), but MXCSR is per thread and OpenMP's workers start without them, so part of each
// output would be computed under other rules than the rest. Copies the caller's modes to
// the team (one empty parallel region, ~us). No speed effect measured on this CPU
// (Sapphire Rapids); older ones pay heavily for denormal arithmetic.
void ShareDenormalMode() {
  constexpr unsigned kFtzDaz = 0x8040;
  const unsigned mode = _mm_getcsr() & kFtzDaz;
#pragma omp parallel
  _mm_setcsr((_mm_getcsr() & ~kFtzDaz) | mode);
}

// Splits a buffer's dims into leading (batch) dims and the trailing 4.
struct Operand {
  float* data;
  std::vector<int64_t> lead;
  std::array<int64_t, 4> tail;
};

ffi::Error Split(const char* name, ffi::AnyBuffer::Dimensions d, float* data, size_t nlead,
                 Operand* out) {
  if (d.size() != nlead + 4)
    return ffi::Error::InvalidArgument(std::string(name) + ": rank mismatch");
  out->data = data;
  out->lead.assign(d.begin(), d.begin() + nlead);
  for (int i = 0; i < 4; ++i) out->tail[i] = d[nlead + i];
  return ffi::Error::Success();
}

// x: [.., N, H, W, C]; w: [.., KH, KW, C, O]; y: [.., N, OH, OW, O], in the order
// (in0, in1, out) of `kind`, i.e. fwd (x, w, y), bwd-data (dy, w, dx), bwd-weights (x, dy, dw).
ffi::Error Conv(Kind kind, ffi::Buffer<ffi::F32> in0, ffi::Buffer<ffi::F32> in1,
                ffi::Result<ffi::Buffer<ffi::F32>> out, ffi::Span<const int64_t> strides,
                ffi::Span<const int64_t> padding, int64_t blocked) {
  if (strides.size() != 2 || padding.size() != 4)
    return ffi::Error::InvalidArgument("strides must have 2 and padding 4 entries");
  size_t rank = out->dimensions().size();
  if (rank < 4) return ffi::Error::InvalidArgument("operands must have rank >= 4");
  size_t nlead = rank - 4;
  std::array<Operand, 3> op;
  const char* names[3] = {"in0", "in1", "out"};
  std::array<ffi::Buffer<ffi::F32>*, 2> ins = {&in0, &in1};
  for (int i = 0; i < 2; ++i)
    if (auto err = Split(names[i], ins[i]->dimensions(), ins[i]->typed_data(), nlead, &op[i]);
        err.failure())
      return err;
  if (auto err = Split("out", out->dimensions(), out->typed_data(), nlead, &op[2]);
      err.failure())
    return err;
  // Which of (in0, in1, out) is x, w, y.
  int ix, iw, iy;
  if (kind == kFwd) ix = 0, iw = 1, iy = 2;
  else if (kind == kBwdData) iy = 0, iw = 1, ix = 2;
  else ix = 0, iy = 1, iw = 2;
  const auto &x = op[ix].tail, &w = op[iw].tail, &y = op[iy].tail;
  Geometry g{x[0], x[3], x[1], x[2], w[3], w[0], w[1], y[1], y[2],
             strides[0], strides[1], padding[0], padding[1], padding[2], padding[3]};
  if (w[2] != g.c || y[0] != g.n || y[3] != g.o)
    return ffi::Error::InvalidArgument("inconsistent convolution shapes");
  for (int64_t p : padding)
    if (p < 0) return ffi::Error::InvalidArgument("negative padding is not supported");
  if (g.sh < 1 || g.sw < 1 || (g.h + g.plh + g.phh - g.kh) / g.sh + 1 != g.oh ||
      (g.w + g.plw + g.phw - g.kw) / g.sw + 1 != g.ow)
    return ffi::Error::InvalidArgument("output size does not match strides and padding");

  // Leading dims: the output has the full batch; each input the full size or 1 per dim.
  const std::vector<int64_t>& full = op[2].lead;
  int64_t batch = 1;
  for (int64_t d : full) batch *= d;
  for (int i = 0; i < 2; ++i)
    for (size_t j = 0; j < nlead; ++j)
      if (op[i].lead[j] != full[j] && op[i].lead[j] != 1)
        return ffi::Error::InvalidArgument("leading dims must match the output or be 1");
  auto is = [&](int i, bool batched) {
    for (size_t j = 0; j < nlead; ++j)
      if ((op[i].lead[j] == full[j]) != batched && full[j] != 1) return false;
    return true;
  };
  try {
    bool any = blocked != 0;
    if (batch > 1 && kind != kBwdWeights && is(iw, false) && is(ix, true) && is(iy, true)) {
      g.n *= batch;  // Only activations are batched: one convolution over N * batch.
      batch = 1;
    }
    auto e = Get(kind, g, any);
    std::unique_lock<std::mutex> turn(TurnMutex(), std::defer_lock);
    if (Serialize()) turn.lock();
    ShareDenormalMode();
    std::array<int64_t, 3> size;
    for (int i = 0; i < 3; ++i)
      size[i] = op[i].tail[0] * op[i].tail[1] * op[i].tail[2] * op[i].tail[3];
    for (int64_t b = 0; b < batch; ++b) {
      std::array<float*, 3> ptr;
      for (int i = 0; i < 3; ++i) {
        // Offset of batch element b in operand i, with stride 0 along its size-1 dims.
        int64_t rem = b, off = 0, stride = 1;
        for (size_t j = nlead; j-- > 0;) {
          int64_t idx = rem % full[j];
          rem /= full[j];
          if (op[i].lead[j] != 1) off += idx * stride;
          stride *= op[i].lead[j];
        }
        ptr[i] = op[i].data + off * size[i];
      }
      Run(*e, ptr);
    }
  } catch (const dnnl::error& err) {
    return ffi::Error::Internal(std::string("oneDNN: ") + err.what());
  } catch (const std::bad_alloc&) {
    return ffi::Error(ffi::ErrorCode::kResourceExhausted,
                      "the oneDNN convolution ran out of memory; use a smaller batch, or "
                      "config.conv = \"xla\"");
  } catch (const std::exception& err) {
    return ffi::Error::Internal(std::string("the oneDNN convolution failed: ") + err.what());
  } catch (...) {
    return ffi::Error::Internal("the oneDNN convolution failed with an unknown C++ exception");
  }
  return ffi::Error::Success();
}

template <Kind kind>
ffi::Error ConvKind(ffi::Buffer<ffi::F32> in0, ffi::Buffer<ffi::F32> in1,
                    ffi::Result<ffi::Buffer<ffi::F32>> out, ffi::Span<const int64_t> strides,
                    ffi::Span<const int64_t> padding, int64_t blocked) {
  return Conv(kind, in0, in1, out, strides, padding, blocked);
}

}  // namespace

#define DNNL_CONV_HANDLER(name, kind)                               \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, ConvKind<kind>,               \
                                ffi::Ffi::Bind()                    \
                                    .Arg<ffi::Buffer<ffi::F32>>()   \
                                    .Arg<ffi::Buffer<ffi::F32>>()   \
                                    .Ret<ffi::Buffer<ffi::F32>>()   \
                                    .Attr<ffi::Span<const int64_t>>("strides") \
                                    .Attr<ffi::Span<const int64_t>>("padding") \
                                    .Attr<int64_t>("blocked"));

#pragma GCC visibility push(default)  // The build hides everything else.

DNNL_CONV_HANDLER(DnnlConvFwd, kFwd)
DNNL_CONV_HANDLER(DnnlConvBwdData, kBwdData)
DNNL_CONV_HANDLER(DnnlConvBwdWeights, kBwdWeights)

// For tests and benchmarks: how many primitives are cached, and oneDNN's thread count.
extern "C" int64_t dnnl_conv_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mu);
  return static_cast<int64_t>(cache->entries.size());
}

extern "C" int dnnl_conv_max_threads() {
  return omp_get_max_threads();
}

#pragma GCC visibility pop
