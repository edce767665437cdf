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
