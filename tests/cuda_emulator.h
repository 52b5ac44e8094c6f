// Runs convreg's CUDA kernel sources on the CPU, for tests on machines without a GPU.
//
// The .cu file is compiled by g++ as C++20 with this header in front of it.
// Each launch runs its blocks one after another; the threads of a block are
// real threads (std::thread), so __syncthreads() is a real barrier and a
// kernel that forgets one reads stale shared memory as it would on a GPU.
//
// What the emulator checks, beyond the results the tests compare:
// - the launch is legal on every CUDA GPU: at most 1024 threads per block,
//   grid.y and grid.z at most 65535, and at most 48 KiB of dynamic shared
//   memory (the limit without cudaFuncSetAttribute opt-in);
// - shared memory starts as NaN bytes (0xFF) in every block, so a read of an
//   element no thread wrote shows up as NaN in the output;
// - writes past the requested dynamic shared memory are caught (a canary
//   behind it is checked after every block);
// - a thread that returned while others of its block still reach a
//   __syncthreads() is an error (undefined behaviour in CUDA: kernels here
//   must keep every thread until the last barrier).
// Global-memory bounds are checked by the Python side (cuda_emulator.py),
// which surrounds every array with NaN guard bytes and checks them after the
// launch. Built with -fsanitize=address (cuda_emulator.py does so when the
// process runs under AddressSanitizer), every access past an array or past the
// requested shared memory is reported where it happens.
//
// Supported device API, which is all convreg's kernels use: threadIdx,
// blockIdx, blockDim, gridDim, __syncthreads, __ldg, atomicAdd, and dynamic
// shared memory declared as `extern __shared__ unsigned char shared_bytes[];`.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)  // built with -fsanitize=address: see set_up() in launch
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace cuda_emulator {

constexpr std::size_t kSharedLimit = 48 * 1024;  // bytes, without opt-in
constexpr std::size_t kCanary = 256;              // bytes checked behind the request
constexpr unsigned char kUnwritten = 0xFF;        // NaN as float and as double
constexpr unsigned char kCanaryByte = 0xA5;

inline thread_local dim3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;

struct BlockState;

// Runs once per barrier phase, while every live thread of the block is blocked
// in it: a phase that some thread waited in, completed by a thread that had
// returned, is a __syncthreads() that not all threads reached.
struct PhaseCheck {
    BlockState* state;
    void operator()() noexcept;
};

struct BlockState {
    std::optional<std::barrier<PhaseCheck>> sync;  // one phase per __syncthreads()
    std::atomic<int> exited{0};                    // threads that returned, all phases
    std::atomic<int> waiting{0};                   // threads in __syncthreads, this phase
    bool early_exit = false;                       // written by PhaseCheck only
};

inline void PhaseCheck::operator()() noexcept {
    if (state->waiting.load() > 0 && state->exited.load() > 0) state->early_exit = true;
    state->waiting = 0;
}
inline BlockState* block_state = nullptr;

}  // namespace cuda_emulator

// The kernel's `extern __shared__ unsigned char shared_bytes[];` refers to this.
alignas(16) inline unsigned char shared_bytes[cuda_emulator::kSharedLimit + cuda_emulator::kCanary];

#define threadIdx (::cuda_emulator::thread_idx)
#define blockIdx (::cuda_emulator::block_idx)
#define blockDim (::cuda_emulator::block_dim)
#define gridDim (::cuda_emulator::grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__

inline void __syncthreads() {
    auto* state = cuda_emulator::block_state;
    ++state->waiting;
    state->sync->arrive_and_wait();
}

template <typename T>
inline T __ldg(const T* p) {
    return *p;
}

template <typename T>
inline T atomicAdd(T* address, T value) {
    return std::atomic_ref<T>(*address).fetch_add(value);
}

