// aarch64 NEON dotprod (Armv8.2 FEAT_DotProd) int8 GEMM kernel. sdot multiplies signed bytes only, so A is
// flipped to A xor 0x80 = A - 128 (int8) and the epilogue adds 128 * column_sum back (exact). Blocks of
// 4 rows x 16 channels: 16 int32x4 accumulators, one sdot-by-lane per 4 channels x 4 k per row.
// The steady-state loop over blocks of 16 k is inline assembly scheduled for an in-order dual-issue core
// (Cortex-A55) and still saturates the two SIMD pipes of an out-of-order one (Cortex-A76 class); see
// neondot_blocks_asm. The intrinsics loop is the same computation for compilers without GNU inline assembly.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__aarch64__)
#include "ck_neon_epilogue.h"

#if defined(__clang__)
#define NEONDOT_TARGET __attribute__((target("dotprod")))
#else
#define NEONDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define NEONDOT_ROWS 4
#define NEONDOT_ROW_BLOCK 64

// One k group for every row: a[r] holds the row's 4 flipped bytes in lane 0 (in lanes `lane` of a 16-byte load).
#define NEONDOT_GROUP(b_ptr, a_vectors, lane)                                                   \
    do {                                                                                        \
        const int8x16_t w0 = vld1q_s8((b_ptr)), w1 = vld1q_s8((b_ptr) + 16);                    \
        const int8x16_t w2 = vld1q_s8((b_ptr) + 32), w3 = vld1q_s8((b_ptr) + 48);               \
        for (int r = 0; r < NEONDOT_ROWS; r++) {                                                \
            acc[r][0] = vdotq_laneq_s32(acc[r][0], w0, a_vectors[r], lane);                     \
            acc[r][1] = vdotq_laneq_s32(acc[r][1], w1, a_vectors[r], lane);                     \
            acc[r][2] = vdotq_laneq_s32(acc[r][2], w2, a_vectors[r], lane);                     \
            acc[r][3] = vdotq_laneq_s32(acc[r][3], w3, a_vectors[r], lane);                     \
        }                                                                                       \
    } while (0)

