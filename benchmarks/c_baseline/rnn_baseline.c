/* rnn_baseline.c -- the single-thread plain-C baseline of rnnbench.
 *
 * One SGD training step of the vanilla RNN classifier of docs/DESIGN.md §1-§3, written as a careful
 * single-threaded C program would write it: float32, no BLAS, no OpenMP, no allocation inside the
 * step, inner loops contiguous so that the compiler vectorises them. It is what the frameworks'
 * per-step cost is compared with: the same arithmetic with no dispatch overhead at all.
 *
 *     h_0 = 0;  h_t = phi(W_xh[:, x_t] + W_hh h_{t-1} + b_h)  (t < L, the record's length)
 *     logits = W_hy h_L + b_y;  loss = mean over the batch of logsumexp(logits) - logits[y]
 *     g = gradient of the mean loss (hand-written BPTT);  theta <- theta - lr g  (plain SGD)
 *
 * Usage:   rnn_baseline train INPUT OUTPUT      run `steps` SGD steps, write parameters and losses
 *          rnn_baseline bench INPUT OUTPUT      time rounds of steps, write seconds per round
 *          rnn_baseline info                    print the build's constants (kernel shape, tanh)
 * Exit status 0 on success; 2 for bad usage or bad input, 3 for an I/O error, 4 out of memory; the
 * reason goes to stderr.
 *
 * INPUT, little-endian:
 *   header, 16 words of 4 bytes (int32 unless said):
 *     [0] magic 0x464E4E52 (the bytes "RNNF")   [1] protocol version, 1
 *     [2] V vocabulary   [3] H hidden   [4] C classes   [5] T padded length   [6] B records per batch
 *     [7] n_batches      [8] steps (train)   [9] nonlinearity: 0 tanh, 1 relu
 *     [10] warmup steps (bench)   [11] rounds (bench)   [12] iterations per round (bench; 0: choose
 *     them so that a round lasts about [13] microseconds)   [13] round length in microseconds
 *     [14] lr, float32   [15] reserved, 0
 *   float32 parameters, canonical and row-major: W_xh (H, V), W_hh (H, H), b_h (H), W_hy (C, H), b_y (C)
 *   int32 tokens (n_batches, B, T) in [0, V); int32 lengths (n_batches, B) in [1, T];
 *   int32 labels (n_batches, B) in [0, C). Tokens at or past a record's length are padding: unread.
 * Step s (s = 0, 1, ...) trains on batch s mod n_batches.
 *
 * OUTPUT of train: float32 parameters after `steps` steps (canonical, same order as INPUT), then
 *   float32 losses (steps), each the mean loss of its batch before that step's update.
 * OUTPUT of bench: int32 [iterations, rounds, total steps run, 0], float64 seconds of each round
 *   (rounds; `iterations` consecutive steps, clock_gettime(CLOCK_MONOTONIC) around the round),
 *   float64 loss of step 0, float64 loss of the last step run. Before the rounds: `warmup` steps,
 *   then (iterations 0) calibration steps, doubling until 1/10 of a round has passed; all untimed.
 *
 * How the step is laid out (each choice measured against its alternative on a 2-core x86-64 VM,
 * 2026-11, H=64/256, T=8, B=1/256; rnnbench/bench/c_baseline.py has the harness):
 *   - Rows of H floats (and of C) are padded with zeros to a multiple of 32: padded units stay 0 and
 *     get zero gradients, and every row is whole vectors.
 *   - W_xh is kept transposed, (V, Hp), so the column gather W_xh[:, x_t] reads a contiguous row and
 *     its gradient is a scatter of rows; only the rows a step touched are updated and re-zeroed
 *     (theta - lr * 0 == theta: the dense update, exactly).
 *   - W_hh (and W_hy) are kept twice, as W and W^T: every matrix product is then the "axpy" form
 *     C[i][:] += a(i, k) * B[k][:] over contiguous rows, which vectorises without reassociating sums
 *     (no -ffast-math). Forward Z = H W_hh^T; backward dH = dZ W_hh. One register-blocked
 *     micro-kernel (4 x 64 or 8 x 32 floats of C in 16 vector registers) does every product.
 *   - Update of both copies, small steps (fewer than RNN_BASELINE_DW_MIN_K (record, step) pairs, B = 1):
 *     W_hh -= lr dZ^T H and W_hh^T -= lr H^T dZ, each fused into its product (alpha = -lr), the same
 *     products in the same order so the copies stay bitwise equal: no gradient buffer, no transpose.
 *     Large steps: the gradient is summed once into a buffer, 256 rows at a time so they stay in L2,
 *     and applied to W_hh and, transposed, to W_hh^T. The fused form for every step takes 1.3x the
 *     time at H=64 B=256 and 2x at H=256 B=256; the buffer for every step 1.35x at B=1. They cross
 *     between B=4 and B=8 at T=8 (28 and 56 pairs), hence 32.
 *   - The records of a batch are sorted by length, longest first, so the records still running at
 *     step t are rows [0, n_t): every product runs on those rows only (packing, not masking).
 *   - h_0 = 0: step 0 has no recurrent product and no recurrent gradient (exact, not an estimate).
 *   - tanh is a branch-free Cephes float approximation (about 1 ulp, checked against double) that
 *     the compiler vectorises; libm's tanhf (-DRNN_BASELINE_LIBM_TANH) made the step 3x slower at B=1
 *     and 5x at H=64 B=256. 8 x 32 blocks only (-DRNN_BASELINE_PANEL64=0): no faster (1.03-1.09x).
 *     Summing the gradient 64, 128 or 512 rows at a time instead of 256: the same within noise.
 */
