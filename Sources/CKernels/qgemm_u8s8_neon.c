// aarch64 plain NEON (Armv8.0, e.g. Cortex-A53) int8 GEMM kernel. A is flipped to A xor 0x80 = A - 128 (int8)
// so smull can multiply it with the int8 weights: each product fits int16 (|p| <= 16384), and sadalp adds
// pairs of products straight into int32, so nothing saturates. Blocks of 2 rows x 16 channels.
// The loop over blocks of 16 k is inline assembly scheduled for an in-order dual-issue core (see
// neon_blocks_asm); the intrinsics loop does the rest of K (and all of it for compilers without GNU inline
// assembly).
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__aarch64__)
#include "ck_neon_epilogue.h"

#define NEON_ROWS 2
#define NEON_ROW_BLOCK 64

// partial[r][j]: channel pair j (channels 2j, 2j+1), lanes (ch 2j: k0+k1, k2+k3, ch 2j+1: k0+k1, k2+k3).
#if defined(__GNUC__) || defined(__clang__)
#define NEON_ASM 1
// The K / 16 full blocks of 16 k for 2 rows x 16 channels; adds every product into partial (zero-based here).
// Registers: v16 + 8r + j = partial[r][j]; v4..v7 = the 4 weight vectors of a k group (4 k x 4 channels each);
// v0, v1 (even k groups) and v2, v3 (odd) = row 0 and row 1's 4 flipped bytes of the group in all four 32-bit
// lanes (ld1r); v8..v13 = products in flight; v14 = 0x80 in every byte, v15 = 0x01.
// Schedule (one pass = one block = 4 groups x 16 smull/smull2 + 16 sadalp): each sadalp follows its smull by
// four multiplies (the 4-cycle latency), alternating sadalp / smull so both issue back to back; while a group
// runs, each weight vector of the next group is loaded as soon as its last multiply has issued, and the next
// group's rows are loaded into the other row pair and flipped six slots later. At most one load or integer step
// sits between two vector operations, so they dual-issue on an in-order core; every one of them has the
// 4-cycle result latency of the multiplies in the Cortex-A55 model (register-offset and ld1r loads, `mla` for
// the flip: x + 0x80 * 1 = x xor 0x80 in every byte, `madd`/`msub` for pointer and counter steps), so the
// in-order core never holds a multiply back to keep write-backs in order. The last pass is a copy without the
// loads for a next block (nothing past the last block of A or of the panel is read). Integer sums: the
// result does not depend on the order.
static void neon_blocks_asm(const uint8_t *const a_rows[NEON_ROWS], const int8_t *b, int blocks,
                            int32x4_t partial[NEON_ROWS][8]) {
    uint64_t r00, r01, r10, r11, r20, r21, r30, r31, p0, p1, p2, p3, o0, o1, o2, o3, n, c16, c1;
    __asm__ volatile(
        "movi v14.16b, #0x80\n\t"
        "movi v15.16b, #1\n\t"
        "movi v16.4s, #0\n\t" "movi v17.4s, #0\n\t" "movi v18.4s, #0\n\t" "movi v19.4s, #0\n\t"
        "movi v20.4s, #0\n\t" "movi v21.4s, #0\n\t" "movi v22.4s, #0\n\t" "movi v23.4s, #0\n\t"
        "movi v24.4s, #0\n\t" "movi v25.4s, #0\n\t" "movi v26.4s, #0\n\t" "movi v27.4s, #0\n\t"
        "movi v28.4s, #0\n\t" "movi v29.4s, #0\n\t" "movi v30.4s, #0\n\t" "movi v31.4s, #0\n\t"
        // First group of the first block: rows and weights.
        "ld1r {v0.4s}, [%[a0]]\n\t"
        "ld1r {v1.4s}, [%[a1]]\n\t"
        "ldp q4, q5, [%[b]]\n\t"
        "ldp q6, q7, [%[b], #32]\n\t"
        "eor v0.16b, v0.16b, v14.16b\n\t"
        "eor v1.16b, v1.16b, v14.16b\n\t"
        // r<g><r>: row r's bytes of group g of the block loaded next (g = 0: the next block);
        // p<g>: weights of group g + 1 (p3: group 0 of the next block); o0..o3: the 4 vectors;
        // n: passes left that load a next block.
        "add %[r00], %[a0], #16\n\t"
        "add %[r01], %[a1], #16\n\t"
        "add %[r10], %[a0], #4\n\t"
        "add %[r11], %[a1], #4\n\t"
        "add %[r20], %[a0], #8\n\t"
        "add %[r21], %[a1], #8\n\t"
        "add %[r30], %[a0], #12\n\t"
        "add %[r31], %[a1], #12\n\t"
        "add %[p0], %[b], #64\n\t"
        "add %[p1], %[b], #128\n\t"
        "add %[p2], %[b], #192\n\t"
        "add %[p3], %[b], #256\n\t"
        "mov %[o0], #0\n\t"
        "mov %[o1], #16\n\t"
        "mov %[o2], #32\n\t"
        "mov %[o3], #48\n\t"
        "mov %[c16], #16\n\t"
        "mov %[c1], #1\n\t"
        "sub %[n], %[blocks], #1\n\t"
        "cbz %[n], 2f\n\t"
        "1:\n\t"
        "smull v8.8h, v4.8b, v0.8b\n\t"
        "ld1r {v2.4s}, [%[r10]]\n\t"
        "smull2 v9.8h, v4.16b, v0.16b\n\t"
        "madd %[r10], %[c16], %[c1], %[r10]\n\t"
        "smull v10.8h, v4.8b, v1.8b\n\t"
        "ld1r {v3.4s}, [%[r11]]\n\t"
        "smull2 v11.8h, v4.16b, v1.16b\n\t"
        "madd %[r11], %[c16], %[c1], %[r11]\n\t"
        "sadalp v16.4s, v8.8h\n\t"
        "ldr q4, [%[p0], %[o0]]\n\t"
        "smull v12.8h, v5.8b, v0.8b\n\t"
        "sadalp v17.4s, v9.8h\n\t"
        "mla v2.16b, v14.16b, v15.16b\n\t"
        "smull2 v13.8h, v5.16b, v0.16b\n\t"
        "sadalp v24.4s, v10.8h\n\t"
        "mla v3.16b, v14.16b, v15.16b\n\t"
        "smull v8.8h, v5.8b, v1.8b\n\t"
        "sadalp v25.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v1.16b\n\t"
        "ldr q5, [%[p0], %[o1]]\n\t"
        "sadalp v18.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v0.8b\n\t"
        "sadalp v19.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v0.16b\n\t"
        "sadalp v26.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v1.8b\n\t"
        "sadalp v27.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v1.16b\n\t"
        "ldr q6, [%[p0], %[o2]]\n\t"
        "sadalp v20.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v0.8b\n\t"
        "sadalp v21.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v0.16b\n\t"
        "sadalp v28.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v1.8b\n\t"
        "sadalp v29.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v1.16b\n\t"
        "ldr q7, [%[p0], %[o3]]\n\t"
        "sadalp v22.4s, v8.8h\n\t"
        "madd %[p0], %[c16], %[c16], %[p0]\n\t"
        "smull v12.8h, v4.8b, v2.8b\n\t"
        "ld1r {v0.4s}, [%[r20]]\n\t"
        "sadalp v23.4s, v9.8h\n\t"
        "madd %[r20], %[c16], %[c1], %[r20]\n\t"
        "smull2 v13.8h, v4.16b, v2.16b\n\t"
        "ld1r {v1.4s}, [%[r21]]\n\t"
        "sadalp v30.4s, v10.8h\n\t"
        "madd %[r21], %[c16], %[c1], %[r21]\n\t"
        "smull v8.8h, v4.8b, v3.8b\n\t"
        "sadalp v31.4s, v11.8h\n\t"
        "smull2 v9.8h, v4.16b, v3.16b\n\t"
        "mla v0.16b, v14.16b, v15.16b\n\t"
        "ldr q4, [%[p1], %[o0]]\n\t"
        "sadalp v16.4s, v12.8h\n\t"
        "smull v10.8h, v5.8b, v2.8b\n\t"
        "mla v1.16b, v14.16b, v15.16b\n\t"
        "sadalp v17.4s, v13.8h\n\t"
        "smull2 v11.8h, v5.16b, v2.16b\n\t"
        "sadalp v24.4s, v8.8h\n\t"
        "msub %[n], %[c1], %[c1], %[n]\n\t"
        "smull v12.8h, v5.8b, v3.8b\n\t"
        "sadalp v25.4s, v9.8h\n\t"
        "smull2 v13.8h, v5.16b, v3.16b\n\t"
        "ldr q5, [%[p1], %[o1]]\n\t"
        "sadalp v18.4s, v10.8h\n\t"
        "smull v8.8h, v6.8b, v2.8b\n\t"
        "sadalp v19.4s, v11.8h\n\t"
        "smull2 v9.8h, v6.16b, v2.16b\n\t"
        "sadalp v26.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v3.8b\n\t"
        "sadalp v27.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v3.16b\n\t"
        "ldr q6, [%[p1], %[o2]]\n\t"
        "sadalp v20.4s, v8.8h\n\t"
        "smull v12.8h, v7.8b, v2.8b\n\t"
        "sadalp v21.4s, v9.8h\n\t"
        "smull2 v13.8h, v7.16b, v2.16b\n\t"
        "sadalp v28.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v3.8b\n\t"
        "sadalp v29.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v3.16b\n\t"
        "ldr q7, [%[p1], %[o3]]\n\t"
        "sadalp v22.4s, v12.8h\n\t"
        "madd %[p1], %[c16], %[c16], %[p1]\n\t"
        "smull v10.8h, v4.8b, v0.8b\n\t"
        "ld1r {v2.4s}, [%[r30]]\n\t"
        "sadalp v23.4s, v13.8h\n\t"
        "madd %[r30], %[c16], %[c1], %[r30]\n\t"
        "smull2 v11.8h, v4.16b, v0.16b\n\t"
        "ld1r {v3.4s}, [%[r31]]\n\t"
        "sadalp v30.4s, v8.8h\n\t"
        "madd %[r31], %[c16], %[c1], %[r31]\n\t"
        "smull v12.8h, v4.8b, v1.8b\n\t"
        "sadalp v31.4s, v9.8h\n\t"
        "smull2 v13.8h, v4.16b, v1.16b\n\t"
        "mla v2.16b, v14.16b, v15.16b\n\t"
        "ldr q4, [%[p2], %[o0]]\n\t"
        "sadalp v16.4s, v10.8h\n\t"
        "smull v8.8h, v5.8b, v0.8b\n\t"
        "mla v3.16b, v14.16b, v15.16b\n\t"
        "sadalp v17.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v0.16b\n\t"
        "sadalp v24.4s, v12.8h\n\t"
        "smull v10.8h, v5.8b, v1.8b\n\t"
        "sadalp v25.4s, v13.8h\n\t"
        "smull2 v11.8h, v5.16b, v1.16b\n\t"
        "ldr q5, [%[p2], %[o1]]\n\t"
        "sadalp v18.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v0.8b\n\t"
        "sadalp v19.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v0.16b\n\t"
        "sadalp v26.4s, v10.8h\n\t"
        "smull v8.8h, v6.8b, v1.8b\n\t"
        "sadalp v27.4s, v11.8h\n\t"
        "smull2 v9.8h, v6.16b, v1.16b\n\t"
        "ldr q6, [%[p2], %[o2]]\n\t"
        "sadalp v20.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v0.8b\n\t"
        "sadalp v21.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v0.16b\n\t"
        "sadalp v28.4s, v8.8h\n\t"
        "smull v12.8h, v7.8b, v1.8b\n\t"
        "sadalp v29.4s, v9.8h\n\t"
        "smull2 v13.8h, v7.16b, v1.16b\n\t"
        "ldr q7, [%[p2], %[o3]]\n\t"
        "sadalp v22.4s, v10.8h\n\t"
        "madd %[p2], %[c16], %[c16], %[p2]\n\t"
        "smull v8.8h, v4.8b, v2.8b\n\t"
        "ld1r {v0.4s}, [%[r00]]\n\t"
        "sadalp v23.4s, v11.8h\n\t"
        "madd %[r00], %[c16], %[c1], %[r00]\n\t"
        "smull2 v9.8h, v4.16b, v2.16b\n\t"
        "ld1r {v1.4s}, [%[r01]]\n\t"
        "sadalp v30.4s, v12.8h\n\t"
        "madd %[r01], %[c16], %[c1], %[r01]\n\t"
        "smull v10.8h, v4.8b, v3.8b\n\t"
        "sadalp v31.4s, v13.8h\n\t"
        "smull2 v11.8h, v4.16b, v3.16b\n\t"
        "mla v0.16b, v14.16b, v15.16b\n\t"
        "ldr q4, [%[p3], %[o0]]\n\t"
        "sadalp v16.4s, v8.8h\n\t"
        "smull v12.8h, v5.8b, v2.8b\n\t"
        "mla v1.16b, v14.16b, v15.16b\n\t"
        "sadalp v17.4s, v9.8h\n\t"
        "smull2 v13.8h, v5.16b, v2.16b\n\t"
        "sadalp v24.4s, v10.8h\n\t"
        "smull v8.8h, v5.8b, v3.8b\n\t"
        "sadalp v25.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v3.16b\n\t"
        "ldr q5, [%[p3], %[o1]]\n\t"
        "sadalp v18.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v2.8b\n\t"
        "sadalp v19.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v2.16b\n\t"
        "sadalp v26.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v3.8b\n\t"
        "sadalp v27.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v3.16b\n\t"
        "ldr q6, [%[p3], %[o2]]\n\t"
        "sadalp v20.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v2.8b\n\t"
        "sadalp v21.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v2.16b\n\t"
        "sadalp v28.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v3.8b\n\t"
        "sadalp v29.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v3.16b\n\t"
        "ldr q7, [%[p3], %[o3]]\n\t"
        "sadalp v22.4s, v8.8h\n\t"
        "madd %[p3], %[c16], %[c16], %[p3]\n\t"
        "sadalp v23.4s, v9.8h\n\t"
        "sadalp v30.4s, v10.8h\n\t"
        "sadalp v31.4s, v11.8h\n\t"
        "cbnz %[n], 1b\n\t"
        "2:\n\t"
        "smull v8.8h, v4.8b, v0.8b\n\t"
        "ld1r {v2.4s}, [%[r10]]\n\t"
        "smull2 v9.8h, v4.16b, v0.16b\n\t"
        "ld1r {v3.4s}, [%[r11]]\n\t"
        "smull v10.8h, v4.8b, v1.8b\n\t"
        "smull2 v11.8h, v4.16b, v1.16b\n\t"
        "ldr q4, [%[p0], %[o0]]\n\t"
        "sadalp v16.4s, v8.8h\n\t"
        "smull v12.8h, v5.8b, v0.8b\n\t"
        "sadalp v17.4s, v9.8h\n\t"
        "mla v2.16b, v14.16b, v15.16b\n\t"
        "smull2 v13.8h, v5.16b, v0.16b\n\t"
        "mla v3.16b, v14.16b, v15.16b\n\t"
        "sadalp v24.4s, v10.8h\n\t"
        "smull v8.8h, v5.8b, v1.8b\n\t"
        "sadalp v25.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v1.16b\n\t"
        "ldr q5, [%[p0], %[o1]]\n\t"
        "sadalp v18.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v0.8b\n\t"
        "sadalp v19.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v0.16b\n\t"
        "sadalp v26.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v1.8b\n\t"
        "sadalp v27.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v1.16b\n\t"
        "ldr q6, [%[p0], %[o2]]\n\t"
        "sadalp v20.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v0.8b\n\t"
        "sadalp v21.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v0.16b\n\t"
        "sadalp v28.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v1.8b\n\t"
        "sadalp v29.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v1.16b\n\t"
        "ldr q7, [%[p0], %[o3]]\n\t"
        "sadalp v22.4s, v8.8h\n\t"
        "smull v12.8h, v4.8b, v2.8b\n\t"
        "ld1r {v0.4s}, [%[r20]]\n\t"
        "sadalp v23.4s, v9.8h\n\t"
        "smull2 v13.8h, v4.16b, v2.16b\n\t"
        "ld1r {v1.4s}, [%[r21]]\n\t"
        "sadalp v30.4s, v10.8h\n\t"
        "smull v8.8h, v4.8b, v3.8b\n\t"
        "sadalp v31.4s, v11.8h\n\t"
        "smull2 v9.8h, v4.16b, v3.16b\n\t"
        "mla v0.16b, v14.16b, v15.16b\n\t"
        "ldr q4, [%[p1], %[o0]]\n\t"
        "sadalp v16.4s, v12.8h\n\t"
        "smull v10.8h, v5.8b, v2.8b\n\t"
        "mla v1.16b, v14.16b, v15.16b\n\t"
        "sadalp v17.4s, v13.8h\n\t"
        "smull2 v11.8h, v5.16b, v2.16b\n\t"
        "sadalp v24.4s, v8.8h\n\t"
        "smull v12.8h, v5.8b, v3.8b\n\t"
        "sadalp v25.4s, v9.8h\n\t"
        "smull2 v13.8h, v5.16b, v3.16b\n\t"
        "ldr q5, [%[p1], %[o1]]\n\t"
        "sadalp v18.4s, v10.8h\n\t"
        "smull v8.8h, v6.8b, v2.8b\n\t"
        "sadalp v19.4s, v11.8h\n\t"
        "smull2 v9.8h, v6.16b, v2.16b\n\t"
        "sadalp v26.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v3.8b\n\t"
        "sadalp v27.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v3.16b\n\t"
        "ldr q6, [%[p1], %[o2]]\n\t"
        "sadalp v20.4s, v8.8h\n\t"
        "smull v12.8h, v7.8b, v2.8b\n\t"
        "sadalp v21.4s, v9.8h\n\t"
        "smull2 v13.8h, v7.16b, v2.16b\n\t"
        "sadalp v28.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v3.8b\n\t"
        "sadalp v29.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v3.16b\n\t"
        "ldr q7, [%[p1], %[o3]]\n\t"
        "sadalp v22.4s, v12.8h\n\t"
        "smull v10.8h, v4.8b, v0.8b\n\t"
        "ld1r {v2.4s}, [%[r30]]\n\t"
        "sadalp v23.4s, v13.8h\n\t"
        "smull2 v11.8h, v4.16b, v0.16b\n\t"
        "ld1r {v3.4s}, [%[r31]]\n\t"
        "sadalp v30.4s, v8.8h\n\t"
        "smull v12.8h, v4.8b, v1.8b\n\t"
        "sadalp v31.4s, v9.8h\n\t"
        "smull2 v13.8h, v4.16b, v1.16b\n\t"
        "mla v2.16b, v14.16b, v15.16b\n\t"
        "ldr q4, [%[p2], %[o0]]\n\t"
        "sadalp v16.4s, v10.8h\n\t"
        "smull v8.8h, v5.8b, v0.8b\n\t"
        "mla v3.16b, v14.16b, v15.16b\n\t"
        "sadalp v17.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v0.16b\n\t"
        "sadalp v24.4s, v12.8h\n\t"
        "smull v10.8h, v5.8b, v1.8b\n\t"
        "sadalp v25.4s, v13.8h\n\t"
        "smull2 v11.8h, v5.16b, v1.16b\n\t"
        "ldr q5, [%[p2], %[o1]]\n\t"
        "sadalp v18.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v0.8b\n\t"
        "sadalp v19.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v0.16b\n\t"
        "sadalp v26.4s, v10.8h\n\t"
        "smull v8.8h, v6.8b, v1.8b\n\t"
        "sadalp v27.4s, v11.8h\n\t"
        "smull2 v9.8h, v6.16b, v1.16b\n\t"
        "ldr q6, [%[p2], %[o2]]\n\t"
        "sadalp v20.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v0.8b\n\t"
        "sadalp v21.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v0.16b\n\t"
        "sadalp v28.4s, v8.8h\n\t"
        "smull v12.8h, v7.8b, v1.8b\n\t"
        "sadalp v29.4s, v9.8h\n\t"
        "smull2 v13.8h, v7.16b, v1.16b\n\t"
        "ldr q7, [%[p2], %[o3]]\n\t"
        "sadalp v22.4s, v10.8h\n\t"
        "smull v8.8h, v4.8b, v2.8b\n\t"
        "sadalp v23.4s, v11.8h\n\t"
        "smull2 v9.8h, v4.16b, v2.16b\n\t"
        "sadalp v30.4s, v12.8h\n\t"
        "smull v10.8h, v4.8b, v3.8b\n\t"
        "sadalp v31.4s, v13.8h\n\t"
        "smull2 v11.8h, v4.16b, v3.16b\n\t"
        "sadalp v16.4s, v8.8h\n\t"
        "smull v12.8h, v5.8b, v2.8b\n\t"
        "sadalp v17.4s, v9.8h\n\t"
        "smull2 v13.8h, v5.16b, v2.16b\n\t"
        "sadalp v24.4s, v10.8h\n\t"
        "smull v8.8h, v5.8b, v3.8b\n\t"
        "sadalp v25.4s, v11.8h\n\t"
        "smull2 v9.8h, v5.16b, v3.16b\n\t"
        "sadalp v18.4s, v12.8h\n\t"
        "smull v10.8h, v6.8b, v2.8b\n\t"
        "sadalp v19.4s, v13.8h\n\t"
        "smull2 v11.8h, v6.16b, v2.16b\n\t"
        "sadalp v26.4s, v8.8h\n\t"
        "smull v12.8h, v6.8b, v3.8b\n\t"
        "sadalp v27.4s, v9.8h\n\t"
        "smull2 v13.8h, v6.16b, v3.16b\n\t"
        "sadalp v20.4s, v10.8h\n\t"
        "smull v8.8h, v7.8b, v2.8b\n\t"
        "sadalp v21.4s, v11.8h\n\t"
        "smull2 v9.8h, v7.16b, v2.16b\n\t"
        "sadalp v28.4s, v12.8h\n\t"
        "smull v10.8h, v7.8b, v3.8b\n\t"
        "sadalp v29.4s, v13.8h\n\t"
        "smull2 v11.8h, v7.16b, v3.16b\n\t"
        "sadalp v22.4s, v8.8h\n\t"
        "sadalp v23.4s, v9.8h\n\t"
        "sadalp v30.4s, v10.8h\n\t"
        "sadalp v31.4s, v11.8h\n\t"
        "stp q16, q17, [%[partial]]\n\t"
        "stp q18, q19, [%[partial], #32]\n\t"
        "stp q20, q21, [%[partial], #64]\n\t"
        "stp q22, q23, [%[partial], #96]\n\t"
        "stp q24, q25, [%[partial], #128]\n\t"
        "stp q26, q27, [%[partial], #160]\n\t"
        "stp q28, q29, [%[partial], #192]\n\t"
        "stp q30, q31, [%[partial], #224]\n\t"
        : [r00] "=&r"(r00), [r01] "=&r"(r01), [r10] "=&r"(r10), [r11] "=&r"(r11), [r20] "=&r"(r20),
          [r21] "=&r"(r21), [r30] "=&r"(r30), [r31] "=&r"(r31), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),
          [p3] "=&r"(p3), [o0] "=&r"(o0), [o1] "=&r"(o1), [o2] "=&r"(o2), [o3] "=&r"(o3), [n] "=&r"(n),
          [c16] "=&r"(c16), [c1] "=&r"(c1)
        : [a0] "r"(a_rows[0]), [a1] "r"(a_rows[1]), [b] "r"(b), [blocks] "r"((uint64_t)blocks),
          [partial] "r"(partial)
        : "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",
          "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29",
          "v30", "v31");
}
#endif

