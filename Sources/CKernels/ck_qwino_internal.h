// Private to CKernels: the int8 Winograd F(m x m, 3x3) layouts (m = 2 or 4) and tile walk shared by the generic and
// AVX2 kernels (ck_qwino_u8s8 in ckernels.h).
//
// Exactness. Winograd computes Y = A^T [(G g G^T) (.) (B^T d B)] A for a 3x3 kernel g and an (m+2)x(m+2) input
// patch d. Here every matrix is made integer by scaling rows of G and columns of A^T, so the whole computation is
// integer arithmetic modulo 2^32 that yields a known multiple s * acc of the im2col GEMM's accumulator acc:
//   F(2x2, 3x3): G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]], B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]],
//     A'^T = A^T = [[1,1,1,0],[0,1,-1,-1]]: s = 4. |U'| <= 9 * max|w|, |V| <= 4 * 255 = 1020.
//   F(4x4, 3x3): G' = diag(4,6,6,24,24,1) G = [[1,0,0],[-1,-1,-1],[-1,1,-1],[1,2,4],[1,-2,4],[0,0,1]],
//     B^T = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]],
//     A'^T = A^T diag(6,4,4,1,1,24) = [[6,4,4,1,1,0],[0,4,-4,2,-2,0],[0,4,4,4,4,0],[0,4,-4,8,-8,24]]: s = 24^2 = 576
//     (A'^T's column scales undo the row scales of G'). |U'| <= 49 * max|w| (6223 at 8 bits), |V| <= 100 * 255 =
//     25500: both int16.
// Every product is int16 x int16 -> int32 (vpmaddwd; a pair sum stays below 2^31) and every sum is taken modulo 2^32,
// so the output transform gives T = s * acc modulo 2^32. Recovering acc: for m = 2, T / 4 is exact when 4 * acc fits
// int32 (checked at packing: 36 * C * 255 * max|w| < 2^31). For m = 4, s = 64 * 9: T times the inverse of 9 modulo
// 2^32 is 64 * acc modulo 2^32, which read as int32 and divided by 64 is acc exactly when |acc| < 2^25; packing checks
// 255 * sum|w| < 2^25 for every output channel (|acc| <= 255 * sum|w| for uint8 inputs), so that holds for any
// input. So the epilogue sees the same int32 as ck_qgemm_u8s8 and writes the same bits.
//
// Tiles. With dilation d, a tile's m x m outputs are (oy + i*d, ox + j*d), i, j < m, reading the (m+2)x(m+2) inputs
// (oy - pad_top + i*d, ox - pad_left + j*d). Tile row r covers output rows oy = (r / d)*m*d + r % d, oy + d, ...;
// tile column likewise. Outputs past the image are computed and not written; inputs outside it read pad_value.
#pragma once
#include "ck_internal.h"

#define CK_QWINO_MAGIC 0x43515731u   /* "CQW1" */
// The inverse of 9 modulo 2^32 (9 * 0x38E38E39 = 2^33 + 1).
#define CK_QWINO_INVERSE_9 0x38E38E39u
// Tiles of one register tile (rows of the transformed-domain GEMM).
#define CK_QWINO_TILE_ROWS 6
// Bytes of transformed input per block of tiles (kept in L2 while every weight panel passes over it).
#define CK_QWINO_BLOCK_BYTES (96 * 1024)
#define CK_QWINO_MAX_BLOCK_TILES 96

// Packed Winograd weights:
//   ck_qwino_header (64 bytes)
//   int16_t u[(m+2)^2 points][padded_n/16 panels][padded_c/2 channel pairs][16 channels][2]
// padded_c is C rounded up to 16 (the transformed input is stored in rows of padded_c int16), padded_n N to 16;
// padding weights are 0.
typedef struct {
    uint32_t magic;
    int32_t n, c;
    int32_t padded_n, padded_c;
    int32_t max_abs_weight;
    int32_t m;          // output tile size: 2 or 4
    int32_t points;     // (m + 2)^2
    int32_t reserved[8];
} ck_qwino_header;

static inline const int16_t *ck_qwino_weights(const void *packed) {
    return (const int16_t *)((const uint8_t *)packed + sizeof(ck_qwino_header));
}

// int16 elements of one point's panel: padded_c/2 pairs x 16 channels x 2.
static inline size_t ck_qwino_panel_elements(const ck_qwino_header *h) { return (size_t)h->padded_c * 16; }

// First output coordinate of tile index t along an axis with dilation d and tile size m (the next are + d, + 2d...).
static inline int ck_qwino_tile_origin(int t, int d, int m) { return (t / d) * m * d + t % d; }

// Tile count along an axis of `size` outputs (some trailing tiles may start past the edge: callers skip them).
static inline int ck_qwino_tile_count(int size, int d, int m) { return d * ((size + m * d - 1) / (m * d)); }

// Tiles per block for padded_c channels: a multiple of CK_QWINO_TILE_ROWS within CK_QWINO_BLOCK_BYTES.
static inline int ck_qwino_block_tiles(int points, int padded_c) {
    int tiles = CK_QWINO_BLOCK_BYTES / (points * 2 * padded_c);
    tiles -= tiles % CK_QWINO_TILE_ROWS;
    if (tiles < CK_QWINO_TILE_ROWS) tiles = CK_QWINO_TILE_ROWS;
    if (tiles > CK_QWINO_MAX_BLOCK_TILES) tiles = CK_QWINO_MAX_BLOCK_TILES;
    return tiles;
}

// Scratch layout of one call: transformed input V[points][block_tiles][padded_c] int16, the output-domain products
// M[points][CK_QWINO_TILE_ROWS][16] int32 and the block's tile origins (oy, ox) int32 pairs.
typedef struct {
    int16_t *v;
    int32_t *m;
    int32_t *origins;
    int block_tiles;
} ck_qwino_scratch;

static inline size_t ck_qwino_scratch_bytes(int points, int padded_c) {
    const int tiles = ck_qwino_block_tiles(points, padded_c);
    size_t bytes = (size_t)points * tiles * padded_c * 2;
    bytes = (bytes + 63) & ~(size_t)63;
    bytes += (size_t)points * CK_QWINO_TILE_ROWS * 16 * 4;
    bytes += (size_t)tiles * 2 * 4;
    return bytes + 64;   // room to align the start to 64 bytes
}

static inline ck_qwino_scratch ck_qwino_scratch_split(void *scratch, int points, int padded_c) {
    ck_qwino_scratch s;
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.block_tiles = ck_qwino_block_tiles(points, padded_c);
    s.v = (int16_t *)p;
    p += ((size_t)points * s.block_tiles * padded_c * 2 + 63) & ~(size_t)63;
    s.m = (int32_t *)p;
    p += (size_t)points * CK_QWINO_TILE_ROWS * 16 * 4;
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
static inline int ck_qwino_next_tiles(const ck_qwino_args *a, int m, int *row, int *col, int row_end, int limit,
                                      int32_t *origins) {
    const int columns = ck_qwino_tile_count(a->out_width, a->dilation_w, m);
    int count = 0;
    while (*row < row_end && count < limit) {
        const int oy = ck_qwino_tile_origin(*row, a->dilation_h, m);
        if (oy >= a->out_height) { (*row)++; *col = 0; continue; }
        const int ox = ck_qwino_tile_origin(*col, a->dilation_w, m);
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
