// CKernels float side: the kernels of the optimised float executor (CondSegRuntime/FastFloat*.swift) that are not
// a GEMM (the GEMMs are OpenBLAS sgemm): convolution epilogue with bias, residual additions and ReLU fused in one
// pass, float im2col, elementwise add/mul, a vectorised sigmoid and the CDFA window attention (softmax, weighted
// sum of neighbours and fold in one kernel); and the portable arithmetic of the int8 executors' float ops (a
// fixed-order GEMM, one exp, the sigmoid and window attention built on them), the same bits on every set. One
// implementation per instruction set (portable C, AVX2+FMA, AArch64 NEON for the GEMM and the exp), chosen at run
// time like ck_qgemm_u8s8. All buffers of the attention and elementwise kernels are NCHW float planes of one image,
// except those of ckf_window_attention_nhwc_portable (channel-interleaved, for the int8 executor).
//
// Accuracy: the float executor's kernels are NOT bit-identical to the float reference (CondSegCore ReferenceOps):
// the AVX2 versions use FMA and a polynomial exp (about 1 ulp) and sum in a different order. The portable C versions
// follow the reference's order of operations except where a comment says otherwise.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Float kernel sets.
typedef enum {
    CKF_ISA_GENERIC = 0,   ///< portable C
    CKF_ISA_AVX2 = 1,      ///< x86-64 AVX2 + FMA
    CKF_ISA_NEON = 2,      ///< AArch64 Advanced SIMD (the fixed-order GEMM and the portable exp; the rest is portable C)
} ckf_isa;

/// The best float kernel set this CPU supports (AVX2 needs AVX2, FMA and the OS saving YMM state).
ckf_isa ckf_detected_isa(void);
/// The float kernel set in use now.
ckf_isa ckf_active_isa(void);
/// Makes the float kernels use `isa` (tests and benchmarks). Returns 1 on success, 0 if this CPU cannot run it.
int ckf_force_isa(ckf_isa isa);
/// Short lowercase name of a float kernel set ("generic", "avx2"); "unknown" otherwise.
const char *ckf_isa_name(ckf_isa isa);

/// Convolution epilogue over columns [begin, begin+count) of `channels` planes (plane c starts at
/// y + c*channel_stride), in place: v = y + bias[c]; v = v + residuals[0][same index]; …; v = max(v, 0) if relu.
/// The residual buffers have the same layout as y (channel stride `channel_stride`). `bias` may be NULL (no bias).
/// Every step is one float operation in that order, so this is bit-identical to the reference's separate passes.
void ckf_conv_epilogue(float *y, ptrdiff_t channel_stride, int channels, ptrdiff_t begin, ptrdiff_t count,
                       const float *bias, const float *const *residuals, int residual_count, int relu);

/// y[i] = ((x0[i] + x1[i]) + x2[i]) + …, then max(·, 0) if relu, for i < n (the reference's order).
void ckf_add(float *y, const float *const *inputs, int input_count, size_t n, int relu);

/// y[c][i] = x[c][i] · gate[c] (channel gate, N×C×1×1) for c < channels, i < plane.
void ckf_mul_channel_gate(float *y, const float *x, const float *gate, int channels, size_t plane);
/// y[c][i] = x[c][i] · gate[i] (spatial gate, N×1×H×W).
void ckf_mul_spatial_gate(float *y, const float *x, const float *gate, int channels, size_t plane);

/// y[i] = 1 / (1 + e^(−x[i])). AVX2: the portable exp below (so this is ckf_sigmoid_portable there); portable C:
/// libm expf, the reference's arithmetic.
void ckf_sigmoid(const float *x, float *y, size_t n);

/// im2col of one NCHW image for output rows [row_begin, row_begin+rows) and input channels [c_begin, c_end):
/// columns[((c·k + ky)·k + kx)·(rows·out_w) + r·out_w + ox] = x[c][oy·s − p + ky·d][ox·s − p + kx·d] (0 outside),
/// oy = row_begin + r: the reference's layout (CondSegCore ReferenceOps.im2col) when `ld` = rows·out_w; a larger
/// `ld` (the row stride of `columns`) places the block among other images' columns. Copies only: exact.
void ckf_im2col(const float *x, int in_h, int in_w, int kernel, int stride, int padding, int dilation,
                int out_w, int row_begin, int rows, int c_begin, int c_end, float *columns, ptrdiff_t ld);

