// Native self-test of CKernels (kept outside Tests/CKernelsTests: SwiftPM refuses C files in a Swift test target), built by scripts/test-aarch64.sh with plain gcc (x86-64 and aarch64 cross):
// deterministic pseudo-random GEMM cases run with the active (or forced) ISA and compared exactly with
// ck_qgemm_u8s8_reference, plus im2col and quantize cases; one line per case, then an FNV-1a checksum of every
// output. The checksum must be the same on every ISA and architecture.
// Usage: ck_selftest [isa-name]      (isa-name: generic, avx2, avx512vnni, neon, neondot; default: detected)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ckernels.h"
#include "ckernels_float.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t next_random(void) {   // splitmix64, upper half
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static int random_below(int n) { return (int)(next_random() % (uint32_t)n); }
// A float with few significant bits, made exactly the same way on every machine: integer / 2^shift.
static float random_float(int magnitude, int shift) {
    return (float)(random_below(2 * magnitude + 1) - magnitude) / (float)(1 << shift);
}

static uint64_t checksum = 0xcbf29ce484222325ull;
static void hash_bytes(const void *data, size_t count) {
    const uint8_t *bytes = data;
    for (size_t i = 0; i < count; i++) { checksum ^= bytes[i]; checksum *= 0x100000001b3ull; }
}

static int failures = 0;

// Weights span the full int8 range when `limit` is 128, else -limit...limit (64: the vpmaddubsw kernel's range on
// AVX2; 65: just outside it, so the widening kernel runs; 32: the two-vpmaddubsw kernel's range; 33: just outside
// it, so the vpmaddubsw kernel runs). `extreme` 1 uses only A in {0, 255} and the two end
// weights, 2 and 3 only A = 255 with the largest / smallest weight.
static int run_gemm_case(int index, int M, int N, int K, int extreme, int limit) {
    const int lda = K + random_below(3) * 5, ldc = N + random_below(3) * 3, ld_residual = N + random_below(2) * 7;
    uint8_t *a = malloc((size_t)M * lda);
    int8_t *w = malloc((size_t)N * K);
    for (size_t i = 0; i < (size_t)M * lda; i++) a[i] = extreme ? (random_below(2) ? 255 : 0) : (uint8_t)random_below(256);
    const int low = limit >= 128 ? -128 : -limit, high = limit >= 128 ? 127 : limit;
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = (int8_t)(extreme ? (random_below(2) ? high : low) : low + random_below(high - low + 1));
    if (extreme == 2) { memset(a, 255, (size_t)M * lda); memset(w, high, (size_t)N * K); }
    if (extreme == 3) { memset(a, 255, (size_t)M * lda); memset(w, low, (size_t)N * K); }
    float *multiplier = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
    for (int n = 0; n < N; n++) {
        multiplier[n] = (float)(1 + random_below(1000)) / (float)(1 << 20) / (extreme ? (float)(K / 4 + 1) : 1.0f);
        bias[n] = random_float(4000, 10);
    }
    const int zero_points[3] = {0, 128, 255};
    ck_qgemm_args args;
    memset(&args, 0, sizeof args);
    args.M = M; args.N = N; args.K = K; args.a = a; args.lda = lda;
    args.a_zero_point = extreme ? zero_points[random_below(3)] : (random_below(2) ? zero_points[random_below(3)] : random_below(256));
    args.multiplier = multiplier;
    args.bias = random_below(4) ? bias : NULL;
    args.relu = random_below(2);
    const int residual_kind = random_below(3);   // 0 none, 1 float, 2 uint8
    float *residual_f32 = malloc(sizeof(float) * (size_t)M * ld_residual);
    uint8_t *residual_u8 = malloc((size_t)M * ld_residual);
    for (size_t i = 0; i < (size_t)M * ld_residual; i++) { residual_f32[i] = random_float(3000, 9); residual_u8[i] = (uint8_t)random_below(256); }
    args.ld_residual = ld_residual;
    if (residual_kind == 1) args.residual_f32 = residual_f32;
    if (residual_kind == 2) { args.residual_u8 = residual_u8; args.residual_scale = (float)(1 + random_below(64)) / 256.0f; args.residual_zero_point = random_below(256); }
    const int out_kind = random_below(3);        // 0 uint8, 1 float, 2 both
    args.ldc = ldc;
    args.out_inv_scale = (float)(1 + random_below(400)) / 64.0f;
    args.out_zero_point = zero_points[random_below(3)];

    const size_t out_count = (size_t)M * ldc;
    float *f_fast = malloc(sizeof(float) * out_count), *f_ref = malloc(sizeof(float) * out_count);
    uint8_t *q_fast = malloc(out_count), *q_ref = malloc(out_count);
    for (size_t i = 0; i < out_count; i++) { f_fast[i] = f_ref[i] = -7.25f; q_fast[i] = q_ref[i] = 0xa5; }

    void *packed = malloc(ck_qgemm_packed_size(N, K));
    if (ck_qgemm_pack_weights(w, N, K, packed) != 0) { printf("case %d: pack failed\n", index); failures++; return 0; }
    args.packed_b = packed;

    ck_qgemm_args reference = args;
    if (out_kind != 1) { args.out_u8 = q_fast; reference.out_u8 = q_ref; }
    if (out_kind != 0) { args.out_f32 = f_fast; reference.out_f32 = f_ref; }
    ck_qgemm_u8s8_reference(w, &reference, 0, M);
    // Uneven row chunks, as threads would use them.
    const int split = M > 2 ? 1 + random_below(M - 1) : M;
    int status = ck_qgemm_u8s8(&args, 0, split);
    status |= ck_qgemm_u8s8(&args, split, M);

    const int same = status == 0 && memcmp(q_fast, q_ref, out_count) == 0 && memcmp(f_fast, f_ref, sizeof(float) * out_count) == 0;
    if (!same) failures++;
    int saturated_low = 0, saturated_high = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) { saturated_low += q_fast[(size_t)m * ldc + n] == 0; saturated_high += q_fast[(size_t)m * ldc + n] == 255; }
    printf("gemm %3d M=%4d N=%4d K=%5d |w|<=%3d zp=%3d relu=%d residual=%d out=%d extreme=%d  u8@0=%d u8@255=%d  %s\n",
           index, M, N, K, limit, args.a_zero_point, args.relu, residual_kind, out_kind, extreme,
           out_kind != 1 ? saturated_low : -1, out_kind != 1 ? saturated_high : -1, same ? "ok" : "MISMATCH");
    hash_bytes(q_fast, out_count);
    hash_bytes(f_fast, sizeof(float) * out_count);
    free(a); free(w); free(multiplier); free(bias); free(residual_f32); free(residual_u8);
    free(f_fast); free(f_ref); free(q_fast); free(q_ref); free(packed);
    return same;
}