#if defined(__GNUC__) || defined(__clang__)
#define NEONDOT_ASM 1
// The K / 16 full blocks of 16 k for 4 rows x 16 channels; writes the 16 accumulators (zero-based) to acc.
// Registers: v16..v31 = acc[r][c] (v16 + 4r + c); v0..v3 = the rows' 16 flipped bytes (lane g of the 4-byte
// lanes = k group g); v4..v7 and v8..v11 = the 4 weight vectors (4 k x 4 channels each) of even and odd k
// groups; v12 = 0x80 in every byte, v13 = 0x01.
// Schedule (one pass = one block = 64 sdot): while group g's 16 sdot run, the weights of group g + 1 are loaded
// into the other weight set (freed by group g - 1), two sdot apart; in group 3 each row's next 16 bytes are
// loaded into its register as soon as its last sdot of the block has issued, and flipped in place four or
// more sdot later (rows 2 and 3 early in the next pass's group 0, which uses them last). Every instruction
// between the sdot produces its result with sdot's own 4-cycle latency in the Cortex-A55 model (register-offset
// loads, `mla` for the flip: x + 0x80 * 1 = x xor 0x80 in every byte, `madd`/`msub` for pointer and counter
// steps), so the in-order core never holds an sdot back to keep write-backs in order; each of those fills the
// second issue slot next to an sdot. The last pass is a copy without the loads for a next block, so nothing
// past the last block of A or of the panel is read. Integer sums: the result does not depend on the order.
NEONDOT_TARGET static void neondot_blocks_asm(const uint8_t *const a_rows[NEONDOT_ROWS], const int8_t *b,
                                              int blocks, int32x4_t acc[NEONDOT_ROWS][4]) {
    uint64_t p1, p2, p3, p4, o0, o1, o2, o3, k, n, c16, c1;
    __asm__ volatile(
        "movi v12.16b, #0x80\n\t"
        "movi v13.16b, #1\n\t"
        "movi v16.4s, #0\n\t" "movi v17.4s, #0\n\t" "movi v18.4s, #0\n\t" "movi v19.4s, #0\n\t"
        "movi v20.4s, #0\n\t" "movi v21.4s, #0\n\t" "movi v22.4s, #0\n\t" "movi v23.4s, #0\n\t"
        "movi v24.4s, #0\n\t" "movi v25.4s, #0\n\t" "movi v26.4s, #0\n\t" "movi v27.4s, #0\n\t"
        "movi v28.4s, #0\n\t" "movi v29.4s, #0\n\t" "movi v30.4s, #0\n\t" "movi v31.4s, #0\n\t"
        // First block: rows 0 and 1 flipped here, rows 2 and 3 by the pass (group 0); group 0's weights.
        "ldr q0, [%[a0]]\n\t"
        "ldr q1, [%[a1]]\n\t"
        "ldr q2, [%[a2]]\n\t"
        "ldr q3, [%[a3]]\n\t"
        "ldp q4, q5, [%[b]]\n\t"
        "ldp q6, q7, [%[b], #32]\n\t"
        "eor v0.16b, v0.16b, v12.16b\n\t"
        "eor v1.16b, v1.16b, v12.16b\n\t"
        // p1..p3: weights of groups 1..3 of the current block, p4: group 0 of the next; o0..o3: the 4 vectors;
        // k: offset of the next block in each row; n: passes left that load a next block.
        "add %[p1], %[b], #64\n\t"
        "add %[p2], %[b], #128\n\t"
        "add %[p3], %[b], #192\n\t"
        "add %[p4], %[b], #256\n\t"
        "mov %[o0], #0\n\t"
        "mov %[o1], #16\n\t"
        "mov %[o2], #32\n\t"
        "mov %[o3], #48\n\t"
        "mov %[k], #0\n\t"
        "mov %[c16], #16\n\t"
        "mov %[c1], #1\n\t"
        "sub %[n], %[blocks], #1\n\t"
        "cbz %[n], 2f\n\t"
        "1:\n\t"
        // pass, group 0
        "sdot v16.4s, v4.16b, v0.4b[0]\n\t"
        "ldr q8, [%[p1], %[o0]]\n\t"
        "sdot v17.4s, v5.16b, v0.4b[0]\n\t"
        "mla v2.16b, v12.16b, v13.16b\n\t"
        "sdot v18.4s, v6.16b, v0.4b[0]\n\t"
        "mla v3.16b, v12.16b, v13.16b\n\t"
        "ldr q9, [%[p1], %[o1]]\n\t"
        "sdot v19.4s, v7.16b, v0.4b[0]\n\t"
        "sdot v20.4s, v4.16b, v1.4b[0]\n\t"
        "ldr q10, [%[p1], %[o2]]\n\t"
        "sdot v21.4s, v5.16b, v1.4b[0]\n\t"
        "sdot v22.4s, v6.16b, v1.4b[0]\n\t"
        "ldr q11, [%[p1], %[o3]]\n\t"
        "sdot v23.4s, v7.16b, v1.4b[0]\n\t"
        "sdot v24.4s, v4.16b, v2.4b[0]\n\t"
        "madd %[p1], %[c16], %[c16], %[p1]\n\t"
        "sdot v25.4s, v5.16b, v2.4b[0]\n\t"
        "sdot v26.4s, v6.16b, v2.4b[0]\n\t"
        "madd %[k], %[c16], %[c1], %[k]\n\t"
        "sdot v27.4s, v7.16b, v2.4b[0]\n\t"
        "sdot v28.4s, v4.16b, v3.4b[0]\n\t"
        "sdot v29.4s, v5.16b, v3.4b[0]\n\t"
        "sdot v30.4s, v6.16b, v3.4b[0]\n\t"
        "sdot v31.4s, v7.16b, v3.4b[0]\n\t"
        // pass, group 1
        "sdot v16.4s, v8.16b, v0.4b[1]\n\t"
        "ldr q4, [%[p2], %[o0]]\n\t"
        "sdot v17.4s, v9.16b, v0.4b[1]\n\t"
        "sdot v18.4s, v10.16b, v0.4b[1]\n\t"
        "ldr q5, [%[p2], %[o1]]\n\t"
        "sdot v19.4s, v11.16b, v0.4b[1]\n\t"
        "sdot v20.4s, v8.16b, v1.4b[1]\n\t"
        "ldr q6, [%[p2], %[o2]]\n\t"
        "sdot v21.4s, v9.16b, v1.4b[1]\n\t"
        "sdot v22.4s, v10.16b, v1.4b[1]\n\t"
        "ldr q7, [%[p2], %[o3]]\n\t"
        "sdot v23.4s, v11.16b, v1.4b[1]\n\t"
        "sdot v24.4s, v8.16b, v2.4b[1]\n\t"
        "madd %[p2], %[c16], %[c16], %[p2]\n\t"
        "sdot v25.4s, v9.16b, v2.4b[1]\n\t"
        "sdot v26.4s, v10.16b, v2.4b[1]\n\t"
        "msub %[n], %[c1], %[c1], %[n]\n\t"
        "sdot v27.4s, v11.16b, v2.4b[1]\n\t"
        "sdot v28.4s, v8.16b, v3.4b[1]\n\t"
        "sdot v29.4s, v9.16b, v3.4b[1]\n\t"
        "sdot v30.4s, v10.16b, v3.4b[1]\n\t"
        "sdot v31.4s, v11.16b, v3.4b[1]\n\t"
        // pass, group 2
        "sdot v16.4s, v4.16b, v0.4b[2]\n\t"
        "ldr q8, [%[p3], %[o0]]\n\t"
        "sdot v17.4s, v5.16b, v0.4b[2]\n\t"
        "sdot v18.4s, v6.16b, v0.4b[2]\n\t"
        "ldr q9, [%[p3], %[o1]]\n\t"
        "sdot v19.4s, v7.16b, v0.4b[2]\n\t"
        "sdot v20.4s, v4.16b, v1.4b[2]\n\t"
        "ldr q10, [%[p3], %[o2]]\n\t"
        "sdot v21.4s, v5.16b, v1.4b[2]\n\t"
        "sdot v22.4s, v6.16b, v1.4b[2]\n\t"
        "ldr q11, [%[p3], %[o3]]\n\t"
        "sdot v23.4s, v7.16b, v1.4b[2]\n\t"
        "sdot v24.4s, v4.16b, v2.4b[2]\n\t"
        "madd %[p3], %[c16], %[c16], %[p3]\n\t"
        "sdot v25.4s, v5.16b, v2.4b[2]\n\t"
        "sdot v26.4s, v6.16b, v2.4b[2]\n\t"
        "sdot v27.4s, v7.16b, v2.4b[2]\n\t"
        "sdot v28.4s, v4.16b, v3.4b[2]\n\t"
        "sdot v29.4s, v5.16b, v3.4b[2]\n\t"
        "sdot v30.4s, v6.16b, v3.4b[2]\n\t"
        "sdot v31.4s, v7.16b, v3.4b[2]\n\t"
        // pass, group 3
        "sdot v16.4s, v8.16b, v0.4b[3]\n\t"
        "ldr q4, [%[p4], %[o0]]\n\t"
        "sdot v17.4s, v9.16b, v0.4b[3]\n\t"
        "sdot v18.4s, v10.16b, v0.4b[3]\n\t"
        "ldr q5, [%[p4], %[o1]]\n\t"
        "sdot v19.4s, v11.16b, v0.4b[3]\n\t"
        "ldr q0, [%[a0], %[k]]\n\t"
        "sdot v20.4s, v8.16b, v1.4b[3]\n\t"
        "ldr q6, [%[p4], %[o2]]\n\t"
        "sdot v21.4s, v9.16b, v1.4b[3]\n\t"
        "sdot v22.4s, v10.16b, v1.4b[3]\n\t"
        "ldr q7, [%[p4], %[o3]]\n\t"
        "sdot v23.4s, v11.16b, v1.4b[3]\n\t"
        "ldr q1, [%[a1], %[k]]\n\t"
        "sdot v24.4s, v8.16b, v2.4b[3]\n\t"
        "madd %[p4], %[c16], %[c16], %[p4]\n\t"
        "sdot v25.4s, v9.16b, v2.4b[3]\n\t"
        "mla v0.16b, v12.16b, v13.16b\n\t"
        "sdot v26.4s, v10.16b, v2.4b[3]\n\t"
        "sdot v27.4s, v11.16b, v2.4b[3]\n\t"
        "ldr q2, [%[a2], %[k]]\n\t"
        "sdot v28.4s, v8.16b, v3.4b[3]\n\t"
        "sdot v29.4s, v9.16b, v3.4b[3]\n\t"
        "mla v1.16b, v12.16b, v13.16b\n\t"
        "sdot v30.4s, v10.16b, v3.4b[3]\n\t"
        "sdot v31.4s, v11.16b, v3.4b[3]\n\t"
        "ldr q3, [%[a3], %[k]]\n\t"
        "cbnz %[n], 1b\n\t"
        "2:\n\t"
        // last pass, group 0
        "sdot v16.4s, v4.16b, v0.4b[0]\n\t"
        "ldr q8, [%[p1], %[o0]]\n\t"
        "sdot v17.4s, v5.16b, v0.4b[0]\n\t"
        "mla v2.16b, v12.16b, v13.16b\n\t"
        "sdot v18.4s, v6.16b, v0.4b[0]\n\t"
        "mla v3.16b, v12.16b, v13.16b\n\t"
        "ldr q9, [%[p1], %[o1]]\n\t"
        "sdot v19.4s, v7.16b, v0.4b[0]\n\t"
        "sdot v20.4s, v4.16b, v1.4b[0]\n\t"
        "ldr q10, [%[p1], %[o2]]\n\t"
        "sdot v21.4s, v5.16b, v1.4b[0]\n\t"
        "sdot v22.4s, v6.16b, v1.4b[0]\n\t"
        "ldr q11, [%[p1], %[o3]]\n\t"
        "sdot v23.4s, v7.16b, v1.4b[0]\n\t"
        "sdot v24.4s, v4.16b, v2.4b[0]\n\t"
        "sdot v25.4s, v5.16b, v2.4b[0]\n\t"
        "sdot v26.4s, v6.16b, v2.4b[0]\n\t"
        "sdot v27.4s, v7.16b, v2.4b[0]\n\t"
        "sdot v28.4s, v4.16b, v3.4b[0]\n\t"
        "sdot v29.4s, v5.16b, v3.4b[0]\n\t"
        "sdot v30.4s, v6.16b, v3.4b[0]\n\t"
        "sdot v31.4s, v7.16b, v3.4b[0]\n\t"
        // last pass, group 1
        "sdot v16.4s, v8.16b, v0.4b[1]\n\t"
        "ldr q4, [%[p2], %[o0]]\n\t"
        "sdot v17.4s, v9.16b, v0.4b[1]\n\t"
        "sdot v18.4s, v10.16b, v0.4b[1]\n\t"
        "ldr q5, [%[p2], %[o1]]\n\t"
        "sdot v19.4s, v11.16b, v0.4b[1]\n\t"
        "sdot v20.4s, v8.16b, v1.4b[1]\n\t"
        "ldr q6, [%[p2], %[o2]]\n\t"
        "sdot v21.4s, v9.16b, v1.4b[1]\n\t"
        "sdot v22.4s, v10.16b, v1.4b[1]\n\t"
        "ldr q7, [%[p2], %[o3]]\n\t"
        "sdot v23.4s, v11.16b, v1.4b[1]\n\t"
        "sdot v24.4s, v8.16b, v2.4b[1]\n\t"
        "sdot v25.4s, v9.16b, v2.4b[1]\n\t"
        "sdot v26.4s, v10.16b, v2.4b[1]\n\t"
        "sdot v27.4s, v11.16b, v2.4b[1]\n\t"
        "sdot v28.4s, v8.16b, v3.4b[1]\n\t"
        "sdot v29.4s, v9.16b, v3.4b[1]\n\t"
        "sdot v30.4s, v10.16b, v3.4b[1]\n\t"
        "sdot v31.4s, v11.16b, v3.4b[1]\n\t"
        // last pass, group 2
        "sdot v16.4s, v4.16b, v0.4b[2]\n\t"
        "ldr q8, [%[p3], %[o0]]\n\t"
        "sdot v17.4s, v5.16b, v0.4b[2]\n\t"
        "sdot v18.4s, v6.16b, v0.4b[2]\n\t"
        "ldr q9, [%[p3], %[o1]]\n\t"
        "sdot v19.4s, v7.16b, v0.4b[2]\n\t"
        "sdot v20.4s, v4.16b, v1.4b[2]\n\t"
        "ldr q10, [%[p3], %[o2]]\n\t"
        "sdot v21.4s, v5.16b, v1.4b[2]\n\t"
        "sdot v22.4s, v6.16b, v1.4b[2]\n\t"
        "ldr q11, [%[p3], %[o3]]\n\t"
        "sdot v23.4s, v7.16b, v1.4b[2]\n\t"
        "sdot v24.4s, v4.16b, v2.4b[2]\n\t"
        "sdot v25.4s, v5.16b, v2.4b[2]\n\t"
        "sdot v26.4s, v6.16b, v2.4b[2]\n\t"
        "sdot v27.4s, v7.16b, v2.4b[2]\n\t"
        "sdot v28.4s, v4.16b, v3.4b[2]\n\t"
        "sdot v29.4s, v5.16b, v3.4b[2]\n\t"
        "sdot v30.4s, v6.16b, v3.4b[2]\n\t"
        "sdot v31.4s, v7.16b, v3.4b[2]\n\t"
        // last pass, group 3
        "sdot v16.4s, v8.16b, v0.4b[3]\n\t"
        "sdot v17.4s, v9.16b, v0.4b[3]\n\t"
        "sdot v18.4s, v10.16b, v0.4b[3]\n\t"
        "sdot v19.4s, v11.16b, v0.4b[3]\n\t"
        "sdot v20.4s, v8.16b, v1.4b[3]\n\t"
        "sdot v21.4s, v9.16b, v1.4b[3]\n\t"
        "sdot v22.4s, v10.16b, v1.4b[3]\n\t"
        "sdot v23.4s, v11.16b, v1.4b[3]\n\t"
        "sdot v24.4s, v8.16b, v2.4b[3]\n\t"
        "sdot v25.4s, v9.16b, v2.4b[3]\n\t"
        "sdot v26.4s, v10.16b, v2.4b[3]\n\t"
        "sdot v27.4s, v11.16b, v2.4b[3]\n\t"
        "sdot v28.4s, v8.16b, v3.4b[3]\n\t"
        "sdot v29.4s, v9.16b, v3.4b[3]\n\t"
        "sdot v30.4s, v10.16b, v3.4b[3]\n\t"
        "sdot v31.4s, v11.16b, v3.4b[3]\n\t"
        "stp q16, q17, [%[acc]]\n\t"
        "stp q18, q19, [%[acc], #32]\n\t"
        "stp q20, q21, [%[acc], #64]\n\t"
        "stp q22, q23, [%[acc], #96]\n\t"
        "stp q24, q25, [%[acc], #128]\n\t"
        "stp q26, q27, [%[acc], #160]\n\t"
        "stp q28, q29, [%[acc], #192]\n\t"
        "stp q30, q31, [%[acc], #224]\n\t"
        : [p1] "=&r"(p1), [p2] "=&r"(p2), [p3] "=&r"(p3), [p4] "=&r"(p4), [o0] "=&r"(o0), [o1] "=&r"(o1),
          [o2] "=&r"(o2), [o3] "=&r"(o3), [k] "=&r"(k), [n] "=&r"(n), [c16] "=&r"(c16), [c1] "=&r"(c1)
        : [a0] "r"(a_rows[0]), [a1] "r"(a_rows[1]), [a2] "r"(a_rows[2]), [a3] "r"(a_rows[3]), [b] "r"(b),
          [blocks] "r"((uint64_t)blocks), [acc] "r"(acc)
        : "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",
          "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29",
          "v30", "v31");
}
#endif