/// The adjoint of ckf_im2col: dx[c][oy·s − p + ky·d][ox·s − p + kx·d] += columns[((c·k + ky)·k + kx)·ld +
/// r·out_w + ox] for input channels [c_begin, c_end), added in the order c, ky, kx, r, ox (each dx element takes
/// at most one term per (ky, kx) and row block). Exact apart from the order of those additions.
void ckf_col2im(const float *columns, int in_h, int in_w, int kernel, int stride, int padding, int dilation,
                int out_w, int row_begin, int rows, int c_begin, int c_end, float *dx, ptrdiff_t ld);

/// Arguments of the CDFA window attention (docs/architecture.md, steps 3–6), for one image.
typedef struct {
    int heads;              ///< attention heads; channels must be a multiple of it
    int window;             ///< window side k (odd)
    int channels;           ///< C
    int height, width;      ///< H, W
    const float *values;    ///< v: C×H×W
    const float *logits;    ///< (heads·k⁴)×H×W, index h·k⁴ + i·k² + j
    float *output;          ///< y: C×H×W (every element of the rows computed is written)
    float scale;            ///< logits multiplier, (C/heads)^−½
} ckf_attention_args;

/// Floats of scratch one ckf_window_attention call needs (independent of the rows asked for).
size_t ckf_window_attention_scratch(const ckf_attention_args *args);

/// Output rows [row_begin, row_end) of y[c][q] = Σ_i Σ_j a[h][i][j](q − off_i) · v[c](q − off_i + off_j) over the
/// slots with q − off_i and q − off_i + off_j inside the image, a = softmax_j(logits · scale) at p = q − off_i.
/// Rows are independent: threads may split them (each with its own scratch of ckf_window_attention_scratch floats).
/// Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_window_attention(const ckf_attention_args *args, int row_begin, int row_end, float *scratch);

// MARK: portable arithmetic (the int8 executors' float ops)
//
// The functions below give the same bits on every kernel set and architecture (AVX2+FMA, NEON, portable C): every
// result is a fixed sequence of single IEEE operations (fused multiply-add, multiply, add, divide, compare) whose
// order does not depend on the instruction set, the vector width or the number of threads. The int8 executors use
// them for the float ops between int8 layers, so that an int8 frame is bit-identical on x86-64 and aarch64.

/// e^x, portable: x clamped to [−87, 88] (NaN reads as −87), n = round-to-nearest-even(x·log2 e) by one fused
/// multiply-add with 1.5·2²³, r = x − n·ln 2 in two fused steps (ln 2 split in a 10-bit head and a tail), e^r by a
/// degree-7 polynomial in Horner form (fused), times 2ⁿ built from the exponent bits. Maximum error over every float
/// in [−87, 88]: see CKernelsTests (measured against e^x in double precision). y[i] = e^x[i] for i < n; in place is fine.
void ckf_exp_portable(const float *x, float *y, size_t n);

/// y[i] = 1 / (1 + e^(−x[i])) with ckf_exp_portable's exp: the same bits on every kernel set.
void ckf_sigmoid_portable(const float *x, float *y, size_t n);

/// ckf_window_attention with portable arithmetic: the softmax uses ckf_exp_portable's exp, and each output is the
/// sum, in the reference's order (i outer, j inner, slots outside the image skipped), of fused multiply-adds
/// acc = fma(a, v, acc) starting from +0. The same bits on every kernel set and for any split of the rows.
int ckf_window_attention_portable(const ckf_attention_args *args, int row_begin, int row_end, float *scratch);

/// Floats of scratch one ckf_window_attention_nhwc_portable call needs (independent of the rows asked for and of
/// the image height).
size_t ckf_window_attention_nhwc_scratch(const ckf_attention_args *args);

/// ckf_window_attention_portable on channel-interleaved (NHWC) buffers: args->values and args->output are H×W×C
/// (element [y][x][c]), args->logits is H×W×(heads·k⁴) (element [y][x][h·k⁴ + i·k² + j]). The same arithmetic in
/// the same order, so every output has the bits ckf_window_attention_portable gives for the planar buffers, on every
/// kernel set and for any split of the rows. Rows are independent: threads may split them, each with its own
/// scratch of ckf_window_attention_nhwc_scratch floats. Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_window_attention_nhwc_portable(const ckf_attention_args *args, int row_begin, int row_end, float *scratch);