static void run_im2col_case(int index) {
    ck_im2col_args args;
    memset(&args, 0, sizeof args);
    args.height = 1 + random_below(13); args.width = 1 + random_below(13); args.channels = 1 + random_below(9);
    args.pixel_stride = args.channels + random_below(3);
    args.row_stride = args.width * args.pixel_stride + random_below(4);
    args.kernel_h = 1 + random_below(3) * 2; args.kernel_w = 1 + random_below(3) * 2;
    args.stride_h = 1 + random_below(2); args.stride_w = 1 + random_below(2);
    args.dilation_h = random_below(3) == 0 ? 6 : 1 + random_below(2); args.dilation_w = args.dilation_h;
    args.pad_top = random_below(2) ? (args.kernel_h - 1) / 2 * args.dilation_h : 0;
    args.pad_left = random_below(2) ? (args.kernel_w - 1) / 2 * args.dilation_w : 0;
    int out_h = (args.height + 2 * args.pad_top - args.dilation_h * (args.kernel_h - 1) - 1) / args.stride_h + 1;
    int out_w = (args.width + 2 * args.pad_left - args.dilation_w * (args.kernel_w - 1) - 1) / args.stride_w + 1;
    if (out_h < 1) out_h = 1;
    if (out_w < 1) out_w = 1;
    args.out_width = out_w;
    args.pad_value = (uint8_t)random_below(256);
    const int K = args.kernel_h * args.kernel_w * args.channels;
    args.ld_rows = K + random_below(3);
    uint8_t *input = malloc((size_t)args.height * args.row_stride);
    for (size_t i = 0; i < (size_t)args.height * args.row_stride; i++) input[i] = (uint8_t)random_below(256);
    args.input = input;
    const size_t rows_size = (size_t)out_h * out_w * args.ld_rows;
    uint8_t *rows = malloc(rows_size), *expected = malloc(rows_size);
    memset(rows, 0x5a, rows_size);
    memset(expected, 0x5a, rows_size);
    args.rows = rows;
    const int split = random_below(out_h + 1);
    ck_im2col_u8_nhwc(&args, 0, split);
    args.rows = rows + (size_t)split * out_w * args.ld_rows;
    ck_im2col_u8_nhwc(&args, split, out_h);
    for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++)
            for (int ky = 0; ky < args.kernel_h; ky++)
                for (int kx = 0; kx < args.kernel_w; kx++)
                    for (int c = 0; c < args.channels; c++) {
                        const int y = oy * args.stride_h - args.pad_top + ky * args.dilation_h;
                        const int x = ox * args.stride_w - args.pad_left + kx * args.dilation_w;
                        const int inside = y >= 0 && y < args.height && x >= 0 && x < args.width;
                        expected[(size_t)(oy * out_w + ox) * args.ld_rows + (ky * args.kernel_w + kx) * args.channels + c] =
                            inside ? input[(size_t)y * args.row_stride + (size_t)x * args.pixel_stride + c] : args.pad_value;
                    }
    const int same = memcmp(rows, expected, rows_size) == 0;
    if (!same) failures++;
    printf("im2col %2d H=%2d W=%2d C=%d k=%dx%d s=%d,%d d=%d pad=%d,%d out=%dx%d  %s\n", index, args.height, args.width,
           args.channels, args.kernel_h, args.kernel_w, args.stride_h, args.stride_w, args.dilation_h, args.pad_top,
           args.pad_left, out_h, out_w, same ? "ok" : "MISMATCH");
    hash_bytes(rows, rows_size);
    free(input); free(rows); free(expected);
}

