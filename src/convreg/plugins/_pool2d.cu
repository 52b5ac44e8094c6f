// Pooling per channel plane, as torch.nn.functional.max_pool2d / avg_pool2d, and
// the gradients of both with respect to the input.
//
// Contract (checked by convreg/plugins/cupy.py before launch):
// - x, dx (P, H, W) and y, g (P, OH, OW), with P = N * C planes: one dtype,
//   C-contiguous, OH and OW from convreg.shapes.output_size for these
//   arguments (ceil_mode included); for avg pooling, divisor (OH, OW) holds
//   PyTorch's divisor of each window (count_include_pad applied);
// - the window as scalars (CONVREG_WINDOW_PARAMETERS; dh = dw = 1 for avg);
// - any 1-D launch: every kernel walks its output in a grid-stride loop, one
//   element per thread at a time.
// A window's taps are the input elements it covers; padding is never read
// (max pooling's padding is -inf, avg pooling's zero: neither can change the
// result except through the divisor).
//
// The gradients are gathers: one thread per input element adds up the
// gradient of every window that routes to it, in (a, b) tap order. No atomics,
// so the result is the same on every run.

#define CONVREG_GRID_STRIDE(i, total)                                            \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (total); \
         i += (long long)gridDim.x * blockDim.x)

template <typename T>
struct Window {  // the geometry shared by the four kernels
    long long H, W, OH, OW;
    int kh, kw, sh, sw, ph, pw, dh, dw;

    // The flat index iy * W + ix of window (oy, ox)'s first maximum in
    // row-major tap order, a NaN counting as the maximum (so the first NaN
    // wins); -1 when the window covers no input element.
    __device__ long long argmax(const T* plane, long long oy, long long ox) const {
        long long arg = -1;
        T best = T(0);
        for (int a = 0; a < kh; ++a) {
            const long long iy = oy * sh - ph + (long long)a * dh;
            if (iy < 0 || iy >= H) continue;
            for (int b = 0; b < kw; ++b) {
                const long long ix = ox * sw - pw + (long long)b * dw;
                if (ix < 0 || ix >= W) continue;
                const T v = plane[iy * W + ix];
                if (arg < 0 || v > best || (v != v && best == best)) {
                    best = v;
                    arg = iy * W + ix;
                }
            }
        }
        return arg;
    }

    // A gradient as a gather: dx[p, iy, ix] = the sum, over the windows (oy, ox)
    // that have (iy, ix) among their taps, in tap order, of
    // share(p, iy * W + ix, oy, ox); P planes, one element per thread at a time.
    template <typename F>
    __device__ void gather(T* dx, long long P, F share) const {
        CONVREG_GRID_STRIDE(i, P * H * W) {
            const long long p = i / (H * W), at = i % (H * W), iy = at / W, ix = at % W;
            T sum = T(0);
            for (int a = 0; a < kh; ++a) {
                const long long ty = iy + ph - (long long)a * dh;  // = oy * sh
                if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
                for (int b = 0; b < kw; ++b) {
                    const long long tx = ix + pw - (long long)b * dw;
                    if (tx < 0 || tx % sw != 0 || tx / sw >= OW) continue;
                    sum += share(p, at, ty / sh, tx / sw);
                }
            }
            dx[i] = sum;
        }
    }
};

// Every kernel takes the window as these scalars (CuPy passes arrays and scalars only).
#define CONVREG_WINDOW_PARAMETERS                                                  \
    long long H, long long W, long long OH, long long OW, int kh, int kw, int sh, int sw, \
        int ph, int pw, int dh, int dw
#define CONVREG_WINDOW(T) \
    const Window<T> w { H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw }

template <typename T>
__global__ void max_pool2d(const T* __restrict__ x, T* __restrict__ y, long long P,
                           CONVREG_WINDOW_PARAMETERS) {
    CONVREG_WINDOW(T);
    const long long outputs = w.OH * w.OW;
    CONVREG_GRID_STRIDE(i, P * outputs) {
        const T* plane = x + i / outputs * w.H * w.W;
        const long long arg = w.argmax(plane, i % outputs / w.OW, i % w.OW);
        y[i] = arg < 0 ? -T(1) / T(0) : plane[arg];  // an empty window is -inf
    }
}

template <typename T>
__global__ void max_pool2d_grad(const T* __restrict__ g, const T* __restrict__ x,
                                T* __restrict__ dx, long long P, CONVREG_WINDOW_PARAMETERS) {
    CONVREG_WINDOW(T);
    w.gather(dx, P, [&](long long p, long long at, long long oy, long long ox) {
        const bool routed = w.argmax(x + p * w.H * w.W, oy, ox) == at;
        return routed ? g[(p * w.OH + oy) * w.OW + ox] : T(0);
    });
}

template <typename T>
__global__ void avg_pool2d(const T* __restrict__ x, const T* __restrict__ divisor,
                           T* __restrict__ y, long long P, CONVREG_WINDOW_PARAMETERS) {
    CONVREG_WINDOW(T);
    const long long outputs = w.OH * w.OW;
    CONVREG_GRID_STRIDE(i, P * outputs) {
        const T* plane = x + i / outputs * w.H * w.W;
        const long long oy = i % outputs / w.OW, ox = i % w.OW;
        T sum = T(0);
        for (int a = 0; a < w.kh; ++a) {
            const long long iy = oy * w.sh - w.ph + a;
            if (iy < 0 || iy >= w.H) continue;
            for (int b = 0; b < w.kw; ++b) {
                const long long ix = ox * w.sw - w.pw + b;
                if (ix >= 0 && ix < w.W) sum += plane[iy * w.W + ix];
            }
        }
        y[i] = sum / divisor[i % outputs];
    }
}

template <typename T>
__global__ void avg_pool2d_grad(const T* __restrict__ g, const T* __restrict__ divisor,
                                T* __restrict__ dx, long long P, CONVREG_WINDOW_PARAMETERS) {
    CONVREG_WINDOW(T);
    w.gather(dx, P, [&](long long p, long long, long long oy, long long ox) {
        return g[(p * w.OH + oy) * w.OW + ox] / divisor[oy * w.OW + ox];
    });
}