/// Output channels of one packed panel of ckf_gemm_fixed's weights.
#define CKF_GEMM_PANEL 16

/// Floats of packed weights for an N×K weight matrix (panels of CKF_GEMM_PANEL channels, zero padded).
size_t ckf_gemm_packed_floats(int n, int k);

/// Packs w (N rows of K floats, row stride ldw ≥ K) for ckf_gemm_fixed: packed[p][k][j] = w[p·16 + j][k]
/// (0 for channels ≥ N). Copies only.
void ckf_gemm_pack(const float *w, int n, int k, ptrdiff_t ldw, float *packed);

/// Fixed-order float GEMM, rows [m_begin, m_end) of C = A · Wᵀ: C[m][j] = fma(A[m][K−1], W[j][K−1], … fma(A[m][1],
/// W[j][1], fma(A[m][0], W[j][0], +0))…), k in increasing order, one rounding per step, for every kernel set (the
/// vector kernels run across output channels and rows, never across k). A is row-major with row stride lda ≥ K, C
/// has row stride ldc ≥ N. Threads may split the rows in any way: each C element depends only on its own row and
/// channel. Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_gemm_fixed(const float *a, ptrdiff_t lda, const float *packed, int n, int k, int m_begin, int m_end,
                   float *c, ptrdiff_t ldc);

/// Rows of C that ckf_conv_fixed computes per block: the GEMM writes a block, then its epilogue and quantization run
/// while the block is still in cache.
#define CKF_CONV_BLOCK_ROWS 120

/// A float convolution as a GEMM with its epilogue (ckf_conv_fixed). Row m of A is output pixel m.
typedef struct {
    const float *a;              ///< A: pixels × K, row stride lda ≥ K
    ptrdiff_t lda;
    const float *packed;         ///< weights packed by ckf_gemm_pack
    int n, k;                    ///< output channels, reduction length
    const float *bias;           ///< N values, or NULL
    const float *residual;       ///< added after the bias (row stride ld_residual ≥ N), or NULL
    ptrdiff_t ld_residual;
    int relu;                    ///< nonzero: max(·, 0) last (NaN and −0 give +0, as `v > 0 ? v : 0`)
    float *c;                    ///< float output (row stride ldc ≥ N), or NULL when only the uint8 output is wanted
    ptrdiff_t ldc;
    uint8_t *out_u8;             ///< uint8 output (row stride ld_u8 ≥ N) quantized as ck_quantize_u8, or NULL
    ptrdiff_t ld_u8;
    float out_inv_scale;
    int32_t out_zero_point;
} ckf_conv_args;

/// Floats of scratch one ckf_conv_fixed call needs when args->c is NULL (one block of rows).
size_t ckf_conv_scratch_floats(int n);

/// Rows [m_begin, m_end) of a float convolution: C = ckf_gemm_fixed(A, W), then per element c + bias[j], + residual,
/// ReLU (each one IEEE operation, in that order), then the uint8 quantization of the result; blocks of
/// CKF_CONV_BLOCK_ROWS rows go through all three while in cache. The same bits as ckf_gemm_fixed followed by the
/// scalar epilogue, for every kernel set and any split of the rows. `scratch` (ckf_conv_scratch_floats(n) floats)
/// is used only when args->c is NULL. Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_conv_fixed(const ckf_conv_args *args, int m_begin, int m_end, float *scratch);

/// Global pooling of channels [c_begin, c_end) of an NHWC tensor (`plane` pixels of `channels` floats): y[j] = the
/// mean (a float64 sum in pixel order, divided by `plane`, rounded to float) or, with use_max, the maximum (m = x ≥ m ?
/// x : m in pixel order from −∞, so NaN inputs are skipped) of channel j. The same bits on every kernel set.
void ckf_global_pool_nhwc(const float *x, size_t plane, int channels, int c_begin, int c_end, int use_max, float *y);