static void run_quantize_case(void) {
    enum { COUNT = 1000 };
    float x[COUNT], back[COUNT];
    uint8_t q[COUNT];
    for (int i = 0; i < COUNT; i++) x[i] = random_float(100000, 8);
    x[0] = 0.5f; x[1] = 1.5f; x[2] = 2.5f; x[3] = -0.5f; x[4] = 1e30f; x[5] = -1e30f;
    ck_quantize_u8(x, q, COUNT, 0.25f, 128);
    ck_dequantize_u8(q, back, COUNT, 4.0f, 128);
    // rint ties to even: 0.5*1 -> 0, 1.5 -> 2, 2.5 -> 2 (inv_scale 0.25 is applied first, so check with 1.0 too)
    uint8_t ties[4];
    ck_quantize_u8(x, ties, 4, 1.0f, 10);
    const int same = ties[0] == 10 && ties[1] == 12 && ties[2] == 12 && ties[3] == 10 && q[4] == 255 && q[5] == 0;
    if (!same) failures++;
    printf("quantize ties=%d,%d,%d,%d huge=%d,%d  %s\n", ties[0], ties[1], ties[2], ties[3], q[4], q[5], same ? "ok" : "MISMATCH");
    hash_bytes(q, COUNT);
    hash_bytes(back, sizeof back);
}

// The portable float kernels (ckernels_float.h): the fixed-order GEMM against its naive fmaf definition, and the
// exp, sigmoid and window attention of the active float set against the portable C set; every output is hashed,
// so equal checksums across ISAs and architectures mean equal bits.
static int same_floats(const float *x, const float *y, size_t n) { return memcmp(x, y, n * sizeof(float)) == 0; }

static void run_float_gemm_case(int index, int M, int N, int K) {
    const int lda = K + random_below(3) * 3, ldc = N + random_below(3) * 5;
    float *a = malloc(sizeof(float) * (size_t)M * lda), *w = malloc(sizeof(float) * (size_t)N * K);
    for (size_t i = 0; i < (size_t)M * lda; i++) a[i] = random_float(1 << 20, 20);
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = random_float(1 << 20, 21);
    float *packed = malloc(sizeof(float) * ckf_gemm_packed_floats(N, K));
    ckf_gemm_pack(w, N, K, K, packed);
    float *c = malloc(sizeof(float) * (size_t)M * ldc), *expected = malloc(sizeof(float) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * ldc; i++) { c[i] = -7.0f; expected[i] = -7.0f; }
    const int split = random_below(M + 1);
    ckf_gemm_fixed(a, lda, packed, N, K, 0, split, c, ldc);
    ckf_gemm_fixed(a, lda, packed, N, K, split, M, c, ldc);
    ckf_gemm_fixed_reference(a, lda, w, K, N, K, 0, M, expected, ldc);
    const int same = same_floats(c, expected, (size_t)M * ldc);
    if (!same) failures++;
    printf("sgemm-fixed %2d M=%3d N=%3d K=%4d split=%d  %s\n", index, M, N, K, split, same ? "ok" : "MISMATCH");
    hash_bytes(c, sizeof(float) * (size_t)M * ldc);
    free(a); free(w); free(packed); free(c); free(expected);
}

static void run_float_elementwise_cases(ckf_isa isa) {
    enum { COUNT = 20011 };
    float *x = malloc(sizeof(float) * COUNT), *y = malloc(sizeof(float) * COUNT), *z = malloc(sizeof(float) * COUNT);
    for (int i = 0; i < COUNT; i++) x[i] = -100.0f + (float)i * 0.01f;
    x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY; x[3] = -0.0f;
    const char *names[2] = {"exp", "sigmoid"};
    for (int f = 0; f < 2; f++) {
        if (f == 0) ckf_exp_portable(x, y, COUNT); else ckf_sigmoid_portable(x, y, COUNT);
        ckf_force_isa(CKF_ISA_GENERIC);
        if (f == 0) ckf_exp_portable(x, z, COUNT); else ckf_sigmoid_portable(x, z, COUNT);
        ckf_force_isa(isa);
        const int same = same_floats(y, z, COUNT);
        if (!same) failures++;
        printf("%s-portable %d values, %s vs generic  %s\n", names[f], COUNT, ckf_isa_name(isa), same ? "ok" : "MISMATCH");
        hash_bytes(y, sizeof(float) * COUNT);
    }
    free(x); free(y); free(z);
}

