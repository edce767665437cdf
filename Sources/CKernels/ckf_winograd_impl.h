// Template of the Winograd F(WM×WM, 3×3) tile transforms (ckf_winograd.c), included once per tile size and
// instruction set with WM (4 or 6), CKF_TARGET (a function attribute) and CKF_NAME(x) defined; the input tile side
// WN = WM + 2 and the tables WBT (Bᵀ, WN×WN) and WAT (Aᵀ, WM×WN) follow from WM, and every name is undefined at the
// end, ready for the next inclusion. Eight tiles are transformed side by side, one per lane of a
// vector of 8 floats (the compiler's vector extension: ymm registers under AVX2, pairs of 128-bit registers
// elsewhere). The tables are constants and the loops are unrolled, so multiplications by zero vanish.

#define CKF_WINOGRAD_PASTE_(a, b) a##b
#define CKF_WINOGRAD_PASTE(a, b) CKF_WINOGRAD_PASTE_(a, b)
#define WN (WM + 2)
#define WBT CKF_WINOGRAD_PASTE(BT, WM)
#define WAT CKF_WINOGRAD_PASTE(AT, WM)

/// Input tiles [tile_begin, tile_begin + tiles) → u[((ξy·WN + ξx)·in_channels + c)·ld + t]: Bᵀ·d·B of each tile's
/// WN×WN input window (zeros outside the image and for tile indices past the last tile).
CKF_TARGET static void CKF_NAME(input)(const ckf_winograd_conv *s, const float *x, long tile_begin, int tiles,
                                       float *u, ptrdiff_t ld) {
    const long total = ckf_winograd_tile_count(s);
    const int d = s->dilation, tw = s->tiles_w, th = s->tiles_h;
    const ptrdiff_t plane = (ptrdiff_t)s->in_h * s->in_w;
    for (int t0 = 0; t0 < tiles; t0 += 8) {
        // Per lane: offset of each input row and column of the tile's window (−1: outside the image).
        ptrdiff_t rowoff[WN][8], coloff[WN][8];
        for (int l = 0; l < 8; l++) {
            const long tile = tile_begin + t0 + l;
            if (t0 + l >= tiles || tile >= total) {
                for (int k = 0; k < WN; k++) { rowoff[k][l] = -1; coloff[k][l] = -1; }
                continue;
            }
            const long phase = tile / ((long)th * tw), r = tile % ((long)th * tw);
            const int a = (int)(phase / d), b = (int)(phase % d), ti = (int)(r / tw), tj = (int)(r % tw);
            for (int k = 0; k < WN; k++) {
                const int iy = a + d * (ti * WM + k) - s->padding, ix = b + d * (tj * WM + k) - s->padding;
                rowoff[k][l] = (iy >= 0 && iy < s->in_h) ? (ptrdiff_t)iy * s->in_w : -1;
                coloff[k][l] = (ix >= 0 && ix < s->in_w) ? ix : -1;
            }
        }
        // Eight neighbouring tiles of one tile row whose windows lie inside the image: loads without checks.
        int inside = coloff[0][0] >= 0 && coloff[WN - 1][7] >= 0 && coloff[0][7] - coloff[0][0] == 7 * WM * d;
        for (int k = 0; k < WN && inside; k++) inside = rowoff[k][0] >= 0 && rowoff[k][7] == rowoff[k][0];
        const ptrdiff_t base = inside ? rowoff[0][0] + coloff[0][0] : 0, rs = (ptrdiff_t)d * s->in_w;
        for (int c = 0; c < s->in_channels; c++) {
            const float *xc = x + (ptrdiff_t)c * plane;
            ckf_v8 in[WN][WN];
            if (inside) {
                const float *p = xc + base;
                for (int k = 0; k < WN; k++)
                    for (int j = 0; j < WN; j++)
                        for (int l = 0; l < 8; l++) in[k][j][l] = p[k * rs + (ptrdiff_t)d * (WM * l + j)];
            } else {
                for (int k = 0; k < WN; k++)
                    for (int j = 0; j < WN; j++)
                        for (int l = 0; l < 8; l++)
                            in[k][j][l] = (rowoff[k][l] >= 0 && coloff[j][l] >= 0) ? xc[rowoff[k][l] + coloff[j][l]] : 0.0f;
            }
            ckf_v8 tmp[WN][WN];
#pragma clang loop unroll(full)
            for (int i = 0; i < WN; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < WN; j++) {
                    ckf_v8 acc = {0};
#pragma clang loop unroll(full)
                    for (int k = 0; k < WN; k++)
                        if (WBT[i][k] != 0.0f) acc += WBT[i][k] * in[k][j];
                    tmp[i][j] = acc;
                }
#pragma clang loop unroll(full)
            for (int i = 0; i < WN; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < WN; j++) {
                    ckf_v8 acc = {0};
#pragma clang loop unroll(full)
                    for (int k = 0; k < WN; k++)
                        if (WBT[j][k] != 0.0f) acc += tmp[i][k] * WBT[j][k];
                    *(ckf_v8u *)(u + ((ptrdiff_t)(i * WN + j) * s->in_channels + c) * ld + t0) = acc;
                }
        }
    }
}

