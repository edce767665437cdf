// Template of the simple float loops, included once per instruction set with CKF_TARGET (a function attribute)
// and CKF_NAME(x) (a name suffixer) defined: the compiler vectorises the same loops for each target. Separate
// multiply and add (contraction is off in the including files), so every set gives the reference's bits.

CKF_TARGET static void CKF_NAME(conv_epilogue)(float *y, ptrdiff_t channel_stride, int channels, ptrdiff_t begin,
                                               ptrdiff_t count, const float *bias, const float *const *residuals,
                                               int residual_count, int relu) {
    for (int c = 0; c < channels; c++) {
        float *restrict row = y + (ptrdiff_t)c * channel_stride + begin;
        const float b = bias ? bias[c] : 0.0f;
        if (bias) for (ptrdiff_t i = 0; i < count; i++) row[i] = row[i] + b;
        for (int r = 0; r < residual_count; r++) {
            const float *restrict res = residuals[r] + (ptrdiff_t)c * channel_stride + begin;
            for (ptrdiff_t i = 0; i < count; i++) row[i] = row[i] + res[i];
        }
        if (relu) for (ptrdiff_t i = 0; i < count; i++) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
    }
}

// The epilogue of a float convolution on NHWC rows (ckf_conv_fixed): per element c + bias, + residual, ReLU, in that
// order, each a separate IEEE operation, so every lane gives the scalar's bits.
CKF_TARGET static void CKF_NAME(rows_epilogue)(float *y, ptrdiff_t ldy, int rows, int n, const float *bias,
                                               const float *residual, ptrdiff_t ld_residual, int relu) {
    for (int r = 0; r < rows; r++) {
        float *restrict row = y + (ptrdiff_t)r * ldy;
        if (bias) {
            const float *restrict b = bias;
            for (int j = 0; j < n; j++) row[j] = row[j] + b[j];
        }
        if (residual) {
            const float *restrict x = residual + (ptrdiff_t)r * ld_residual;
            for (int j = 0; j < n; j++) row[j] = row[j] + x[j];
        }
        if (relu) for (int j = 0; j < n; j++) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
    }
}

// Global average (float64 sum in pixel order per channel, then one division) or max (`x >= m ? x : m` in pixel order,
// from −∞) over the pixels of NHWC channels [c0, c1), in groups of 64 channels whose accumulators stay in registers.
CKF_TARGET static void CKF_NAME(global_pool_nhwc)(const float *x, size_t plane, ptrdiff_t channels, int c0, int c1,
                                                  int use_max, float *y) {
    for (int g = c0; g < c1; g += 64) {
        const int width = c1 - g < 64 ? c1 - g : 64;
        if (use_max) {
            float m[64];
            for (int j = 0; j < width; j++) m[j] = -INFINITY;
            for (size_t p = 0; p < plane; p++) {
                const float *restrict row = x + (ptrdiff_t)p * channels + g;
                for (int j = 0; j < width; j++) m[j] = row[j] >= m[j] ? row[j] : m[j];
            }
            for (int j = 0; j < width; j++) y[g + j] = m[j];
        } else {
            double sums[64];
            for (int j = 0; j < width; j++) sums[j] = 0.0;
            for (size_t p = 0; p < plane; p++) {
                const float *restrict row = x + (ptrdiff_t)p * channels + g;
                for (int j = 0; j < width; j++) sums[j] = sums[j] + (double)row[j];
            }
            for (int j = 0; j < width; j++) y[g + j] = (float)(sums[j] / (double)plane);
        }
    }
}

CKF_TARGET static void CKF_NAME(add)(float *y, const float *const *inputs, int input_count, size_t n, int relu) {
    // Blocks of 1024 keep y in L1 while every input passes over it.
    for (size_t b = 0; b < n; b += 1024) {
        const size_t e = n - b < 1024 ? n : b + 1024;
        float *restrict out = y;
        const float *restrict first = inputs[0];
        for (size_t i = b; i < e; i++) out[i] = first[i];
        for (int k = 1; k < input_count; k++) {
            const float *restrict x = inputs[k];
            for (size_t i = b; i < e; i++) out[i] = out[i] + x[i];
        }
        if (relu) for (size_t i = b; i < e; i++) out[i] = out[i] > 0.0f ? out[i] : 0.0f;
    }
}

CKF_TARGET static void CKF_NAME(mul_channel_gate)(float *y, const float *x, const float *gate, int channels, size_t plane) {
    for (int c = 0; c < channels; c++) {
        float *restrict out = y + (size_t)c * plane;
        const float *restrict in = x + (size_t)c * plane;
        const float g = gate[c];
        for (size_t i = 0; i < plane; i++) out[i] = in[i] * g;
    }
}