#define _POSIX_C_SOURCE 200112L /* clock_gettime, posix_memalign */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAGIC 0x464E4E52
#define VERSION 1
#define HEADER_WORDS 16
#define LANES 16 /* floats in one 512-bit vector */
#define PAD 32   /* rows of H (and of C) floats are padded with zeros to a multiple of PAD */

/* ---- matrix products ------------------------------------------------------------------------ */

/* One term of a sum of products: A (M x k) times B (k x N, row kk at b + kk * ldb). A is row-major
   (element (i, kk) at a[i * lda + kk]) or, for the gradient products, transposed (at a[kk * lda + i]). */
typedef struct {
    const float *a;
    const float *b;
    int k;
} term_t;

/* Micro-kernel: an MRV x NRV block of C (rows i0.., columns j0..) is summed in registers over every
   term, then C = (beta ? C : 0) + alpha * sum. The sum is complete before alpha and C are touched, so
   alpha = -lr, beta = 1 is the SGD update theta - lr * g with g summed as a gradient buffer would
   hold it. The j loops are contiguous and of constant length: the compiler keeps acc in vector
   registers (4 x 64 floats: 16 512-bit accumulators) and k runs with one broadcast of A per row.
   A's layout is a compile-time constant (TA): with a run-time stride GCC versions the loop for
   stride 1 and vectorises that version across rows, with permutes, several times slower. */
