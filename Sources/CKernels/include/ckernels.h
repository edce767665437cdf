// CKernels: exact int8 GEMM / convolution kernels for the int8 executor, one file per instruction set,
// chosen at run time (cpuid/xgetbv on x86-64, getauxval on aarch64). This is the only public header.
//
// Convolution as GEMM: C[m][n] for m < M (output pixels), n < N (output channels), K = kh*kw*Cin.
//   acc[m][n] = sum_k A[m][k] * B[n][k]                       exact int32 (A uint8, B int8)
//   v = (float)(acc - a_zero_point * sum_k B[n][k]) * multiplier[n] + bias[n]
//   v = v + residual_f32[m*ld_residual + n]                    (if residual_f32 != NULL)
//   v = v + residual_scale * (float)(residual_u8[m*ld_residual + n] - residual_zero_point)   (if residual_u8 != NULL)
//   v = max(v, 0)                                             (if relu; NaN becomes 0)
//   out_f32[m*ldc + n] = v                                    (if out_f32 != NULL)
//   out_u8[m*ldc + n]  = clamp(rint(v * out_inv_scale) + out_zero_point, 0, 255)   (if out_u8 != NULL)
// Every float step is a separate IEEE single-precision operation (no FMA), rounding is to nearest-even, so the
// results are bit-identical for every instruction set and for ck_qgemm_u8s8_reference.
//
// Typical use for one 3x3 convolution (NHWC uint8 input, int8 weights [Cout][ky][kx][Cin]):
//   packed = aligned buffer of ck_qgemm_packed_size(Cout, 9*Cin) bytes; ck_qgemm_pack_weights(w, Cout, 9*Cin, packed)
//   once per layer; per chunk of output rows [y0, y1) (one chunk per thread): ck_im2col_u8_nhwc(args, y0, y1) into
//   a scratch buffer, then ck_qgemm_u8s8 over rows [0, M) with M = (y1-y0)*out_w, a = the scratch rows
//   (lda = ld_rows), out_u8 = output + y0*out_w*ldc + channel offset, ldc = channels of the (concat) output buffer
//   (a residual pointer is offset the same way). A 1x1 stride-1 convolution skips im2col (a = input, lda = pixel_stride).
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets with a kernel. The numeric order is not a capability order across architectures.
typedef enum {
    CK_ISA_GENERIC = 0,     ///< portable C, every machine
    CK_ISA_AVX2 = 1,        ///< x86-64 AVX2 (two vpmaddubsw summed for weights within +-32, one within +-64, else int16 widening + vpmaddwd)
    CK_ISA_AVX512VNNI = 2,  ///< x86-64 AVX-512 F/BW/VL + VNNI (vpdpbusd)
    CK_ISA_NEON = 3,        ///< aarch64 Advanced SIMD (every Armv8-A core)
    CK_ISA_NEONDOT = 4,     ///< aarch64 Armv8.2 FEAT_DotProd (sdot)
} ck_isa;

/// The best instruction set this CPU (and OS) supports.
ck_isa ck_detected_isa(void);
/// The instruction set ck_qgemm_u8s8 uses now: ck_detected_isa() unless changed by ck_force_isa.
ck_isa ck_active_isa(void);
/// Makes ck_qgemm_u8s8 use `isa` (meant for tests and benchmarks; do not call while a GEMM runs on another
/// thread). Returns 1 on success, 0 (and changes nothing) if this CPU cannot run it.
int ck_force_isa(ck_isa isa);
/// Returns 1 if this CPU can run `isa`, else 0.
int ck_isa_supported(ck_isa isa);
/// Short lowercase name ("generic", "avx2", "avx512vnni", "neon", "neondot"); "unknown" otherwise.
const char *ck_isa_name(ck_isa isa);

/// Largest K the kernels accept: with |A - a_zero_point| <= 255 and |B| <= 128 every int32 stays exact.
/// Any int8 weights are exact on every instruction set; weights within +-64 ("7-bit" tables, quantized to +-63)
/// also let the AVX2 kernel use vpmaddubsw, twice as fast, with the same bits; weights within +-32 ("6-bit" tables,
/// +-31) let it sum two vpmaddubsw in int16 before widening, faster again, with the same bits.
#define CK_QGEMM_MAX_K 65536

