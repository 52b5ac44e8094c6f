// Valid-mode 2-D cross-correlation of one image, tiled through shared memory.
//
// Contract (checked by convreg/plugins/cupy.py before launch): X is (H, W),
// K is (kh, kw) with kh <= H and kw <= W, Y is (H - kh + 1, W - kw + 1), all
// C-contiguous device arrays of one dtype; the block is (TILE, TILE) threads
// and the dynamic shared memory holds (TILE + kh - 1) * (TILE + kw - 1)
// elements. Each block loads its input tile (its outputs' windows) once and
// every thread computes one output from shared memory.

template <typename T>
__global__ void corr2d_tiled(const T* __restrict__ X, const T* __restrict__ K,
                             T* __restrict__ Y, long long H, long long W,
                             int kh, int kw, long long oh, long long ow) {
    extern __shared__ unsigned char shared_bytes[];
    T* tile = reinterpret_cast<T*>(shared_bytes);
    const int tile_w = blockDim.x + kw - 1;
    const int tile_h = blockDim.y + kh - 1;
    const long long ox0 = (long long)blockIdx.x * blockDim.x;
    const long long oy0 = (long long)blockIdx.y * blockDim.y;
    for (int y = threadIdx.y; y < tile_h; y += blockDim.y) {
        for (int x = threadIdx.x; x < tile_w; x += blockDim.x) {
            const long long gy = oy0 + y, gx = ox0 + x;
            tile[y * tile_w + x] = (gy < H && gx < W) ? X[gy * W + gx] : T(0);
        }
    }
    __syncthreads();
    const long long ox = ox0 + threadIdx.x, oy = oy0 + threadIdx.y;
    if (ox >= ow || oy >= oh) return;
    T acc = T(0);
    for (int a = 0; a < kh; ++a) {
        const T* row = tile + (threadIdx.y + a) * tile_w + threadIdx.x;
        const T* taps = K + a * kw;
        for (int b = 0; b < kw; ++b) acc += row[b] * __ldg(taps + b);
    }
    Y[oy * ow + ox] = acc;
}