static void run_float_attention_case(int index, ckf_isa isa, int heads, int head_dim, int H, int W) {
    ckf_attention_args args;
    memset(&args, 0, sizeof args);
    args.heads = heads; args.window = 3; args.channels = heads * head_dim; args.height = H; args.width = W;
    args.scale = 1.0f / sqrtf((float)head_dim);
    const size_t plane = (size_t)H * W, logits_count = (size_t)heads * 81 * plane;
    float *values = malloc(sizeof(float) * args.channels * plane), *logits = malloc(sizeof(float) * logits_count);
    for (size_t i = 0; i < (size_t)args.channels * plane; i++) values[i] = random_float(1 << 20, 19);
    for (size_t i = 0; i < logits_count; i++) logits[i] = random_float(1 << 20, 17);
    args.values = values; args.logits = logits;
    float *scratch = malloc(sizeof(float) * ckf_window_attention_scratch(&args));
    float *y = malloc(sizeof(float) * args.channels * plane), *z = malloc(sizeof(float) * args.channels * plane);
    args.output = y;
    const int split = random_below(H + 1);
    ckf_window_attention_portable(&args, 0, split, scratch);
    ckf_window_attention_portable(&args, split, H, scratch);
    ckf_force_isa(CKF_ISA_GENERIC);
    args.output = z;
    ckf_window_attention_portable(&args, 0, H, scratch);
    ckf_force_isa(isa);
    const int same = same_floats(y, z, (size_t)args.channels * plane);
    if (!same) failures++;
    printf("attention-portable %d heads=%d dim=%d H=%d W=%d split=%d, %s vs generic  %s\n", index, heads, head_dim, H, W,
           split, ckf_isa_name(isa), same ? "ok" : "MISMATCH");
    hash_bytes(y, sizeof(float) * args.channels * plane);
    free(values); free(logits); free(scratch); free(y); free(z);
}

// The window attention on NHWC buffers (active set, a random row split) against the planar portable C one.
static void run_float_attention_nhwc_case(int index, ckf_isa isa, int heads, int head_dim, int k, int H, int W) {
    ckf_attention_args args;
    memset(&args, 0, sizeof args);
    args.heads = heads; args.window = k; args.channels = heads * head_dim; args.height = H; args.width = W;
    args.scale = 1.0f / sqrtf((float)head_dim);
    const int C = args.channels, L = heads * k * k * k * k;
    const size_t plane = (size_t)H * W;
    float *values = malloc(sizeof(float) * C * plane), *logits = malloc(sizeof(float) * L * plane);
    float *values_nhwc = malloc(sizeof(float) * C * plane), *logits_nhwc = malloc(sizeof(float) * L * plane);
    for (size_t i = 0; i < (size_t)C * plane; i++) values[i] = random_float(1 << 20, 19);
    for (size_t i = 0; i < (size_t)L * plane; i++) logits[i] = random_float(1 << 20, 17);
    for (size_t p = 0; p < plane; p++) {
        for (int c = 0; c < C; c++) values_nhwc[p * C + c] = values[(size_t)c * plane + p];
        for (int c = 0; c < L; c++) logits_nhwc[p * L + c] = logits[(size_t)c * plane + p];
    }
    float *y = malloc(sizeof(float) * C * plane), *z = malloc(sizeof(float) * C * plane);
    const size_t nhwc_scratch = ckf_window_attention_nhwc_scratch(&args), planar_scratch = ckf_window_attention_scratch(&args);
    float *scratch = malloc(sizeof(float) * (nhwc_scratch > planar_scratch ? nhwc_scratch : planar_scratch));
    args.values = values_nhwc; args.logits = logits_nhwc; args.output = y;
    const int split = random_below(H + 1);
    ckf_window_attention_nhwc_portable(&args, 0, split, scratch);
    ckf_window_attention_nhwc_portable(&args, split, H, scratch);
    ckf_force_isa(CKF_ISA_GENERIC);
    args.values = values; args.logits = logits; args.output = z;
    ckf_window_attention_portable(&args, 0, H, scratch);
    ckf_force_isa(isa);
    int same = 1;
    for (size_t p = 0; p < plane && same; p++)
        for (int c = 0; c < C; c++)
            if (memcmp(&y[p * C + c], &z[(size_t)c * plane + p], sizeof(float)) != 0) { same = 0; break; }
    if (!same) failures++;
    printf("attention-nhwc %d heads=%d dim=%d k=%d H=%d W=%d split=%d, %s vs planar generic  %s\n", index, heads,
           head_dim, k, H, W, split, ckf_isa_name(isa), same ? "ok" : "MISMATCH");
    hash_bytes(y, sizeof(float) * C * plane);
    free(values); free(logits); free(values_nhwc); free(logits_nhwc); free(scratch); free(y); free(z);
}