#define DEFINE_KERNEL(NAME, MRV, NRV, TA)                                                              \
    static void NAME(const term_t *terms, int nterms, ptrdiff_t lda, ptrdiff_t ldb, int i0, int j0,   \
                     float alpha, int beta, float *restrict c, ptrdiff_t ldc) {                        \
        const ptrdiff_t ars = TA ? 1 : lda, acs = TA ? lda : 1;                                        \
        float acc[MRV][NRV];                                                                           \
        { /* the first product initialises acc (zeroing it first costs a memset per call) */           \
            const float *restrict a = terms[0].a + (ptrdiff_t)i0 * ars, *restrict b = terms[0].b + j0;  \
            for (int r = 0; r < MRV; r++) {                                                            \
                const float ar = a[r * ars];                                                           \
                for (int j = 0; j < NRV; j++) acc[r][j] = ar * b[j];                                   \
            }                                                                                          \
        }                                                                                              \
        for (int s = 0; s < nterms; s++) {                                                             \
            const float *restrict a = terms[s].a + (ptrdiff_t)i0 * ars;                                \
            const float *restrict b = terms[s].b + j0;                                                 \
            const int K = terms[s].k;                                                                  \
            for (int kk = s == 0; kk < K; kk++) {                                                      \
                const float *restrict bk = b + (ptrdiff_t)kk * ldb;                                    \
                const float *restrict ak = a + (ptrdiff_t)kk * acs;                                    \
                for (int r = 0; r < MRV; r++) {                                                        \
                    const float ar = ak[r * ars];                                                      \
                    for (int j = 0; j < NRV; j++) acc[r][j] += ar * bk[j];                             \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
        for (int r = 0; r < MRV; r++) {                                                                \
            float *restrict cr = c + (ptrdiff_t)(i0 + r) * ldc + j0;                                   \
            if (beta)                                                                                  \
                for (int j = 0; j < NRV; j++) cr[j] += alpha * acc[r][j];                              \
            else                                                                                       \
                for (int j = 0; j < NRV; j++) cr[j] = alpha * acc[r][j];                               \
        }                                                                                              \
    }

/* One row (a matrix-vector product, B = 1): two accumulator sets, even and odd k, so that twice as
   many independent FMA chains hide the FMA latency that one row's NRV / 16 chains cannot. */
#define DEFINE_ROW_KERNEL(NAME, NRV, TA)                                                               \
    static void NAME(const term_t *terms, int nterms, ptrdiff_t lda, ptrdiff_t ldb, int i0, int j0,   \
                     float alpha, int beta, float *restrict c, ptrdiff_t ldc) {                        \
        const ptrdiff_t ars = TA ? 1 : lda, acs = TA ? lda : 1;                                        \
        float acc0[NRV], acc1[NRV];                                                                    \
        {                                                                                              \
            const float *restrict a = terms[0].a + (ptrdiff_t)i0 * ars, *restrict b = terms[0].b + j0;  \
            for (int j = 0; j < NRV; j++) acc0[j] = a[0] * b[j], acc1[j] = 0.0f;                       \
        }                                                                                              \
        for (int s = 0; s < nterms; s++) {                                                             \
            const float *restrict a = terms[s].a + (ptrdiff_t)i0 * ars;                                \
            const float *restrict b = terms[s].b + j0;                                                 \
            const int K = terms[s].k;                                                                  \
            int kk = s == 0;                                                                           \
            for (; kk + 1 < K; kk += 2) {                                                              \
                const float *restrict b0 = b + (ptrdiff_t)kk * ldb, *restrict b1 = b0 + ldb;           \
                const float a0 = a[kk * acs], a1 = a[(kk + 1) * acs];                                  \
                for (int j = 0; j < NRV; j++) acc0[j] += a0 * b0[j];                                   \
                for (int j = 0; j < NRV; j++) acc1[j] += a1 * b1[j];                                   \
            }                                                                                          \
            if (kk < K) {                                                                              \
                const float *restrict b0 = b + (ptrdiff_t)kk * ldb;                                    \
                const float a0 = a[kk * acs];                                                          \
                for (int j = 0; j < NRV; j++) acc0[j] += a0 * b0[j];                                   \
            }                                                                                          \
        }                                                                                              \
        float *restrict cr = c + (ptrdiff_t)i0 * ldc + j0;                                             \
        if (beta)                                                                                      \
            for (int j = 0; j < NRV; j++) cr[j] += alpha * (acc0[j] + acc1[j]);                        \
        else                                                                                           \
            for (int j = 0; j < NRV; j++) cr[j] = alpha * (acc0[j] + acc1[j]);                         \
    }

#ifndef RNN_BASELINE_PANEL64
#define RNN_BASELINE_PANEL64 1 /* 0: 8 x 32 blocks only */
#endif

typedef void (*kernel_fn)(const term_t *, int, ptrdiff_t, ptrdiff_t, int, int, float, int, float *, ptrdiff_t);

/* Register blocks by panel width: 16 accumulators of 16 floats. No 16-wide panel: GCC vectorises
   an 8 x 16 (or 4 x 16) block across its rows, with permutes, so rows are padded to 32 floats. */
#define DEFINE_KERNELS(SUFFIX, TA)                                                                     \
    DEFINE_KERNEL(kernel_4x64##SUFFIX, 4, 64, TA)                                                      \
    DEFINE_KERNEL(kernel_8x32##SUFFIX, 8, 32, TA)                                                      \
    DEFINE_ROW_KERNEL(kernel_1x64##SUFFIX, 64, TA)                                                     \
    DEFINE_ROW_KERNEL(kernel_1x32##SUFFIX, 32, TA)                                                     \
    static const kernel_fn kernels##SUFFIX[4] = {kernel_4x64##SUFFIX, kernel_1x64##SUFFIX,             \
                                                 kernel_8x32##SUFFIX, kernel_1x32##SUFFIX};
DEFINE_KERNELS(_n, 0)
DEFINE_KERNELS(_t, 1)

/* C (M x N, row stride ldc) = (beta ? C : 0) + alpha * sum over terms of A_s B_s, N a multiple of
   PAD, at least one term, every term with k >= 1; A transposed when ta. Columns in panels of 64, then 32; for each panel every row block, so
   that the panel of B (k x 64 floats) is reused by all of them while it is in cache. */
static void gemm(int M, int N, const term_t *terms, int nterms, int ta, ptrdiff_t lda, ptrdiff_t ldb, float alpha,
                 int beta, float *c, ptrdiff_t ldc) {
    const kernel_fn *kern = ta ? kernels_t : kernels_n;
    static const int width[2] = {64, 32}, rows[2] = {4, 8};
    int j = 0;
    for (int p = RNN_BASELINE_PANEL64 ? 0 : 1; p < 2; p++)
        for (; j + width[p] <= N; j += width[p]) {
            int i = 0;
            for (; i + rows[p] <= M; i += rows[p]) kern[2 * p](terms, nterms, lda, ldb, i, j, alpha, beta, c, ldc);
            for (; i < M; i++) kern[2 * p + 1](terms, nterms, lda, ldb, i, j, alpha, beta, c, ldc);
        }
}

/* ---- tanh and exp ----------------------------------------------------------------------------- */

/* exp(x) for x in [-87, 88] (Cephes expf: 2^n times a degree-6 polynomial on [-ln2/2, ln2/2]; about
   1 ulp). Branch-free and libm-free so that loops calling it vectorise. n = round(x / ln 2) by the
   1.5 * 2^23 trick (the sum's last mantissa bits hold n): a float to int conversion or floorf would
   keep GCC from vectorising the loop. */
static inline float exp_approx(float x) {
    const float shifted = 1.44269504088896341f * x + 12582912.0f;
    const float fn = shifted - 12582912.0f;
    int32_t nbits;
    memcpy(&nbits, &shifted, sizeof nbits);
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    const int32_t bits = (nbits - 0x4B400000 + 127) * (1 << 23); /* 2^n, n in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#ifdef RNN_BASELINE_LIBM_TANH
static void tanh_inplace(float *restrict x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}
#define TANH_NAME "libm tanhf"
#else
/* Cephes tanhf: x + x^3 P(x^2) for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1) with the sign of x
   (about 1 ulp, checked against tanh in double). Both branches are computed and one selected, so the
   loop has no branches and vectorises; libm's tanhf is a scalar call per element. */
static void tanh_inplace(float *restrict x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const float v = x[i];
        const float av = fabsf(v);
        const float a = av < 9.0f ? av : 9.0f; /* tanh(9) is 1 in float32. Not fminf: a libm call */
        const float big = 1.0f - 2.0f / (exp_approx(2.0f * a) + 1.0f);
        const float z = v * v;
        float q = -5.70498872745e-3f;
        q = q * z + 2.06390887954e-2f;
        q = q * z - 5.37397155531e-2f;
        q = q * z + 1.33314422036e-1f;
        q = q * z - 3.33332819422e-1f;
        const float small = q * z * v + v;
        x[i] = a < 0.625f ? small : copysignf(big, v);
    }
}
#define TANH_NAME "cephes tanhf (vectorised)"
#endif

/* ---- the model -------------------------------------------------------------------------------- */

/* Gradient of W_hh: below this many (record, step) pairs in a step, W_hh and W_hh^T are updated by
   two products fused with the update (no gradient buffer, no transpose); from it on, the gradient
   is summed once into a buffer, DW_KC rows at a time (they stay in L2), and applied to W_hh and,
   transposed, to W_hh^T: half the arithmetic for a transpose of Hp x Hp. */
#ifndef RNN_BASELINE_DW_MIN_K
#define RNN_BASELINE_DW_MIN_K 32
#endif
#ifndef RNN_BASELINE_DW_KC
#define RNN_BASELINE_DW_KC 256
#endif

typedef struct {
    int V, H, C, T, B, Hp, Cp, relu;
    float lr;
    /* parameters, internal layouts (see the top of the file); padding is zero */
    float *WxT;  /* (V, Hp)  W_xh^T */
    float *Whh;  /* (Hp, Hp) W_hh */
    float *WhhT; /* (Hp, Hp) W_hh^T, bitwise the transpose of Whh */
    float *bh;   /* (Hp) */
    float *Why;  /* (C, Hp)  W_hy */
    float *WhyT; /* (Hp, Cp) W_hy^T, Cp = C rounded up to PAD */
    float *by;   /* (C) */
    /* workspace, allocated once */
    float *hs;     /* (T + 1, B, Hp): hs[t] rows [0, n_{t-1}) = the state after step t-1 (hs[0] unused) */
    float *dz;     /* (T, B, Hp): dL/dz_t, rows [0, n_t) */
    float *dh;     /* (B, Hp): dL/dh of each record's current state in the backward pass */
    float *hlast;  /* (B, Hp): h_L of each record */
    float *dlog;   /* (B, Cp): logits, then dL/dlogits of the mean loss; padding columns 0 */
    float *gx;     /* (V, Hp): gradient of W_xh^T; zero between steps */
    float *gbh;    /* (Hp) */
    float *ghh;    /* (Hp, Hp): gradient of W_hh (large steps only) */
    int *touched;  /* (V): row v of gx is non-zero this step */
    int *touched_v; /* (T * B): the rows touched, in order */
    int *order;    /* (B): sorted position -> record */
    int *len;      /* (B): length of the record at each sorted position */
    int *n_alive;  /* (T): records still running at step t */
    int *xs;       /* (T, B): token of sorted position r at step t */
    int *count;    /* (T + 2): counting sort */
    term_t *terms; /* (T) */
} model_t;

static void *xalloc(size_t n, size_t size) {
    /* n items of size bytes, 64-byte aligned (a vector, a cache line) and zeroed */
    size_t bytes = (n * size + 63) / 64 * 64;
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) {
        fprintf(stderr, "rnn_baseline: out of memory (%zu bytes)\n", bytes);
        exit(4);
    }
    memset(p, 0, bytes);
    return p;
}

static void model_init(model_t *m, int V, int H, int C, int T, int B, int relu, float lr, const float *params) {
    const int Hp = (H + PAD - 1) / PAD * PAD, Cp = (C + PAD - 1) / PAD * PAD;
    m->V = V, m->H = H, m->C = C, m->T = T, m->B = B, m->Hp = Hp, m->Cp = Cp, m->relu = relu, m->lr = lr;
    m->WxT = xalloc((size_t)V * Hp, 4);
    m->Whh = xalloc((size_t)Hp * Hp, 4);
    m->WhhT = xalloc((size_t)Hp * Hp, 4);
    m->bh = xalloc(Hp, 4);
    m->Why = xalloc((size_t)C * Hp, 4);
    m->WhyT = xalloc((size_t)Hp * Cp, 4);
    m->by = xalloc(C, 4);
    m->hs = xalloc((size_t)(T + 1) * B * Hp, 4);
    m->dz = xalloc((size_t)T * B * Hp, 4);
    m->dh = xalloc((size_t)B * Hp, 4);
    m->hlast = xalloc((size_t)B * Hp, 4);
    m->dlog = xalloc((size_t)B * Cp, 4);
    m->gx = xalloc((size_t)V * Hp, 4);
    m->gbh = xalloc(Hp, 4);
    m->ghh = xalloc((size_t)Hp * Hp, 4);
    m->touched = xalloc(V, sizeof(int));
    m->touched_v = xalloc((size_t)T * B, sizeof(int));
    m->order = xalloc(B, sizeof(int));
    m->len = xalloc(B, sizeof(int));
    m->n_alive = xalloc(T, sizeof(int));
    m->xs = xalloc((size_t)T * B, sizeof(int));
    m->count = xalloc(T + 2, sizeof(int));
    m->terms = xalloc(T, sizeof(term_t));
    const float *W_xh = params, *W_hh = W_xh + (size_t)H * V, *b_h = W_hh + (size_t)H * H;
    const float *W_hy = b_h + H, *b_y = W_hy + (size_t)C * H;
    for (int i = 0; i < H; i++) {
        for (int v = 0; v < V; v++) m->WxT[(size_t)v * Hp + i] = W_xh[(size_t)i * V + v];
        for (int k = 0; k < H; k++) {
            m->Whh[(size_t)i * Hp + k] = W_hh[(size_t)i * H + k];
            m->WhhT[(size_t)k * Hp + i] = W_hh[(size_t)i * H + k];
        }
        m->bh[i] = b_h[i];
    }
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < H; i++) {
            m->Why[(size_t)c * Hp + i] = W_hy[(size_t)c * H + i];
            m->WhyT[(size_t)i * Cp + c] = W_hy[(size_t)c * H + i];
        }
        m->by[c] = b_y[c];
    }
}

static void model_params(const model_t *m, float *out) {
    const int V = m->V, H = m->H, C = m->C, Hp = m->Hp;
    float *W_xh = out, *W_hh = W_xh + (size_t)H * V, *b_h = W_hh + (size_t)H * H;
    float *W_hy = b_h + H, *b_y = W_hy + (size_t)C * H;
    for (int i = 0; i < H; i++) {
        for (int v = 0; v < V; v++) W_xh[(size_t)i * V + v] = m->WxT[(size_t)v * Hp + i];
        for (int k = 0; k < H; k++) W_hh[(size_t)i * H + k] = m->Whh[(size_t)i * Hp + k];
        b_h[i] = m->bh[i];
    }
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < H; i++) W_hy[(size_t)c * H + i] = m->Why[(size_t)c * Hp + i];
        b_y[c] = m->by[c];
    }
}

/* Append a term to a list, merging it into the previous one when its rows continue that term's
   rows (A and B both at row stride `stride`): with every record running, the steps' blocks are one
   contiguous run, and the kernels see one long k loop instead of T short ones. */
static int add_term(term_t *terms, int n, const float *a, const float *b, int k, ptrdiff_t stride) {
    if (n > 0) {
        term_t *last = &terms[n - 1];
        if (last->a + last->k * stride == a && last->b + last->k * stride == b) {
            last->k += k;
            return n;
        }
    }
    terms[n] = (term_t){a, b, k};
    return n + 1;
}

/* One SGD step on a batch: tokens (B, T), lengths (B), labels (B). Returns the mean loss before
   the update. */
static double train_step(model_t *m, const int32_t *tokens, const int32_t *lengths, const int32_t *labels) {
    const int T = m->T, B = m->B, C = m->C, Cp = m->Cp, Hp = m->Hp;
    const ptrdiff_t BH = (ptrdiff_t)B * Hp;
    const float lr = m->lr;

    /* Sort the records by length, longest first (a stable counting sort), so that the records still
       running at step t are the first n_t rows. */
    int *count = m->count;
    for (int l = 0; l <= T + 1; l++) count[l] = 0;
    for (int b = 0; b < B; b++) count[T - lengths[b]]++;
    for (int l = 0, pos = 0; l <= T; l++) {
        const int c = count[l];
        count[l] = pos;
        pos += c;
    }
    for (int b = 0; b < B; b++) {
        const int r = count[T - lengths[b]]++;
        m->order[r] = b;
        m->len[r] = lengths[b];
    }
    for (int t = 0, r = B; t < T; t++) {
        while (r > 0 && m->len[r - 1] <= t) r--;
        m->n_alive[t] = r;
    }
    for (int t = 0; t < T; t++)
        for (int r = 0; r < m->n_alive[t]; r++) m->xs[t * B + r] = tokens[(ptrdiff_t)m->order[r] * T + t];

    /* Forward: z_t = W_xh^T[x_t] + b_h + h_{t-1} W_hh^T for the running rows, h_t = phi(z_t). */
    for (int t = 0; t < T; t++) {
        const int n = m->n_alive[t];
        if (n == 0) break;
        float *restrict z = m->hs + (t + 1) * BH;
        for (int r = 0; r < n; r++) {
            const float *restrict x = m->WxT + (ptrdiff_t)m->xs[t * B + r] * Hp;
            float *restrict zr = z + (ptrdiff_t)r * Hp;
            for (int j = 0; j < Hp; j++) zr[j] = x[j] + m->bh[j];
        }
        if (t > 0) { /* h_0 = 0: step 0 has no recurrent term */
            const term_t term = {m->hs + t * BH, m->WhhT, Hp};
            gemm(n, Hp, &term, 1, 0, Hp, Hp, 1.0f, 1, z, Hp);
        }
        if (m->relu)
            for (ptrdiff_t j = 0; j < (ptrdiff_t)n * Hp; j++) z[j] = z[j] > 0.0f ? z[j] : 0.0f;
        else
            tanh_inplace(z, (ptrdiff_t)n * Hp);
    }
    for (int r = 0; r < B; r++)
        memcpy(m->hlast + (ptrdiff_t)r * Hp, m->hs + m->len[r] * BH + (ptrdiff_t)r * Hp, sizeof(float) * Hp);

    /* Head: logits = h_L W_hy^T + b_y, loss = log_z - (logit_y - max) in log-sum-exp form, then
       dlogits = (softmax - onehot(y)) / B in place. */
    {
        const term_t term = {m->hlast, m->WhyT, Hp};
        gemm(B, Cp, &term, 1, 0, Hp, Cp, 1.0f, 0, m->dlog, Cp);
    }
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        float *restrict dl = m->dlog + (ptrdiff_t)r * Cp;
        float mx = dl[0] + m->by[0];
        for (int c = 0; c < C; c++) {
            dl[c] += m->by[c];
            mx = dl[c] > mx ? dl[c] : mx;
        }
        float e[LANES], sum = 0.0f;
        for (int c0 = 0; c0 < C; c0 += LANES) { /* exp in vector-wide chunks */
            const int w = C - c0 < LANES ? C - c0 : LANES;
            for (int c = 0; c < w; c++) {
                const float x = dl[c0 + c] - mx;
                e[c] = exp_approx(x > -87.0f ? x : -87.0f); /* exp(-87) is 0 beside the max's 1 */
            }
            for (int c = 0; c < w; c++) sum += e[c];
        }
        const float log_z = logf(sum);
        const int y = labels[m->order[r]];
        loss += (double)(log_z - (dl[y] - mx));
        for (int c = 0; c < C; c++) {
            const float x = dl[c] - mx - log_z;
            dl[c] = (exp_approx(x > -87.0f ? x : -87.0f) - (c == y ? 1.0f : 0.0f)) / (float)B;
        }
    }
    loss /= B;

    /* dL/dh_L = dlogits W_hy; then W_hy -= lr dlogits^T h_L (both copies), b_y -= lr sum_r dlogits. */
    {
        const term_t term = {m->dlog, m->Why, C};
        gemm(B, Hp, &term, 1, 0, Cp, Hp, 1.0f, 0, m->dh, Hp);
        const term_t g = {m->dlog, m->hlast, B}, gT = {m->hlast, m->dlog, B};
        gemm(C, Hp, &g, 1, 1, Cp, Hp, -lr, 1, m->Why, Hp);
        gemm(Hp, Cp, &gT, 1, 1, Hp, Cp, -lr, 1, m->WhyT, Cp);
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int r = 0; r < B; r++) s += m->dlog[(ptrdiff_t)r * Cp + c];
            m->by[c] -= lr * s;
        }
    }

    /* Backward through time: dz_t = dh * phi'(z_t) for the running rows, dh <- dz_t W_hh. The rows
       of records that have not started yet (going backward) keep dL/dh_L until their last step. */
    for (int t = T - 1; t >= 0; t--) {
        const int n = m->n_alive[t];
        if (n == 0) continue;
        const float *restrict h = m->hs + (t + 1) * BH;
        float *restrict dz = m->dz + t * BH;
        const float *restrict dh = m->dh;
        const ptrdiff_t nn = (ptrdiff_t)n * Hp;
        if (m->relu)
            for (ptrdiff_t j = 0; j < nn; j++) dz[j] = h[j] > 0.0f ? dh[j] : 0.0f;
        else
            for (ptrdiff_t j = 0; j < nn; j++) dz[j] = dh[j] * (1.0f - h[j] * h[j]);
        if (t > 0) { /* dL/dh_0 is not needed */
            const term_t term = {dz, m->Whh, Hp};
            gemm(n, Hp, &term, 1, 0, Hp, Hp, 1.0f, 0, m->dh, Hp);
        }
    }

    /* Gradients of b_h and W_xh (a scatter of dz rows into the touched rows of W_xh^T), each summed
       over t ascending, then rows r; only touched rows are updated and re-zeroed. */
    int ntouched = 0;
    for (int j = 0; j < Hp; j++) m->gbh[j] = 0.0f;
    for (int t = 0; t < T; t++) {
        const float *restrict dz = m->dz + t * BH;
        for (int r = 0; r < m->n_alive[t]; r++) {
            const float *restrict d = dz + (ptrdiff_t)r * Hp;
            const int v = m->xs[t * B + r];
            float *restrict g = m->gx + (ptrdiff_t)v * Hp;
            if (!m->touched[v]) m->touched[v] = 1, m->touched_v[ntouched++] = v;
            for (int j = 0; j < Hp; j++) g[j] += d[j];
            for (int j = 0; j < Hp; j++) m->gbh[j] += d[j];
        }
    }
    for (int j = 0; j < Hp; j++) m->bh[j] -= lr * m->gbh[j];
    for (int i = 0; i < ntouched; i++) {
        const int v = m->touched_v[i];
        float *restrict w = m->WxT + (ptrdiff_t)v * Hp;
        float *restrict g = m->gx + (ptrdiff_t)v * Hp;
        for (int j = 0; j < Hp; j++) w[j] -= lr * g[j];
        for (int j = 0; j < Hp; j++) g[j] = 0.0f;
        m->touched[v] = 0;
    }

    /* W_hh -= lr sum_t dz_t^T h_{t-1}, and W_hh^T likewise (t >= 1: h_0 = 0). */
    int nterms = 0, k_total = 0;
    for (int t = 1; t < T; t++)
        if (m->n_alive[t] > 0) {
            nterms = add_term(m->terms, nterms, m->dz + t * BH, m->hs + t * BH, m->n_alive[t], Hp);
            k_total += m->n_alive[t];
        }
    if (nterms == 0) /* every record of length 1: W_hh's gradient is 0 */
        return loss;
    if (k_total < RNN_BASELINE_DW_MIN_K) {
        gemm(Hp, Hp, m->terms, nterms, 1, Hp, Hp, -lr, 1, m->Whh, Hp);
        for (int s = 0; s < nterms; s++) { /* H^T dZ: the same products in the same order */
            const float *a = m->terms[s].a;
            m->terms[s].a = m->terms[s].b;
            m->terms[s].b = a;
        }
        gemm(Hp, Hp, m->terms, nterms, 1, Hp, Hp, -lr, 1, m->WhhT, Hp);
    } else {
        int first = 1;
        for (int s = 0; s < nterms; s++)
            for (int k0 = 0; k0 < m->terms[s].k; k0 += RNN_BASELINE_DW_KC) {
                const int kc = m->terms[s].k - k0 < RNN_BASELINE_DW_KC ? m->terms[s].k - k0 : RNN_BASELINE_DW_KC;
                const term_t part = {m->terms[s].a + (ptrdiff_t)k0 * Hp, m->terms[s].b + (ptrdiff_t)k0 * Hp, kc};
                gemm(Hp, Hp, &part, 1, 1, Hp, Hp, 1.0f, !first, m->ghh, Hp);
                first = 0;
            }
        for (ptrdiff_t j = 0; j < (ptrdiff_t)Hp * Hp; j++) m->Whh[j] -= lr * m->ghh[j];
        for (int i0 = 0; i0 < Hp; i0 += LANES) /* W_hh^T -= lr G^T, in LANES x LANES tiles */
            for (int k0 = 0; k0 < Hp; k0 += LANES)
                for (int k = k0; k < k0 + LANES; k++) {
                    float *restrict w = m->WhhT + (ptrdiff_t)k * Hp + i0;
                    const float *restrict g = m->ghh + (ptrdiff_t)i0 * Hp + k;
                    for (int i = 0; i < LANES; i++) w[i] -= lr * g[(ptrdiff_t)i * Hp];
                }
    }
    return loss;
}

