// Private to CKernels: the int8 Winograd F(2x2, 3x3) layout and tile walk shared by the generic and AVX2 kernels
// (ck_qwino_u8s8 in ckernels.h).
//
// Exactness. With U' = G' g G'^T, G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]] (integers, |U'| <= 9*max|w|) and
// V = B^T d B, B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]] on the uint8 input d (|V| <= 4*255 = 1020),
// A^T (sum_c U'_c (.) V_c) A = 4 * sum over the 3x3 window and channels of w * d: four times the im2col GEMM's
// accumulator. Every product fits int16 x int16 -> int32 (vpmaddwd) and every sum is done modulo 2^32; since the true
// 4 * acc fits int32 (checked at packing: 36 * C * 255 * max|w| < 2^31), the wrapped result is exact and the shift by
// 2 recovers acc. So the epilogue sees the same int32 as ck_qgemm_u8s8 and writes the same bits.
//
// Tiles. With dilation d, a tile's 2x2 outputs are (oy, ox), (oy, ox+d), (oy+d, ox), (oy+d, ox+d), reading the 4x4
// inputs (oy - pad_top + i*d, ox - pad_left + j*d). Tile row r covers output rows oy = (r / d)*2d + r % d and oy + d;
// tile column likewise. Outputs past the image are computed and not written; inputs outside it read pad_value.
#pragma once
#include "ck_internal.h"

#define CK_QWINO_MAGIC 0x43515731u   /* "CQW1" */
#define CK_QWINO_POINTS 16
// Tiles of one register tile (rows of the transformed-domain GEMM).
#define CK_QWINO_TILE_ROWS 6
// Bytes of transformed input per block of tiles (kept in L2 while every weight panel passes over it).
#define CK_QWINO_BLOCK_BYTES (96 * 1024)
#define CK_QWINO_MAX_BLOCK_TILES 96

// Packed Winograd weights:
//   ck_qwino_header (64 bytes)
//   int16_t u[16 points][padded_n/16 panels][padded_c/2 channel pairs][16 channels][2]
// padded_c is C rounded up to 16 (the transformed input is stored in rows of padded_c int16), padded_n N to 16;
// padding weights are 0.
typedef struct {
    uint32_t magic;
    int32_t n, c;
    int32_t padded_n, padded_c;
    int32_t max_abs_weight;
    int32_t reserved[10];
} ck_qwino_header;

static inline const int16_t *ck_qwino_weights(const void *packed) {
    return (const int16_t *)((const uint8_t *)packed + sizeof(ck_qwino_header));
}

// int16 elements of one point's panel: padded_c/2 pairs x 16 channels x 2.
static inline size_t ck_qwino_panel_elements(const ck_qwino_header *h) { return (size_t)h->padded_c * 16; }

// First output coordinate of tile index t along an axis with dilation d (the second is that + d).
static inline int ck_qwino_tile_origin(int t, int d) { return (t / d) * 2 * d + t % d; }

// Tile count along an axis of `size` outputs (some trailing tiles may start past the edge: callers skip them).
static inline int ck_qwino_tile_count(int size, int d) { return d * ((size + 2 * d - 1) / (2 * d)); }

// Tiles per block for padded_c channels: a multiple of CK_QWINO_TILE_ROWS within CK_QWINO_BLOCK_BYTES.
static inline int ck_qwino_block_tiles(int padded_c) {
    int tiles = CK_QWINO_BLOCK_BYTES / (CK_QWINO_POINTS * 2 * padded_c);
    tiles -= tiles % CK_QWINO_TILE_ROWS;
    if (tiles < CK_QWINO_TILE_ROWS) tiles = CK_QWINO_TILE_ROWS;
    if (tiles > CK_QWINO_MAX_BLOCK_TILES) tiles = CK_QWINO_MAX_BLOCK_TILES;
    return tiles;
}

// Scratch layout of one call: transformed input V[16][block_tiles][padded_c] int16, the output-domain products
// M[16][CK_QWINO_TILE_ROWS][16] int32 and the block's tile origins (oy, ox) int32 pairs.
typedef struct {
    int16_t *v;
    int32_t *m;
    int32_t *origins;
    int block_tiles;
} ck_qwino_scratch;

static inline size_t ck_qwino_scratch_bytes(int padded_c) {
    const int tiles = ck_qwino_block_tiles(padded_c);
    size_t bytes = (size_t)CK_QWINO_POINTS * tiles * padded_c * 2;
    bytes = (bytes + 63) & ~(size_t)63;
    bytes += (size_t)CK_QWINO_POINTS * CK_QWINO_TILE_ROWS * 16 * 4;
    bytes += (size_t)tiles * 2 * 4;
    return bytes + 64;   // room to align the start to 64 bytes
}

static inline ck_qwino_scratch ck_qwino_scratch_split(void *scratch, int padded_c) {
    ck_qwino_scratch s;
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.block_tiles = ck_qwino_block_tiles(padded_c);
    s.v = (int16_t *)p;
    p += ((size_t)CK_QWINO_POINTS * s.block_tiles * padded_c * 2 + 63) & ~(size_t)63;
    s.m = (int32_t *)p;
    p += (size_t)CK_QWINO_POINTS * CK_QWINO_TILE_ROWS * 16 * 4;
    s.origins = (int32_t *)p;
    return s;
}

// The input value at (y, x) channel c, or the pad value outside the image.
static inline int ck_qwino_input(const ck_qwino_args *a, int y, int x, int c) {
    if (y < 0 || y >= a->height || x < 0 || x >= a->width) return a->pad_value;
    return a->input[(ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pixel_stride + c];
}

// Fills `origins` with the (oy, ox) of the next tiles of tile rows [*row, row_end), starting at tile column *col,
// at most `limit`; advances *row / *col. Tiles starting past the output are skipped. Returns the count.
static inline int ck_qwino_next_tiles(const ck_qwino_args *a, int *row, int *col, int row_end, int limit,
                                      int32_t *origins) {
    const int columns = ck_qwino_tile_count(a->out_width, a->dilation_w);
    int count = 0;
    while (*row < row_end && count < limit) {
        const int oy = ck_qwino_tile_origin(*row, a->dilation_h);
        if (oy >= a->out_height) { (*row)++; *col = 0; continue; }
        const int ox = ck_qwino_tile_origin(*col, a->dilation_w);
        if (ox < a->out_width) { origins[2 * count] = oy; origins[2 * count + 1] = ox; count++; }
        if (++*col == columns) { (*row)++; *col = 0; }
    }
    return count;
}

typedef void (*ck_qwino_kernel)(const ck_qwino_args *args, int row_begin, int row_end, void *scratch);
void ck_qwino_u8s8_generic(const ck_qwino_args *args, int row_begin, int row_end, void *scratch);
#if defined(__x86_64__)
void ck_qwino_u8s8_avx2(const ck_qwino_args *args, int row_begin, int row_end, void *scratch);
#endif