/// Bytes needed by ck_qgemm_pack_weights for N output channels of K weights; 0 if N < 1, K < 1 or
/// K > CK_QGEMM_MAX_K. The packed layout is the same for every instruction set, so a packed buffer stays valid
/// after ck_force_isa. Allocate it 64-byte aligned for best speed (any alignment works).
size_t ck_qgemm_packed_size(int N, int K);

/// Packs int8 weights `w` (N rows of K, row-major, row n = output channel n, k order = ky, kx, cin) into
/// `packed` (ck_qgemm_packed_size(N, K) bytes) and stores sum_k w[n][k] alongside. Returns 0 on success, -1 if
/// N/K are out of range or a pointer is NULL (nothing written).
int ck_qgemm_pack_weights(const int8_t *w, int N, int K, void *packed);

/// Arguments of one quantized GEMM (see the formula at the top of this header). Unused pointers are NULL.
typedef struct {
    int M;                          ///< rows of A / C (output pixels)
    int N;                          ///< columns of C (output channels); must equal the packed N
    int K;                          ///< reduction length; must equal the packed K
    const uint8_t *a;               ///< A: M rows of K uint8 values
    ptrdiff_t lda;                  ///< bytes between consecutive rows of A (>= K)
    const void *packed_b;           ///< weights packed by ck_qgemm_pack_weights
    int32_t a_zero_point;           ///< zero point of A (0...255)
    const float *multiplier;        ///< N floats, usually a_scale * w_scale[n], so v is in real units before out_inv_scale
    const float *bias;              ///< N floats added after the multiply, or NULL for none
    const float *residual_f32;      ///< float residual added to v, element m*ld_residual + n, or NULL
    const uint8_t *residual_u8;     ///< uint8 residual, dequantized with residual_scale/zero point, or NULL
    ptrdiff_t ld_residual;          ///< elements between consecutive rows of the residual (>= N)
    float residual_scale;           ///< scale of residual_u8
    int32_t residual_zero_point;    ///< zero point of residual_u8
    int relu;                       ///< nonzero: v = max(v, 0) after the residual
    float *out_f32;                 ///< float output, element m*ldc + n, or NULL
    uint8_t *out_u8;                ///< uint8 output, element m*ldc + n, or NULL
    ptrdiff_t ldc;                  ///< elements between consecutive output rows (>= N; wider for concat buffers)
    float out_inv_scale;            ///< 1 / output scale (uint8 output)
    int32_t out_zero_point;         ///< output zero point (uint8 output, 0...255)
} ck_qgemm_args;

/// The inner-loop instruction sequences of the int8 kernels (what ck_peak_int8_gmacs measures).
typedef enum {
    CK_QGEMM_SCALAR = 0,        ///< portable C (scalar multiply-adds)
    CK_QGEMM_AVX2_WIDEN = 1,    ///< AVX2, both operands widened to int16, vpmaddwd + vpaddd: 16 MACs per step
    CK_QGEMM_AVX2_MADDUBS = 2,  ///< AVX2 vpmaddubsw -> vpmaddwd(ones) -> vpaddd: 32 MACs per step (|w| <= 64 only)
    CK_QGEMM_AVX512_VNNI = 3,   ///< AVX-512 vpdpbusd zmm: 64 MACs per step
    CK_QGEMM_NEON_SMULL = 4,    ///< NEON smull + sadalp: 8 MACs per smull
    CK_QGEMM_NEON_SDOT = 5,     ///< NEON sdot: 16 MACs per step
    CK_QGEMM_AVX2_MADDUBS2 = 6, ///< AVX2 two vpmaddubsw -> vpaddsw -> vpmaddwd(ones) -> vpaddd: 64 MACs per step (|w| <= 32 only)
} ck_qgemm_variant;