/* ---- I/O -------------------------------------------------------------------------------------- */

static void die(int status, const char *what) {
    fprintf(stderr, "rnn_baseline: %s\n", what);
    exit(status);
}

static void read_exact(FILE *f, void *dst, size_t size, size_t n, const char *what) {
    if (fread(dst, size, n, f) != n) {
        fprintf(stderr, "rnn_baseline: input ends before the %s (%zu items of %zu bytes expected)\n", what, n, size);
        exit(2);
    }
}

static void write_exact(FILE *f, const void *src, size_t size, size_t n) {
    if (fwrite(src, size, n, f) != n) die(3, "cannot write the output file");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "info") == 0) {
        printf("protocol %d; rows padded to %d floats; kernels 4x64 8x32; W_hh gradient buffer from %d pairs, %d rows at a time; "
               "tanh %s\n", VERSION, PAD, RNN_BASELINE_DW_MIN_K, RNN_BASELINE_DW_KC, TANH_NAME);
        return 0;
    }
    if (argc != 4 || (strcmp(argv[1], "train") != 0 && strcmp(argv[1], "bench") != 0))
        die(2, "usage: rnn_baseline train|bench INPUT OUTPUT   or   rnn_baseline info");
    const int bench = strcmp(argv[1], "bench") == 0;
    FILE *in = fopen(argv[2], "rb");
    if (!in) die(3, "cannot open the input file");
    int32_t hdr[HEADER_WORDS];
    read_exact(in, hdr, 4, HEADER_WORDS, "header");
    if (hdr[0] != MAGIC) die(2, "input is not an rnn_baseline file (bad magic)");
    if (hdr[1] != VERSION) die(2, "input has an unknown protocol version");
    const int V = hdr[2], H = hdr[3], C = hdr[4], T = hdr[5], B = hdr[6], NB = hdr[7];
    const int steps = hdr[8], relu = hdr[9], warmup = hdr[10], rounds = hdr[11];
    int iterations = hdr[12];
    const double round_seconds = 1e-6 * hdr[13];
    float lr;
    memcpy(&lr, &hdr[14], sizeof lr);
    if (V < 1 || H < 1 || C < 1 || T < 1 || B < 1 || NB < 1) die(2, "V, H, C, T, B and n_batches must be >= 1");
    if (H > 16384 || V > (1 << 24) || C > (1 << 20) || T > (1 << 16) || B > (1 << 20))
        die(2, "a size in the header is implausibly large");
    if (relu != 0 && relu != 1) die(2, "nonlinearity must be 0 (tanh) or 1 (relu)");
    if (!(lr > 0.0f) || !isfinite(lr)) die(2, "lr must be a positive finite number");
    if (bench ? (warmup < 0 || rounds < 1 || iterations < 0 || (iterations == 0 && hdr[13] < 1)) : steps < 0)
        die(2, "bad steps / warmup / rounds / iterations in the header");

    const size_t n_params = (size_t)H * V + (size_t)H * H + H + (size_t)C * H + C;
    float *params = xalloc(n_params, 4);
    read_exact(in, params, 4, n_params, "parameters");
    for (size_t i = 0; i < n_params; i++)
        if (!isfinite(params[i])) die(2, "the parameters have non-finite values");
    const size_t n_tok = (size_t)NB * B * T, n_rec = (size_t)NB * B;
    int32_t *tokens = xalloc(n_tok, 4), *lengths = xalloc(n_rec, 4), *labels = xalloc(n_rec, 4);
    read_exact(in, tokens, 4, n_tok, "tokens");
    read_exact(in, lengths, 4, n_rec, "lengths");
    read_exact(in, labels, 4, n_rec, "labels");
    fclose(in);
    for (size_t i = 0; i < n_rec; i++) {
        if (lengths[i] < 1 || lengths[i] > T) die(2, "a length is outside [1, T]");
        if (labels[i] < 0 || labels[i] >= C) die(2, "a label is outside [0, C)");
        for (int t = 0; t < lengths[i]; t++) {
            const int32_t x = tokens[i * T + t];
            if (x < 0 || x >= V) die(2, "a token id is outside [0, V)");
        }
    }

    model_t m;
    model_init(&m, V, H, C, T, B, relu, lr, params);
    long s = 0; /* steps run so far: step s trains on batch s mod NB */