CKF_TARGET static void CKF_NAME(mul_spatial_gate)(float *y, const float *x, const float *gate, int channels, size_t plane) {
    for (int c = 0; c < channels; c++) {
        float *restrict out = y + (size_t)c * plane;
        const float *restrict in = x + (size_t)c * plane;
        const float *restrict g = gate;
        for (size_t i = 0; i < plane; i++) out[i] = in[i] * g[i];
    }
}

// ckf_quantize_u8 one element at a time (ck_quantize_one). A kernel set with its own vector form defines
// CKF_QUANTIZE_U8 before including this file; the upsampling and the multiply below quantize through it.
#ifndef CKF_QUANTIZE_U8
CKF_TARGET static void CKF_NAME(quantize_u8)(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point) {
    for (size_t i = 0; i < n; i++) q[i] = ck_quantize_one(x[i], inv_scale, zero_point);
}
#define CKF_QUANTIZE_U8 CKF_NAME(quantize_u8)
#endif

// ckf_upsample_nhwc: per output pixel, the four source pixels' channels combined in the reference's expression
// (the compiler vectorises across channels; contraction is off, so every lane has the scalar's bits), then the
// pixel's uint8 values while its floats are in L1.
CKF_TARGET static void CKF_NAME(upsample_nhwc)(const ckf_upsample_args *g, int oy_begin, int oy_end) {
    const ptrdiff_t C = g->channels, row = (ptrdiff_t)g->in_w * C;
    for (int oy = oy_begin; oy < oy_end; oy++) {
        const float *r0 = g->x + g->row_first[oy] * row, *r1 = g->x + g->row_second[oy] * row;
        const float h1 = g->row_weight[oy], h0 = 1.0f - h1;
        for (int ox = 0; ox < g->out_w; ox++) {
            const float w1 = g->col_weight[ox], w0 = 1.0f - w1;
            const ptrdiff_t c0 = g->col_first[ox] * C, c1 = g->col_second[ox] * C;
            const float *restrict a = r0 + c0, *restrict b = r0 + c1, *restrict d = r1 + c0, *restrict e = r1 + c1;
            const ptrdiff_t pixel = (ptrdiff_t)oy * g->out_w + ox;
            float *restrict y = g->y + pixel * g->ldy;
            for (ptrdiff_t k = 0; k < C; k++) {
                const float top = w0 * a[k] + w1 * b[k], bottom = w0 * d[k] + w1 * e[k];
                y[k] = h0 * top + h1 * bottom;
            }
            if (g->out_u8) CKF_QUANTIZE_U8(y, g->out_u8 + pixel * g->ld_u8, (size_t)C, g->out_inv_scale, g->out_zero_point);
        }
    }
}

// ckf_mul_nhwc: one multiply per element (vectorised across channels), then the pixel's uint8 values.
CKF_TARGET static void CKF_NAME(mul_nhwc)(const float *x, const float *gate, int channels, int channel_gate,
                                          size_t p_begin, size_t p_end, float *y, ptrdiff_t ldy, uint8_t *out_u8,
                                          ptrdiff_t ld_u8, float inv_scale, int32_t zero_point) {
    const ptrdiff_t C = channels;
    for (size_t p = p_begin; p < p_end; p++) {
        const float *restrict src = x + (ptrdiff_t)p * C;
        float *restrict dst = y + (ptrdiff_t)p * ldy;
        if (channel_gate) {
            const float *restrict g = gate;
            for (ptrdiff_t k = 0; k < C; k++) dst[k] = src[k] * g[k];
        } else {
            const float g = gate[p];
            for (ptrdiff_t k = 0; k < C; k++) dst[k] = src[k] * g;
        }
        if (out_u8) CKF_QUANTIZE_U8(dst, out_u8 + (ptrdiff_t)p * ld_u8, (size_t)C, inv_scale, zero_point);
    }
}

// ckf_channel_mean_max_nhwc one pixel at a time (the sums run across channels in order: nothing to vectorise).
CKF_TARGET static void CKF_NAME(channel_mean_max_nhwc)(const float *x, int channels, size_t p_begin, size_t p_end,
                                                       float *y) {
    for (size_t p = p_begin; p < p_end; p++) {
        const float *src = x + (ptrdiff_t)p * channels;
        float sum = 0.0f, m = -INFINITY;
        for (int k = 0; k < channels; k++) {
            sum = sum + src[k];
            m = src[k] >= m ? src[k] : m;
        }
        y[2 * p] = sum / (float)channels;
        y[2 * p + 1] = m;
    }
}