/// The instruction sequence ck_qgemm_u8s8 runs for these packed weights with the active instruction set: on AVX2,
/// weights within +-32 (6-bit tables) take the two-vpmaddubsw kernel, within +-64 (7-bit tables) the vpmaddubsw
/// kernel, wider ones the widening kernel (all exact).
ck_qgemm_variant ck_qgemm_variant_for(const void *packed);
/// Short description of a variant ("avx2 vpmaddubsw", …).
const char *ck_qgemm_variant_name(ck_qgemm_variant variant);
/// max |w| of weights packed by ck_qgemm_pack_weights, or -1 if `packed` is not such a buffer.
int ck_qgemm_packed_max_abs_weight(const void *packed);

/// Register-only peak of fp32 multiply-adds on this core, in GMAC/s (one FMA lane = one MAC): 10 independent
/// accumulator chains of vfmadd231ps ymm on x86-64 with FMA, fmla on aarch64, scalar C elsewhere; best of a few
/// runs of about `seconds` each (0.02 s if <= 0). No memory traffic: what the core itself can do at that moment.
double ck_peak_fp32_gmacs(double seconds);
/// Register-only peak of `variant`'s int8 instruction sequence on this core, in GMAC/s (multiply-adds of u8 x s8
/// products), measured like ck_peak_fp32_gmacs; 0 if this CPU cannot run the variant.
double ck_peak_int8_gmacs(ck_qgemm_variant variant, double seconds);

/// Computes output rows [m_begin, m_end) (clipped to [0, M)) with the active instruction set. Rows are
/// independent, so callers may split [0, M) among threads; the result does not depend on the split. Writes nothing
/// outside those rows. Returns 0 on success, -1 (writing nothing) if args or a required pointer is NULL, the
/// packed weights were not made by ck_qgemm_pack_weights for this N and K, or lda < K, ldc < N, ld_residual < N.
int ck_qgemm_u8s8(const ck_qgemm_args *args, int m_begin, int m_end);

/// Naive plain-C version of ck_qgemm_u8s8 reading the unpacked weights `w_unpacked` (N rows of K); args->packed_b
/// is ignored. Slow; it is the reference the fast kernels are tested against.
void ck_qgemm_u8s8_reference(const int8_t *w_unpacked, const ck_qgemm_args *args, int m_begin, int m_end);

/// Arguments of im2col for a uint8 NHWC image (one image; channels innermost).
typedef struct {
    const uint8_t *input;           ///< pixel (y, x) channel c at input[y*row_stride + x*pixel_stride + c]
    int height, width, channels;    ///< input size H, W, C
    ptrdiff_t pixel_stride;         ///< bytes between horizontally adjacent pixels (>= channels)
    ptrdiff_t row_stride;           ///< bytes between image rows (>= width*pixel_stride)
    int kernel_h, kernel_w;         ///< kernel size
    int stride_h, stride_w;         ///< convolution stride (>= 1)
    int pad_top, pad_left;          ///< zero padding before the image (bottom/right follow from out_h/out_w)
    int dilation_h, dilation_w;     ///< dilation (>= 1)
    int out_width;                  ///< output width (rows per output image row)
    uint8_t pad_value;              ///< value written for taps outside the image: the input zero point
    uint8_t *rows;                  ///< destination: row r holds K = kernel_h*kernel_w*channels bytes, order (ky, kx, c)
    ptrdiff_t ld_rows;              ///< bytes between destination rows (>= K)
} ck_im2col_args;

/// Writes the im2col rows of output image rows [oy_begin, oy_end): output pixel (oy, ox) lands in destination
/// row (oy - oy_begin)*out_width + ox, with tap (ky, kx) reading input (oy*stride_h - pad_top + ky*dilation_h,
/// ox*stride_w - pad_left + kx*dilation_w). (A 1x1 stride-1 convolution needs no im2col: pass the input as A
/// with lda = pixel_stride.)
void ck_im2col_u8_nhwc(const ck_im2col_args *args, int oy_begin, int oy_end);

