// The convolution layer, y = conv2d(x, w, b, stride, padding, dilation, groups)
// as torch.nn.functional.conv2d, computed directly for few channels per group.
//
// A block is a tile of blockDim.y x blockDim.x output pixels of one image, for
// OB consecutive output channels of one group. For each input channel of the
// group the block copies the input patch its tile reads (zero outside the
// image: that is the padding) into shared memory once; then every thread adds
// that channel's taps to its pixel's OB accumulators, so one shared-memory
// load feeds OB multiply-adds. The weights are read through the read-only
// cache: every thread of the block reads the same one at the same time.
//
// Contract (checked by convreg/plugins/cupy.py before launch):
// - x (N, C, H, W), w (O, C/groups, kh, kw), b (O,), y (N, O, OH, OW): one
//   dtype, C-contiguous, with OH, OW from convreg.shapes.output_size for these
//   arguments, so every window of an output pixel lies in the padded input;
// - grid (tiles_h * tiles_w, groups * ceil(Og / OB), N) with
//   tiles_w = ceil(OW / blockDim.x), tiles_h = ceil(OH / blockDim.y);
// - dynamic shared memory of PH * PW elements, PH = (blockDim.y - 1) * sh +
//   (kh - 1) * dh + 1 and PW alike.
// Every thread stays to the last barrier (those past the output's edge load
// and compute like the others and skip only the store).

template <typename T, int OB>
__global__ void conv2d_direct(const T* __restrict__ x, const T* __restrict__ w,
                              const T* __restrict__ b, T* __restrict__ y,
                              int C, long long H, long long W, int O, int groups,
                              int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                              long long OH, long long OW) {
    extern __shared__ unsigned char shared_bytes[];
    T* patch = reinterpret_cast<T*>(shared_bytes);
    const int Cg = C / groups, Og = O / groups;
    const int oblocks = (Og + OB - 1) / OB;
    const int group = blockIdx.y / oblocks;
    const int o0 = (blockIdx.y % oblocks) * OB;  // first output channel, within the group
    const int count = Og - o0 < OB ? Og - o0 : OB;
    const long long n = blockIdx.z;
    const long long tiles_w = (OW + blockDim.x - 1) / blockDim.x;
    const long long oy0 = (long long)(blockIdx.x / tiles_w) * blockDim.y;
    const long long ox0 = (long long)(blockIdx.x % tiles_w) * blockDim.x;
    const int PH = (blockDim.y - 1) * sh + (kh - 1) * dh + 1;
    const int PW = (blockDim.x - 1) * sw + (kw - 1) * dw + 1;
    const long long iy0 = oy0 * sh - pt, ix0 = ox0 * sw - pl;  // the patch's corner in x
    const T* mine = patch + threadIdx.y * sh * PW + threadIdx.x * sw;
    const long long taps = (long long)kh * kw;

    T acc[OB];
#pragma unroll
    for (int o = 0; o < OB; ++o) acc[o] = T(0);
    for (int c = 0; c < Cg; ++c) {
        const T* xc = x + ((n * C) + (long long)group * Cg + c) * H * W;
        for (int py = threadIdx.y; py < PH; py += blockDim.y) {
            for (int px = threadIdx.x; px < PW; px += blockDim.x) {
                const long long gy = iy0 + py, gx = ix0 + px;
                patch[py * PW + px] =
                    (gy >= 0 && gy < H && gx >= 0 && gx < W) ? xc[gy * W + gx] : T(0);
            }
        }
        __syncthreads();
        // w[group * Og + o0 + o, c, a, b] = wc[o * Cg * taps + a * kw + b]
        const T* wc = w + (((long long)group * Og + o0) * Cg + c) * taps;
        for (int a = 0; a < kh; ++a) {
            for (int q = 0; q < kw; ++q) {
                const T v = mine[a * dh * PW + q * dw];
#pragma unroll
                for (int o = 0; o < OB; ++o)
                    if (o < count) acc[o] += v * __ldg(wc + o * Cg * taps + a * kw + q);
            }
        }
        __syncthreads();  // the next channel overwrites the patch
    }
    const long long oy = oy0 + threadIdx.y, ox = ox0 + threadIdx.x;
    if (oy >= OH || ox >= OW) return;
    for (int o = 0; o < count; ++o) {
        const long long oc = (long long)group * Og + o0 + o;
        y[((n * O + oc) * OH + oy) * OW + ox] = acc[o] + b[oc];
    }
}