/// im2col of an NHWC image (in_h × in_w pixels of `channels` floats) for output rows [oy_begin, oy_end): output
/// pixel (oy, ox) becomes row (oy − oy_begin)·out_w + ox of K = kernel²·channels floats in (ky, kx, c) order, taken
/// from input pixel (oy·stride − padding + ky·dilation, ox·stride − padding + kx·dilation); taps outside the image
/// are +0. Copies only.
void ckf_im2col_nhwc(const float *x, int in_h, int in_w, int channels, int kernel, int stride, int padding,
                     int dilation, int out_w, int oy_begin, int oy_end, float *columns);

/// Most output channels ckf_conv_direct_nhwc takes.
#define CKF_DIRECT_MAX_N 4

/// A float convolution with few output channels, straight from its NHWC input (ckf_conv_direct_nhwc).
typedef struct {
    const float *x;              ///< input, in_h × in_w pixels of `channels` floats
    int in_h, in_w, channels;
    int kernel, stride, padding, dilation;
    int out_w;
    const float *packed;         ///< weights packed by ckf_gemm_pack (K = kernel²·channels in (ky, kx, c) order)
    int n;                       ///< output channels, 1…CKF_DIRECT_MAX_N
    const float *bias;           ///< N values, or NULL
    const float *residual;       ///< row stride ld_residual per output pixel, or NULL
    ptrdiff_t ld_residual;
    int relu;
    float *c;                    ///< float output, ldc per output pixel, or NULL
    ptrdiff_t ldc;
    uint8_t *out_u8;             ///< uint8 output, ld_u8 per output pixel, or NULL
    ptrdiff_t ld_u8;
    float out_inv_scale;
    int32_t out_zero_point;
} ckf_direct_args;

/// Output rows [oy_begin, oy_end) of a convolution with at most CKF_DIRECT_MAX_N output channels, without im2col:
/// the same bits as ckf_im2col_nhwc followed by ckf_conv_fixed (each output the fused multiply-add chain over
/// (ky, kx, c) in increasing order from +0, a tap outside the image contributing fma(+0, w, acc); then c + bias,
/// + residual, ReLU, the uint8 quantization). Vector kernels run across 8 output pixels. Returns 0, or -1.
int ckf_conv_direct_nhwc(const ckf_direct_args *args, int oy_begin, int oy_end);

/// q[i] = clamp(rint(x[i]·inv_scale) + zero_point, 0, 255) for i < n: ck_quantize_u8's operations and bits (the
/// clamp of x·inv_scale to ±65536 first, NaN giving 0), vectorised per kernel set; the same bits on every set.
void ckf_quantize_u8(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point);

/// Bilinear align-corners upsampling of an NHWC image (ckf_upsample_nhwc). Output pixel (oy, ox), channel c:
/// h0·(w0·x[r0][c0][c] + w1·x[r0][c1][c]) + h1·(w0·x[r1][c0][c] + w1·x[r1][c1][c]) with r0 = row_first[oy],
/// r1 = row_second[oy], h1 = row_weight[oy], h0 = 1 − h1, c0 = col_first[ox], c1 = col_second[ox],
/// w1 = col_weight[ox], w0 = 1 − w1: each product and sum one IEEE operation in that order (the reference's).
typedef struct {
    const float *x;                 ///< input: rows of in_w pixels of `channels` floats
    int in_w, channels, out_w;
    const int32_t *row_first, *row_second;     ///< per output row: the two input rows
    const float *row_weight;                   ///< per output row: the second row's weight
    const int32_t *col_first, *col_second;     ///< per output column: the two input columns
    const float *col_weight;                   ///< per output column: the second column's weight
    float *y;                       ///< float output, ldy floats per output pixel (≥ channels)
    ptrdiff_t ldy;
    uint8_t *out_u8;                ///< uint8 output (ld_u8 per pixel) quantized as ckf_quantize_u8 from y, or NULL
    ptrdiff_t ld_u8;
    float out_inv_scale;
    int32_t out_zero_point;
} ckf_upsample_args;

/// Output rows [oy_begin, oy_end) of ckf_upsample_args' upsampling, float and (if asked) uint8: the uint8 values
/// are those ckf_quantize_u8 gives for the float output. Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_upsample_nhwc(const ckf_upsample_args *args, int oy_begin, int oy_end);