#define STEP() (s++, train_step(&m, tokens + ((s - 1) % NB) * B * T, lengths + ((s - 1) % NB) * B, labels + ((s - 1) % NB) * B))

    FILE *out = fopen(argv[3], "wb");
    if (!out) die(3, "cannot open the output file");
    if (!bench) {
        float *losses = xalloc(steps > 0 ? steps : 1, 4);
        for (int i = 0; i < steps; i++) losses[i] = (float)STEP();
        model_params(&m, params);
        write_exact(out, params, 4, n_params);
        write_exact(out, losses, 4, steps);
    } else {
        double first = STEP(), last = first;
        for (int i = 1; i < warmup; i++) last = STEP();
        if (iterations == 0) { /* calibrate: double until a tenth of a round has passed */
            for (long n = 1;; n *= 2) {
                const double t0 = now();
                for (long i = 0; i < n; i++) last = STEP();
                const double dt = now() - t0;
                if (dt >= 0.1 * round_seconds || n >= (1L << 30)) {
                    const double it = round_seconds * (double)n / (dt > 0 ? dt : 1e-9);
                    iterations = it < 1.0 ? 1 : it > 1e9 ? 1000000000 : (int)(it + 0.5);
                    break;
                }
            }
        }
        double *seconds = xalloc(rounds, sizeof(double));
        for (int k = 0; k < rounds; k++) {
            const double t0 = now();
            for (int i = 0; i < iterations; i++) last = STEP();
            seconds[k] = now() - t0;
        }
        const int32_t info[4] = {iterations, rounds, (int32_t)(s > INT32_MAX ? INT32_MAX : s), 0};
        write_exact(out, info, 4, 4);
        write_exact(out, seconds, sizeof(double), rounds);
        write_exact(out, &first, sizeof(double), 1);
        write_exact(out, &last, sizeof(double), 1);
    }
    if (fclose(out) != 0) die(3, "cannot write the output file");
    return 0;
}