/// Output tiles [tile_begin, tile_begin + tiles) from m[((ξy·WN + ξx)·out_channels + o)·ld + t]: Aᵀ·M·A, then
/// v = v + bias[o]; v = v + residuals[0]; …; v = max(v, 0) if relu (the order of ckf_conv_epilogue), written into y
/// (NCHW, out_h×out_w planes) at the tile's pixels inside the output.
CKF_TARGET static void CKF_NAME(output)(const ckf_winograd_conv *s, const float *m, ptrdiff_t ld, long tile_begin,
                                        int tiles, float *y, const float *bias, const float *const *residuals,
                                        int residual_count, int relu) {
    const long total = ckf_winograd_tile_count(s);
    const int d = s->dilation, tw = s->tiles_w, th = s->tiles_h;
    const ptrdiff_t plane = (ptrdiff_t)s->out_h * s->out_w;
    for (int t0 = 0; t0 < tiles; t0 += 8) {
        ptrdiff_t rowoff[WM][8], coloff[WM][8];
        for (int l = 0; l < 8; l++) {
            const long tile = tile_begin + t0 + l;
            if (t0 + l >= tiles || tile >= total) {
                for (int k = 0; k < WM; k++) { rowoff[k][l] = -1; coloff[k][l] = -1; }
                continue;
            }
            const long phase = tile / ((long)th * tw), r = tile % ((long)th * tw);
            const int a = (int)(phase / d), b = (int)(phase % d), ti = (int)(r / tw), tj = (int)(r % tw);
            for (int k = 0; k < WM; k++) {
                const int oy = a + d * (ti * WM + k), ox = b + d * (tj * WM + k);
                rowoff[k][l] = oy < s->out_h ? (ptrdiff_t)oy * s->out_w : -1;
                coloff[k][l] = ox < s->out_w ? ox : -1;
            }
        }
        // Eight neighbouring tiles of one tile row, all of whose pixels are inside the output: each output row of
        // the eight tiles is gathered into one buffer and finished by a loop over consecutive pixels.
        int inside = coloff[0][0] >= 0 && coloff[WM - 1][7] >= 0 && coloff[0][7] - coloff[0][0] == 7 * WM * d;
        for (int k = 0; k < WM && inside; k++) inside = rowoff[k][0] >= 0 && rowoff[k][7] == rowoff[k][0];
        for (int o = 0; o < s->out_channels; o++) {
            ckf_v8 mm[WN][WN];
            for (int i = 0; i < WN; i++)
                for (int j = 0; j < WN; j++)
                    mm[i][j] = *(const ckf_v8u *)(m + ((ptrdiff_t)(i * WN + j) * s->out_channels + o) * ld + t0);
            ckf_v8 tmp[WM][WN];
#pragma clang loop unroll(full)
            for (int i = 0; i < WM; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < WN; j++) {
                    ckf_v8 acc = {0};
#pragma clang loop unroll(full)
                    for (int k = 0; k < WN; k++)
                        if (WAT[i][k] != 0.0f) acc += WAT[i][k] * mm[k][j];
                    tmp[i][j] = acc;
                }
            ckf_v8 out[WM][WM];
#pragma clang loop unroll(full)
            for (int i = 0; i < WM; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < WM; j++) {
                    ckf_v8 acc = {0};
#pragma clang loop unroll(full)
                    for (int k = 0; k < WN; k++)
                        if (WAT[j][k] != 0.0f) acc += tmp[i][k] * WAT[j][k];
                    out[i][j] = acc;
                }
            float *yo = y + (ptrdiff_t)o * plane;
            const float b = bias ? bias[o] : 0.0f;
            if (inside) {
                for (int i = 0; i < WM; i++) {
                    float row[8 * WM];
                    for (int l = 0; l < 8; l++)
                        for (int j = 0; j < WM; j++) row[l * WM + j] = out[i][j][l];
                    const ptrdiff_t at = rowoff[i][0] + coloff[0][0];
                    float *dst = yo + at;
                    if (bias) for (int q = 0; q < 8 * WM; q++) row[q] = row[q] + b;
                    for (int r = 0; r < residual_count; r++) {
                        const float *res = residuals[r] + (ptrdiff_t)o * plane + at;
                        for (int q = 0; q < 8 * WM; q++) row[q] = row[q] + res[(ptrdiff_t)d * q];
                    }
                    if (relu) for (int q = 0; q < 8 * WM; q++) row[q] = row[q] > 0.0f ? row[q] : 0.0f;
                    for (int q = 0; q < 8 * WM; q++) dst[(ptrdiff_t)d * q] = row[q];
                }
                continue;
            }
            for (int l = 0; l < 8; l++)
                for (int i = 0; i < WM; i++) {
                    if (rowoff[i][l] < 0) continue;
                    for (int j = 0; j < WM; j++) {
                        if (coloff[j][l] < 0) continue;
                        const ptrdiff_t at = (ptrdiff_t)o * plane + rowoff[i][l] + coloff[j][l];
                        float v = out[i][j][l];
                        if (bias) v = v + b;
                        for (int r = 0; r < residual_count; r++) v = v + residuals[r][at];
                        if (relu) v = v > 0.0f ? v : 0.0f;
                        yo[rowoff[i][l] + coloff[j][l]] = v;
                    }
                }
        }
    }
}

#undef CKF_NAME
#undef CKF_TARGET
#undef WN
#undef WM
#undef WBT
#undef WAT
#undef CKF_WINOGRAD_PASTE
#undef CKF_WINOGRAD_PASTE_