namespace cuda_emulator {

template <typename... A, std::size_t... I>
void call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

// Runs kernel<<<grid, block, shared>>>(args...). Returns 0, or 1 with a message in err.
template <typename... A>
int launch(void (*kernel)(A...), const unsigned* g, const unsigned* b, std::size_t shared,
           void** args, char* err, std::size_t err_len) {
    auto fail = [&](const std::string& what) {
        std::snprintf(err, err_len, "%s", what.c_str());
        return 1;
    };
    const dim3 grid{g[0], g[1], g[2]}, block{b[0], b[1], b[2]};
    const unsigned long long threads = 1ull * block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64)
        return fail("illegal block (" + std::to_string(block.x) + ", " + std::to_string(block.y) +
                    ", " + std::to_string(block.z) + "): at most 1024 threads, z at most 64");
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u ||
        grid.y > 65535 || grid.z > 65535)
        return fail("illegal grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) +
                    ", " + std::to_string(grid.z) + "): x in 1..2^31-1, y and z in 1..65535");
    if (shared > kSharedLimit)
        return fail(std::to_string(shared) + " bytes of dynamic shared memory asked; a launch "
                    "gets at most " + std::to_string(kSharedLimit) + " without opting in");
    block_dim = block;
    grid_dim = grid;

    // One team of `threads` threads runs every block in turn. Between blocks
    // the team meets at `block_end`, whose completion step (run while all of
    // it waits) checks the finished block and sets up the next one.
    const std::size_t blocks = 1ull * grid.x * grid.y * grid.z;
    std::size_t current = 0;
    std::string error;
    BlockState state;
    auto where = [&](std::size_t n) {
        return dim3{unsigned(n % grid.x), unsigned(n / grid.x % grid.y),
                    unsigned(n / grid.x / grid.y)};
    };
    auto set_up = [&] {
        ASAN_UNPOISON_MEMORY_REGION(shared_bytes, sizeof shared_bytes);
        std::memset(shared_bytes, kUnwritten, shared);
        std::memset(shared_bytes + shared, kCanaryByte, kCanary);
        // under AddressSanitizer a read or write past the request is reported at once
        ASAN_POISON_MEMORY_REGION(shared_bytes + shared, sizeof shared_bytes - shared);
        state.sync.emplace(static_cast<std::ptrdiff_t>(threads), PhaseCheck{&state});
        state.exited = 0;
        state.waiting = 0;
        state.early_exit = false;
    };
    auto finish_block = [&]() noexcept {
        ASAN_UNPOISON_MEMORY_REGION(shared_bytes, sizeof shared_bytes);
        const dim3 here = where(current);
        const std::string at = " (block " + std::to_string(here.x) + ", " +
                               std::to_string(here.y) + ", " + std::to_string(here.z) + ")";
        for (std::size_t i = 0; i < kCanary && error.empty(); ++i)
            if (shared_bytes[shared + i] != kCanaryByte)
                error = "a thread wrote " + std::to_string(i) + " bytes past the " +
                        std::to_string(shared) + " bytes of dynamic shared memory asked" + at;
        if (error.empty() && state.early_exit)
            error = "a thread returned while others of its block reached __syncthreads()" + at;
        if (++current < blocks && error.empty()) set_up();
    };
    std::barrier block_end(static_cast<std::ptrdiff_t>(threads), finish_block);
    set_up();
    block_state = &state;
    std::vector<std::thread> team;
    team.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        const dim3 me{t % block.x, t / block.x % block.y, t / block.x / block.y};
        team.emplace_back([&, me] {
            thread_idx = me;
            while (current < blocks && error.empty()) {  // both written only by finish_block
                block_idx = where(current);
                call(kernel, args, std::index_sequence_for<A...>{});
                ++state.exited;
                state.sync->arrive_and_drop();
                block_end.arrive_and_wait();
            }
        });
    }
    for (auto& t : team) t.join();
    block_state = nullptr;
    return error.empty() ? 0 : fail(error);
}

// A parameter's type as a code the caller checks its argument against:
// "f4" float, "i8" long long, "*f8" double*, ... (pointers as their pointee).
template <typename T>
std::string type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>)
        return "*" + type_code<std::remove_pointer_t<U>>();
    else
        return (std::is_floating_point_v<U> ? "f" : std::is_integral_v<U> ? "i" : "?") +
               std::to_string(sizeof(U));
}

// The kernel's parameters as "code,code,...," (one trailing comma).
template <typename... A>
const char* signature(void (*)(A...)) {
    static const std::string codes = [] {
        std::string s;
        ((s += type_code<A>() + ","), ...);
        return s;
    }();
    return codes.c_str();
}

}  // namespace cuda_emulator