NEONDOT_TARGET static inline void neondot_micro_kernel(const uint8_t *const a_rows[NEONDOT_ROWS], const int8_t *b,
                                                       int K, int32x4_t acc[NEONDOT_ROWS][4]) {
    int8x16_t a[NEONDOT_ROWS];
    int k = 0;
#if defined(NEONDOT_ASM)
    if (K >= 16) {
        neondot_blocks_asm(a_rows, b, K / 16, acc);
        k = K / 16 * 16;
        b += (size_t)(K / 16) * 256;
    } else {
        for (int r = 0; r < NEONDOT_ROWS; r++)
            for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    }
#else
    for (int r = 0; r < NEONDOT_ROWS; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    const uint8x16_t flip = vdupq_n_u8(0x80);
    for (; k + 16 <= K; k += 16, b += 256) {
        for (int r = 0; r < NEONDOT_ROWS; r++) a[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a_rows[r] + k), flip));
        NEONDOT_GROUP(b, a, 0);
        NEONDOT_GROUP(b + 64, a, 1);
        NEONDOT_GROUP(b + 128, a, 2);
        NEONDOT_GROUP(b + 192, a, 3);
    }
#endif
    for (; k < K; k += 4, b += 64) {
        const int count = K - k < 4 ? K - k : 4;
        for (int r = 0; r < NEONDOT_ROWS; r++) {
            const uint32_t word = ck_load_group(a_rows[r] + k, count) ^ 0x80808080u;
            a[r] = vreinterpretq_s8_u32(vdupq_n_u32(word));
        }
        NEONDOT_GROUP(b, a, 0);
    }
}

NEONDOT_TARGET void ck_qgemm_u8s8_neondot(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += NEONDOT_ROW_BLOCK) {
        const int block_end = m_end - block < NEONDOT_ROW_BLOCK ? m_end : block + NEONDOT_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = args->N - n0 < CK_PANEL_WIDTH ? args->N - n0 : CK_PANEL_WIDTH;
            ck_neon_panel_constants constants;
            ck_neon_panel_constants_init(&constants, args, n0, columns);
            for (int m0 = block; m0 < block_end; m0 += NEONDOT_ROWS) {
                const int rows = block_end - m0 < NEONDOT_ROWS ? block_end - m0 : NEONDOT_ROWS;
                const uint8_t *a_rows[NEONDOT_ROWS];
                for (int r = 0; r < NEONDOT_ROWS; r++)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                int32x4_t acc[NEONDOT_ROWS][4];
                neondot_micro_kernel(a_rows, panels + (size_t)panel * panel_bytes, args->K, acc);
                for (int r = 0; r < rows; r++) ck_neon_epilogue_row(args, &constants, m0 + r, n0, columns, acc[r]);
            }
        }
    }
}
#endif