static inline void neon_micro_kernel(const uint8_t *const a_rows[NEON_ROWS], const int8_t *b, int K,
                                     int32x4_t acc[NEON_ROWS][4]) {
    int32x4_t partial[NEON_ROWS][8];
    int k = 0;
#if defined(NEON_ASM)
    if (K >= 16) {
        neon_blocks_asm(a_rows, b, K / 16, partial);
        k = K / 16 * 16;
        b += (size_t)(K / 16) * 256;
    } else
#endif
    {
        for (int r = 0; r < NEON_ROWS; r++)
            for (int j = 0; j < 8; j++) partial[r][j] = vdupq_n_s32(0);
    }
    for (; k < K; k += 4, b += 64) {
        const int count = K - k < 4 ? K - k : 4;
        int8x8_t a[NEON_ROWS];
        for (int r = 0; r < NEON_ROWS; r++) {
            const uint32_t word = (count == 4 ? ck_load_group(a_rows[r] + k, 4) : ck_load_group(a_rows[r] + k, count))
                                  ^ 0x80808080u;
            a[r] = vreinterpret_s8_u32(vdup_n_u32(word));
        }
        for (int q = 0; q < 4; q++) {
            const int8x16_t w = vld1q_s8(b + 16 * q);
            for (int r = 0; r < NEON_ROWS; r++) {
                partial[r][2 * q] = vpadalq_s16(partial[r][2 * q], vmull_s8(vget_low_s8(w), a[r]));
                partial[r][2 * q + 1] = vpadalq_s16(partial[r][2 * q + 1], vmull_s8(vget_high_s8(w), a[r]));
            }
        }
    }
    for (int r = 0; r < NEON_ROWS; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vpaddq_s32(partial[r][2 * q], partial[r][2 * q + 1]);
}

void ck_qgemm_u8s8_neon(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += NEON_ROW_BLOCK) {
        const int block_end = m_end - block < NEON_ROW_BLOCK ? m_end : block + NEON_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = args->N - n0 < CK_PANEL_WIDTH ? args->N - n0 : CK_PANEL_WIDTH;
            ck_neon_panel_constants constants;
            ck_neon_panel_constants_init(&constants, args, n0, columns);
            for (int m0 = block; m0 < block_end; m0 += NEON_ROWS) {
                const int rows = block_end - m0 < NEON_ROWS ? block_end - m0 : NEON_ROWS;
                const uint8_t *a_rows[NEON_ROWS];
                for (int r = 0; r < NEON_ROWS; r++)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                int32x4_t acc[NEON_ROWS][4];
                neon_micro_kernel(a_rows, panels + (size_t)panel * panel_bytes, args->K, acc);
                for (int r = 0; r < rows; r++) ck_neon_epilogue_row(args, &constants, m0 + r, n0, columns, acc[r]);
            }
        }
    }
}
#endif