/// Pixels [p_begin, p_end) of y = x · gate on NHWC buffers (x dense, `channels` floats per pixel): the gate is
/// per channel (channel_gate ≠ 0, `channels` values) or per pixel (one value per pixel); one IEEE multiply each,
/// y with ldy floats per pixel; with out_u8, also the uint8 values ckf_quantize_u8 gives for y (ld_u8 per pixel).
/// Returns 0, or -1 (writing nothing) for invalid arguments.
int ckf_mul_nhwc(const float *x, const float *gate, int channels, int channel_gate, size_t p_begin, size_t p_end,
                 float *y, ptrdiff_t ldy, uint8_t *out_u8, ptrdiff_t ld_u8, float out_inv_scale,
                 int32_t out_zero_point);

/// Pixels [p_begin, p_end) of an NHWC image of `channels` floats per pixel: y[2p] = the mean (a float sum in channel
/// order from +0, then divided by `channels`) and y[2p + 1] = the maximum (m = x ≥ m ? x : m in channel order from
/// −∞) of pixel p's channels. The same bits on every kernel set.
void ckf_channel_mean_max_nhwc(const float *x, int channels, size_t p_begin, size_t p_end, float *y);

/// The naive definition of ckf_gemm_fixed on an unpacked W (N rows, stride ldw): one fmaf per step, k increasing.
/// For tests.
void ckf_gemm_fixed_reference(const float *a, ptrdiff_t lda, const float *w, ptrdiff_t ldw, int n, int k,
                              int m_begin, int m_end, float *c, ptrdiff_t ldc);

/// One 3×3 stride-1 convolution (any padding and dilation) of one NCHW image computed by Winograd F(m×m, 3×3)
/// (ckf_winograd_setup fills it). Tiles are numbered phase-major: tile = ((a·dilation + b)·tiles_h + ti)·tiles_w + tj
/// covers the output pixels (a + dilation·(ti·m + i), b + dilation·(tj·m + j)), i, j < m.
typedef struct {
    int m;                          ///< output tile side: 4 or 6
    int in_channels, out_channels;
    int in_h, in_w, out_h, out_w;
    int padding, dilation;
    int tiles_h, tiles_w;           ///< tiles per phase, down and across
} ckf_winograd_conv;

/// Fills `s` for a 3×3 stride-1 convolution; returns 0 (leaving it unusable) when m is not 4 or 6 or a size is bad.
int ckf_winograd_setup(ckf_winograd_conv *s, int m, int in_channels, int out_channels, int in_h, int in_w,
                       int padding, int dilation);
/// Tiles of the whole convolution (dilation² · tiles_h · tiles_w).
long ckf_winograd_tile_count(const ckf_winograd_conv *s);
/// Transform points (m + 2)²: 36 for m = 4, 64 for m = 6 (0 otherwise).
int ckf_winograd_points(int m);
/// Transformed weights v[(ξ·out_channels + o)·in_channels + c] = (G·w[o][c]·Gᵀ)[ξ], computed in double and rounded
/// once; w is [out][in][3][3]. v has points·out·in floats.
void ckf_winograd_weights(int m, int out_channels, int in_channels, const float *w, float *v);
/// The transform matrices as doubles: bt (m+2)×(m+2) = Bᵀ, g (m+2)×3 = G, at m×(m+2) = Aᵀ (row-major).
void ckf_winograd_matrices(int m, double *bt, double *g, double *at);
/// Input transform of tiles [tile_begin, tile_begin + tiles): u[(ξ·in_channels + c)·ld + t] = (Bᵀ·d·B)[ξ] of input
/// channel c's window under tile tile_begin + t (zero outside the image; tiles past the last are zero).
/// ld ≥ tiles rounded up to a multiple of 8 (groups of 8 are written whole).
void ckf_winograd_input(const ckf_winograd_conv *s, const float *x, long tile_begin, int tiles, float *u, ptrdiff_t ld);
/// Output transform of tiles [tile_begin, tile_begin + tiles) from m[(ξ·out_channels + o)·ld + t] (the per-point
/// products Σ_c v·u), fused with the epilogue of ckf_conv_epilogue: v = (Aᵀ·M·A) + bias[o], + each residual (same
/// layout as y), then ReLU if relu; writes y's pixels inside the output only.
void ckf_winograd_output(const ckf_winograd_conv *s, const float *m, ptrdiff_t ld, long tile_begin, int tiles, float *y,
                         const float *bias, const float *const *residuals, int residual_count, int relu);

#ifdef __cplusplus
}
#endif