// The float ops with a fused uint8 output and the per-pixel channel statistics (active set against the portable C
// set, and the vector quantize against ck_quantize_u8), and the convolution with its bias fused into the GEMM tiles
// (narrow and panel kernels) against the naive chain plus the bias.
static void run_float_op_cases(ckf_isa isa) {
    enum { C = 19, IN_H = 5, IN_W = 7, OUT_H = 10, OUT_W = 14, PIX = OUT_H * OUT_W, LD = C + 3, LQ = C + 5 };
    float *x = malloc(sizeof(float) * IN_H * IN_W * C), *gate = malloc(sizeof(float) * PIX * C);
    for (int i = 0; i < IN_H * IN_W * C; i++) x[i] = random_float(1 << 20, 16);
    for (int i = 0; i < PIX * C; i++) gate[i] = random_float(1 << 20, 20);
    int32_t r0[OUT_H], r1[OUT_H], c0[OUT_W], c1[OUT_W];
    float rw[OUT_H], cw[OUT_W];
    for (int o = 0; o < OUT_H; o++) {
        const float src = (float)(IN_H - 1) / (float)(OUT_H - 1) * (float)o;
        const int lo = (int)src < IN_H - 1 ? (int)src : IN_H - 1;
        r0[o] = lo; r1[o] = lo + (lo < IN_H - 1); rw[o] = src - (float)lo;
    }
    for (int o = 0; o < OUT_W; o++) {
        const float src = (float)(IN_W - 1) / (float)(OUT_W - 1) * (float)o;
        const int lo = (int)src < IN_W - 1 ? (int)src : IN_W - 1;
        c0[o] = lo; c1[o] = lo + (lo < IN_W - 1); cw[o] = src - (float)lo;
    }
    float *y[2], *m[2], *stats[2];
    uint8_t *q[2], *mq[2];
    for (int s = 0; s < 2; s++) {   // s = 0: the active set, 1: portable C
        y[s] = calloc(PIX * LD, sizeof(float)); m[s] = calloc(PIX * LD, sizeof(float));
        stats[s] = calloc(2 * PIX, sizeof(float));
        q[s] = calloc(PIX * LQ, 1); mq[s] = calloc(PIX * LQ, 1);
        ckf_force_isa(s == 0 ? isa : CKF_ISA_GENERIC);
        ckf_upsample_args u;
        memset(&u, 0, sizeof u);
        u.x = x; u.in_w = IN_W; u.channels = C; u.out_w = OUT_W;
        u.row_first = r0; u.row_second = r1; u.row_weight = rw; u.col_first = c0; u.col_second = c1; u.col_weight = cw;
        u.y = y[s]; u.ldy = LD; u.out_u8 = q[s]; u.ld_u8 = LQ; u.out_inv_scale = 7.5f; u.out_zero_point = 100;
        ckf_upsample_nhwc(&u, 0, 3);
        ckf_upsample_nhwc(&u, 3, OUT_H);
        // A channel gate on the upsampled floats' first pixels, then a pixel gate on the rest.
        float *dense = malloc(sizeof(float) * PIX * C);
        for (int p = 0; p < PIX; p++) memcpy(dense + p * C, y[s] + p * LD, sizeof(float) * C);
        ckf_mul_nhwc(dense, gate, C, 1, 0, 50, m[s], LD, mq[s], LQ, 12.0f, 7);
        ckf_mul_nhwc(dense, gate, C, 0, 50, PIX, m[s], LD, mq[s], LQ, 12.0f, 7);
        ckf_channel_mean_max_nhwc(dense, C, 0, 61, stats[s]);
        ckf_channel_mean_max_nhwc(dense, C, 61, PIX, stats[s]);
        free(dense);
    }
    ckf_force_isa(isa);
    const int same = same_floats(y[0], y[1], PIX * LD) && memcmp(q[0], q[1], PIX * LQ) == 0 &&
                     same_floats(m[0], m[1], PIX * LD) && memcmp(mq[0], mq[1], PIX * LQ) == 0 &&
                     same_floats(stats[0], stats[1], 2 * PIX);
    if (!same) failures++;
    printf("upsample, gate multiply, channel mean/max (uint8 fused), %s vs generic  %s\n", ckf_isa_name(isa),
           same ? "ok" : "MISMATCH");
    hash_bytes(y[0], sizeof(float) * PIX * LD); hash_bytes(q[0], PIX * LQ);
    hash_bytes(m[0], sizeof(float) * PIX * LD); hash_bytes(mq[0], PIX * LQ); hash_bytes(stats[0], sizeof(float) * 2 * PIX);
    // The vector quantize against the scalar one, ties and values past both clamps included.
    enum { QN = 1003 };
    float *v = malloc(sizeof(float) * QN);
    for (int i = 0; i < QN; i++) v[i] = random_float(1 << 22, 13);
    v[0] = NAN; v[1] = INFINITY; v[2] = -INFINITY; v[3] = 2.5f; v[4] = -3.5f; v[5] = 1e8f;
    uint8_t *qa = malloc(QN), *qb = malloc(QN);
    ckf_quantize_u8(v, qa, QN, 1.0f, 77);
    ck_quantize_u8(v, qb, QN, 1.0f, 77);
    const int same_q = memcmp(qa, qb, QN) == 0;
    if (!same_q) failures++;
    printf("quantize %d values, %s vs scalar  %s\n", QN, ckf_isa_name(isa), same_q ? "ok" : "MISMATCH");
    hash_bytes(qa, QN);
    // Convolutions with bias: 1 and 3 channels (narrow kernel), 37 (panels with a partial last one).
    static const int widths[3] = {1, 3, 37};
    for (int t = 0; t < 3; t++) {
        const int N = widths[t], K = 29, M = 45;
        float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *bias = malloc(sizeof(float) * N);
        for (int i = 0; i < M * K; i++) a[i] = random_float(1 << 20, 19);
        for (int i = 0; i < N * K; i++) w[i] = random_float(1 << 20, 21);
        for (int i = 0; i < N; i++) bias[i] = random_float(1 << 20, 18);
        float *packed = malloc(sizeof(float) * ckf_gemm_packed_floats(N, K));
        ckf_gemm_pack(w, N, K, K, packed);
        float *got = malloc(sizeof(float) * M * N), *want = malloc(sizeof(float) * M * N);
        ckf_gemm_fixed_reference(a, K, w, K, N, K, 0, M, want, N);
        for (int i = 0; i < M * N; i++) want[i] = want[i] + bias[i % N];
        ckf_conv_args g;
        memset(&g, 0, sizeof g);
        g.a = a; g.lda = K; g.packed = packed; g.n = N; g.k = K; g.bias = bias; g.c = got; g.ldc = N;
        ckf_conv_fixed(&g, 0, 20, NULL);
        ckf_conv_fixed(&g, 20, M, NULL);
        const int same_c = same_floats(got, want, (size_t)M * N);
        if (!same_c) failures++;
        printf("conv-fixed with bias N=%d, %s vs naive  %s\n", N, ckf_isa_name(isa), same_c ? "ok" : "MISMATCH");
        hash_bytes(got, sizeof(float) * M * N);
        free(a); free(w); free(bias); free(packed); free(got); free(want);
    }
    for (int s = 0; s < 2; s++) { free(y[s]); free(m[s]); free(stats[s]); free(q[s]); free(mq[s]); }
    free(x); free(gate); free(v); free(qa); free(qb);
}

