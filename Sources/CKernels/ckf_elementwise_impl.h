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