/// Int8 Winograd F(m x m, 3x3), m = 2 or 4, for 3x3 stride-1 convolutions (any dilation) on a uint8 NHWC image: the
/// same int32 accumulators as im2col + ck_qgemm_u8s8 (exact: integer transforms in int16, int32 products, sums modulo
/// 2^32 and an exact recovery, see ck_qwino_internal.h), with 4 (m = 2) or 2.25 (m = 4) multiplies per output
/// instead of 9, so the same epilogue writes the same bits. Worth it where vpmaddwd on int16 runs near the direct
/// kernel's int8 rate (AVX2 without VNNI: ~0.8x here). The tile size is chosen when packing.
typedef struct {
    const uint8_t *input;           ///< pixel (y, x) channel c at input[y*row_stride + x*pixel_stride + c]
    int height, width, channels;    ///< input size H, W, C (C = the packed C)
    ptrdiff_t pixel_stride;         ///< bytes between horizontally adjacent pixels (>= channels)
    ptrdiff_t row_stride;           ///< bytes between image rows (>= width*pixel_stride)
    int pad_top, pad_left;          ///< zero padding before the image
    int dilation_h, dilation_w;     ///< dilation (>= 1)
    int out_height, out_width;      ///< output size
    uint8_t pad_value;              ///< value read for taps outside the image: the input zero point
    const void *packed_wino;        ///< weights packed by ck_qwino_pack_weights (which records m)
    /// The epilogue, as for ck_qgemm_u8s8 over the whole output: output pixel (oy, ox) is row m = oy*out_width + ox
    /// of out_f32/out_u8/residuals; N, packed_b (ck_qgemm_pack_weights of the same weights: its column sums remove
    /// the zero point), a_zero_point, multiplier, bias, relu and the output fields are read; M, K, a, lda are not.
    const ck_qgemm_args *epilogue;
} ck_qwino_args;

/// Bytes needed by ck_qwino_pack_weights for tile size m (2 or 4), N output channels of C input channels; 0 if m is
/// not 2 or 4, N or C < 1 or C > CK_QGEMM_MAX_K / 9.
size_t ck_qwino_packed_size(int m, int N, int C);
/// Transforms and packs 3x3 int8 weights `w` (N rows of 9*C, order ky, kx, c: as for ck_qgemm_pack_weights) for tile
/// size m. Returns 0 on success, -1 (nothing useful written) if m, N or C are out of range, a pointer is NULL, or the
/// weights are too large for the transform to stay exact: for m = 2, 36 * C * 255 * max|w| must stay below 2^31; for
/// m = 4, 255 * (sum of |w| over an output channel's 9*C weights) below 2^25 for every channel.
int ck_qwino_pack_weights(int m, const int8_t *w, int N, int C, void *packed);
/// Tile rows of an output `out_height` high with this dilation and tile size m: the range ck_qwino_u8s8 splits among
/// threads (0 if m is not 2 or 4).
int ck_qwino_tile_rows(int m, int out_height, int dilation_h);
/// Scratch bytes one ck_qwino_u8s8 call needs for tile size m and C input channels (any alignment).
size_t ck_qwino_scratch_size(int m, int C);
/// 1 if the active instruction set has a Winograd kernel that beats its direct kernel (AVX2: vpmaddwd on int16
/// transforms does 2.25x (m = 2) or 4x (m = 4) fewer multiplies at ~0.8x the direct vpmaddubsw sequence's rate),
/// else 0. ck_qwino_u8s8 runs on every instruction set (plain C where there is no vector form), with the same bits.
int ck_qwino_preferred(void);
/// Computes the outputs of tile rows [row_begin, row_end) (clipped to [0, ck_qwino_tile_rows)): whole output rows,
/// disjoint between tile rows, so threads may split the range; the result does not depend on the split. Returns 0,
/// or -1 (writing nothing) if a pointer is NULL or the arguments do not match the packed weights.
int ck_qwino_u8s8(const ck_qwino_args *args, int row_begin, int row_end, void *scratch);

/// q[i] = clamp(rint(x[i] * inv_scale) + zero_point, 0, 255), with the epilogue's exact rounding (NaN gives 0).
void ck_quantize_u8(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point);
/// x[i] = (float)(q[i] - zero_point) * scale.
void ck_dequantize_u8(const uint8_t *q, float *x, size_t n, float scale, int32_t zero_point);

/// glibc only: serve allocations up to 1 GiB from the heap instead of fresh mmaps and never trim it, so memory freed
/// by one training step is reused by the next without page faults. Returns 1 when applied, 0 elsewhere.
int ck_keep_freed_memory(void);

#ifdef __cplusplus
}
#endif