static void run_float_cases(void) {
    const ckf_isa isa = ckf_active_isa();
    static const int sizes[] = {1, 2, 5, 6, 7, 13, 16, 17, 31, 33, 64, 121, 324};
    for (int i = 0; i < 24; i++) {   // one draw per statement: argument evaluation order differs between compilers
        const int M = sizes[random_below(13)] + random_below(9);
        const int N = sizes[random_below(13)];
        const int K = sizes[random_below(13)] * (1 + random_below(4));
        run_float_gemm_case(i, M, N, K);
    }
    run_float_gemm_case(24, 250, 324, 64);
    run_float_gemm_case(25, 131, 1, 98);
    run_float_elementwise_cases(isa);
    run_float_attention_case(0, isa, 2, 4, 9, 21);
    run_float_attention_case(1, isa, 1, 3, 5, 6);
    run_float_attention_case(2, isa, 4, 2, 12, 8);
    run_float_attention_nhwc_case(0, isa, 4, 16, 3, 13, 21);
    run_float_attention_nhwc_case(1, isa, 2, 12, 3, 9, 6);
    run_float_attention_nhwc_case(2, isa, 1, 3, 3, 1, 17);
    run_float_attention_nhwc_case(3, isa, 2, 8, 5, 11, 16);
    run_float_attention_nhwc_case(4, isa, 1, 21, 3, 10, 12);
    run_float_op_cases(isa);
}

