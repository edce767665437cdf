// im2col for uint8 NHWC images: turns each output pixel's receptive field into one GEMM row of
// K = kernel_h*kernel_w*channels bytes (order ky, kx, c); taps outside the image get the zero point.
#include "ck_internal.h"

void ck_im2col_u8_nhwc(const ck_im2col_args *args, int oy_begin, int oy_end) {
    const int C = args->channels;
    for (int oy = oy_begin; oy < oy_end; oy++) {
        for (int ox = 0; ox < args->out_width; ox++) {
            uint8_t *dst = args->rows + (ptrdiff_t)((oy - oy_begin) * args->out_width + ox) * args->ld_rows;
            const int x0 = ox * args->stride_w - args->pad_left;
            for (int ky = 0; ky < args->kernel_h; ky++) {
                const int y = oy * args->stride_h - args->pad_top + ky * args->dilation_h;
                const int row_inside = y >= 0 && y < args->height;
                const uint8_t *src_row = row_inside ? args->input + (ptrdiff_t)y * args->row_stride : NULL;
                // Undilated taps of packed pixels, all inside the row: one copy of kernel_w * C contiguous bytes
                // (the 7x7 stem's 3-channel taps are 21 bytes, not 7 copies of 3).
                if (row_inside && args->dilation_w == 1 && args->pixel_stride == C && x0 >= 0
                    && x0 + args->kernel_w <= args->width) {
                    memcpy(dst, src_row + (ptrdiff_t)x0 * C, (size_t)args->kernel_w * C);
                    dst += args->kernel_w * C;
                    continue;
                }
                for (int kx = 0; kx < args->kernel_w; kx++, dst += C) {
                    const int x = x0 + kx * args->dilation_w;
                    if (row_inside && x >= 0 && x < args->width)
                        memcpy(dst, src_row + (ptrdiff_t)x * args->pixel_stride, (size_t)C);
                    else
                        memset(dst, args->pad_value, (size_t)C);
                }
            }
        }
    }
}