// Int8 Winograd F(m x m, 3x3) (m = 2 or 4) against im2col + ck_qgemm_u8s8_reference of the same 3x3 stride-1
// convolution: random sizes (odd, a single row or column, channel counts off the 16-lane blocks), dilations 1 to 3,
// paddings, pixel and row strides wider than the data, the tile rows split in two uneven calls; `extreme` puts every
// input at 0 or 255 and every weight at the limit (the largest transformed values: |V| = 1020 or 25500, |U'| = 9 or
// 49 times the limit).
static void run_winograd_case(int index, int m, int extreme, int limit) {
    const int H = 1 + random_below(19), W = 1 + random_below(19), C = 1 + random_below(40) + (random_below(3) == 0 ? 64 : 0);
    const int N = 1 + random_below(40), d = 1 + random_below(3), pad = random_below(2) ? d : random_below(d + 1);
    const int out_h = H + 2 * pad - 2 * d, out_w = W + 2 * pad - 2 * d;
    if (out_h < 1 || out_w < 1) { run_winograd_case(index, m, extreme, limit); return; }
    const ptrdiff_t pixel_stride = C + random_below(3), row_stride = W * pixel_stride + random_below(5);
    uint8_t *input = malloc((size_t)H * row_stride);
    for (size_t i = 0; i < (size_t)H * row_stride; i++) input[i] = extreme ? (random_below(2) ? 255 : 0) : (uint8_t)random_below(256);
    const int K = 9 * C;
    int8_t *w = malloc((size_t)N * K);
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = (int8_t)(extreme ? (random_below(2) ? limit : -limit) : -limit + random_below(2 * limit + 1));
    float *multiplier = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
    for (int n = 0; n < N; n++) { multiplier[n] = (float)(1 + random_below(1000)) / (float)(1 << 22); bias[n] = random_float(4000, 10); }
    const int M = out_h * out_w, ldc = N + random_below(3) * 3;
    float *residual = malloc(sizeof(float) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * ldc; i++) residual[i] = random_float(3000, 9);
    const size_t out_count = (size_t)M * ldc;
    float *f_fast = malloc(sizeof(float) * out_count), *f_ref = malloc(sizeof(float) * out_count);
    uint8_t *q_fast = malloc(out_count), *q_ref = malloc(out_count);
    for (size_t i = 0; i < out_count; i++) { f_fast[i] = f_ref[i] = -7.25f; q_fast[i] = q_ref[i] = 0xa5; }
    void *packed = malloc(ck_qgemm_packed_size(N, K)), *packed_wino = malloc(ck_qwino_packed_size(m, N, C));
    void *scratch = malloc(ck_qwino_scratch_size(m, C));
    int status = ck_qgemm_pack_weights(w, N, K, packed) | ck_qwino_pack_weights(m, w, N, C, packed_wino);

    ck_im2col_args im;
    memset(&im, 0, sizeof im);
    im.input = input; im.height = H; im.width = W; im.channels = C; im.pixel_stride = pixel_stride; im.row_stride = row_stride;
    im.kernel_h = im.kernel_w = 3; im.stride_h = im.stride_w = 1; im.pad_top = im.pad_left = pad;
    im.dilation_h = im.dilation_w = d; im.out_width = out_w; im.pad_value = (uint8_t)random_below(256);
    uint8_t *rows = malloc((size_t)M * K);
    im.rows = rows; im.ld_rows = K;
    ck_im2col_u8_nhwc(&im, 0, out_h);
    ck_qgemm_args args;
    memset(&args, 0, sizeof args);
    args.M = M; args.N = N; args.K = K; args.a = rows; args.lda = K; args.packed_b = packed;
    args.a_zero_point = im.pad_value; args.multiplier = multiplier; args.bias = random_below(4) ? bias : NULL;
    args.relu = random_below(2); args.ldc = ldc; args.ld_residual = ldc;
    if (random_below(2)) args.residual_f32 = residual;
    args.out_inv_scale = (float)(1 + random_below(400)) / 64.0f; args.out_zero_point = random_below(256);
    const int out_kind = random_below(3);        // 0 uint8, 1 float, 2 both
    ck_qgemm_args reference = args;
    if (out_kind != 1) { args.out_u8 = q_fast; reference.out_u8 = q_ref; }
    if (out_kind != 0) { args.out_f32 = f_fast; reference.out_f32 = f_ref; }
    ck_qgemm_u8s8_reference(w, &reference, 0, M);

    ck_qwino_args wa;
    memset(&wa, 0, sizeof wa);
    wa.input = input; wa.height = H; wa.width = W; wa.channels = C; wa.pixel_stride = pixel_stride; wa.row_stride = row_stride;
    wa.pad_top = wa.pad_left = pad; wa.dilation_h = wa.dilation_w = d; wa.out_height = out_h; wa.out_width = out_w;
    wa.pad_value = im.pad_value; wa.packed_wino = packed_wino; wa.epilogue = &args;
    const int tile_rows = ck_qwino_tile_rows(m, out_h, d), split = random_below(tile_rows + 1);
    status |= ck_qwino_u8s8(&wa, 0, split, scratch);
    status |= ck_qwino_u8s8(&wa, split, tile_rows, scratch);
    const int same = status == 0 && memcmp(q_fast, q_ref, out_count) == 0 && memcmp(f_fast, f_ref, sizeof(float) * out_count) == 0;
    if (!same) failures++;
    printf("winograd F(%d) %2d H=%2d W=%2d C=%3d N=%2d d=%d pad=%d |w|<=%3d zp=%3d out=%d extreme=%d  %s\n", m, index, H, W,
           C, N, d, pad, limit, im.pad_value, out_kind, extreme, same ? "ok" : "MISMATCH");
    hash_bytes(q_fast, out_count);
    hash_bytes(f_fast, sizeof(float) * out_count);
    free(input); free(w); free(multiplier); free(bias); free(residual); free(f_fast); free(f_ref); free(q_fast); free(q_ref);
    free(packed); free(packed_wino); free(scratch); free(rows);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        int found = 0;
        for (int isa = CK_ISA_GENERIC; isa <= CK_ISA_NEONDOT; isa++) {
            if (strcmp(argv[1], ck_isa_name((ck_isa)isa)) == 0) {
                found = 1;
                if (!ck_force_isa((ck_isa)isa)) { printf("isa %s not supported on this CPU\n", argv[1]); return 77; }
            }
        }
        if (!found) { fprintf(stderr, "ck_selftest: unknown isa '%s'\n", argv[1]); return 2; }
        // The float kernels follow: portable C with `generic`, else the best set of this CPU.
        ckf_force_isa(strcmp(argv[1], "generic") == 0 ? CKF_ISA_GENERIC : ckf_detected_isa());
    }
    printf("isa detected=%s active=%s float=%s\n", ck_isa_name(ck_detected_isa()), ck_isa_name(ck_active_isa()),
           ckf_isa_name(ckf_active_isa()));
    static const int sizes[] = {1, 3, 5, 7, 17, 31, 63, 65, 129};
    int index = 0;
    for (int i = 0; i < 40; i++) {
        const int M = sizes[random_below(9)] + random_below(2) * random_below(40);
        const int N = sizes[random_below(9)];
        const int K = sizes[random_below(9)] * (1 + random_below(3));
        run_gemm_case(index++, M, N, K, 0, i % 2 ? 128 : 64);
    }
    // Extreme values with large K: any int16 saturation in a kernel shows up here, for full-range weights, for
    // weights at the edge of the vpmaddubsw kernel's range (+-64, where a pair sum reaches 2 * 255 * 64 = 32640) and
    // at the edge of the two-vpmaddubsw kernel's (+-32, where a sum of four products reaches 4 * 255 * 32 = 32640).
    static const int edge_limits[] = {128, 64, 65, 32, 33};
    for (int l = 0; l < 5; l++) {
        const int limit = edge_limits[l];
        run_gemm_case(index++, 9, 33, 4099, 1, limit);
        run_gemm_case(index++, 5, 16, 2304, 2, limit);
        run_gemm_case(index++, 6, 17, 1153, 3, limit);
        run_gemm_case(index++, 70, 64, 576, 0, limit);
        run_gemm_case(index++, 37, 128, 1155, 0, limit);
    }
    // The edges of the 16-k blocks the dotprod kernel's assembly loop runs (none, one, two, three, with and
    // without a 4-k tail after them), with 1 to 8 rows (every row count of a 4-row tile, alone and after a full
    // tile) and channel counts that leave a partial 16-channel panel; random values, then extreme ones.
    static const int block_edges[] = {12, 15, 16, 17, 20, 31, 32, 33, 47, 48, 52, 64};
    for (int i = 0; i < 24; i++)
        run_gemm_case(index++, 1 + i % 8, i % 3 == 0 ? 16 : i % 3 == 1 ? 5 : 35, block_edges[i % 12], i >= 12, 128);
    // 6-bit weights (+-32 here, the two-vpmaddubsw kernel on AVX2) on odd shapes: K with 0 to 3 values past a
    // multiple of 4 and an odd or even number of 4-k groups, row counts around its 4-row tile, partial panels.
    for (int i = 0; i < 24; i++) {
        const int M = 1 + random_below(9) + (i % 3 == 0 ? 48 : 0);
        const int N = sizes[random_below(9)];
        const int K = 1 + random_below(40) + (i % 4 == 0 ? 576 : 0);
        run_gemm_case(index++, M, N, K, i % 6 == 5, 32);
    }
    for (int i = 0; i < 20; i++) run_im2col_case(i);
    run_quantize_case();
    run_float_cases();
    for (int i = 0; i < 48; i++) run_winograd_case(i % 24, i < 24 ? 2 : 4, i % 4 == 3, i % 3 == 0 ? 127 : i % 3 == 1 ? 63 : 31);
    printf("checksum %016llx failures %d\n", (unsigned long long)checksum, failures);
    return failures ? 1 : 0;
}
