// NHWCOps.swift — the float32 ops of the int8 executor on NHWC tensors (channels innermost), each the NHWC form
// of the reference op in CondSegCore/Reference/ReferenceOps.swift with the same arithmetic per element (same
// operand order, the same float64 sum for global average pooling), so an op given the same input agrees with the
// reference bit for bit except where noted (sigmoid uses the CKernels vector exp; convolutions use OpenBLAS with
// another summation order). Work is split by output pixel or channel; no result depends on the split. They run
// every frame, so they use the allocation-free `parallelChunks(_:threads:state:_:)` (capture-free bodies).

import CKernels
import CondSegCore

enum NHWCOps {
    /// NHWC → planar, blocked so both sides stream through the cache; x's pixels are `stride` floats apart (its
    /// channels, or a concat's when the value lives in a slice of the concat's buffer).
    static func toPlanar(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels c: Int, plane: Int,
                         stride: Int, threads: Int) {
        parallelChunks((plane + 63) / 64, threads: threads, state: (x, y, c, plane, stride)) { s, _, blocks in
            let (x, y, c, plane, stride) = s
            for block in blocks {
                let p0 = block * 64, p1 = min(plane, p0 + 64)
                for k in 0..<c { for p in p0..<p1 { y[k * plane + p] = x[p * stride + k] } }
            }
        }
    }

    /// Planar → NHWC, blocked.
    static func fromPlanar(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels c: Int, plane: Int,
                           threads: Int) {
        parallelChunks((plane + 63) / 64, threads: threads, state: (x, y, c, plane)) { s, _, blocks in
            let (x, y, c, plane) = s
            for block in blocks {
                let p0 = block * 64, p1 = min(plane, p0 + 64)
                for k in 0..<c { for p in p0..<p1 { y[p * c + k] = x[k * plane + p] } }
            }
        }
    }

    /// Max pooling with PyTorch semantics (out-of-image taps are ignored, as −∞ padding).
    static func maxPool(kernel: Int, stride: Int, padding: Int, channels c: Int, input x: UnsafePointer<Float>,
                        inH: Int, inW: Int, output y: UnsafeMutablePointer<Float>, outH: Int, outW: Int, threads: Int) {
        let geometry = (kernel: kernel, stride: stride, padding: padding, c: c, inH: inH, inW: inW, outW: outW)
        parallelChunks(outH, threads: threads, state: (x, y, geometry)) { s, _, rows in
            let (x, y, g) = s
            let (kernel, stride, padding, c, inH, inW, outW) = (g.kernel, g.stride, g.padding, g.c, g.inH, g.inW, g.outW)
            for oy in rows {
                for ox in 0..<outW {
                    let dst = y + (oy * outW + ox) * c
                    for k in 0..<c { dst[k] = -Float.infinity }
                    for ky in 0..<kernel {
                        let iy = oy * stride - padding + ky
                        guard iy >= 0 && iy < inH else { continue }
                        for kx in 0..<kernel {
                            let ix = ox * stride - padding + kx
                            guard ix >= 0 && ix < inW else { continue }
                            let src = x + (iy * inW + ix) * c
                            for k in 0..<c { dst[k] = max(dst[k], src[k]) }
                        }
                    }
                }
            }
        }
    }

    /// y = x · gate, the gate per channel (`channelGate`, C values) or per pixel (H·W values); y's pixels are
    /// `outStride` floats apart (a slice of a concat's buffer when wider than C).
    static func mul(_ x: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    channels c: Int, plane: Int, channelGate: Bool, outStride: Int, threads: Int) {
        parallelChunks(plane, threads: threads, state: (x, gate, y, c, channelGate, outStride)) { s, _, pixels in
            let (x, gate, y, c, channelGate, outStride) = s
            for p in pixels {
                let src = x + p * c, dst = y + p * outStride
                if channelGate {
                    for k in 0..<c { dst[k] = src[k] * gate[k] }
                } else {
                    let g = gate[p]
                    for k in 0..<c { dst[k] = src[k] * g }
                }
            }
        }
    }

    /// One input of a concat: its C channels (dense NHWC) copied into a slice of the concat's float buffer and/or
    /// quantized into a slice of its uint8 buffer (both `stride` elements per pixel, already offset to the slice).
    static func copyChannels(_ x: UnsafePointer<Float>, channels c: Int, plane: Int, into y: UnsafeMutablePointer<Float>?,
                             outBytes: UnsafeMutablePointer<UInt8>?, stride: Int, quantization: ActivationQuantization?,
                             threads: Int) {
        let inv: Float = quantization.map { 1 / $0.scale } ?? 1, zp = quantization?.zeroPoint ?? 0
        parallelChunks(plane, threads: threads, state: (x, c, y, outBytes, stride, inv, zp)) { s, _, pixels in
            let (x, c, y, outBytes, stride, inv, zp) = s
            for p in pixels {
                if let y { (y + p * stride).update(from: x + p * c, count: c) }
                if let outBytes { ck_quantize_u8(x + p * c, outBytes + p * stride, c, inv, zp) }
            }
        }
    }

    /// uint8 copy of a float NHWC value with its quantization (ck_quantize_u8), each side with its own pixel stride.
    static func quantize(_ x: UnsafePointer<Float>, floatStride: Int, _ q: UnsafeMutablePointer<UInt8>, byteStride: Int,
                         channels c: Int, plane: Int, quantization: ActivationQuantization, threads: Int) {
        let inv = 1 / quantization.scale, zp = quantization.zeroPoint
        if floatStride == c && byteStride == c {
            let total = plane * c
            parallelChunks((total + 4095) / 4096, threads: threads, state: (x, q, total, inv, zp)) { s, _, range in
                let (x, q, total, inv, zp) = s
                let begin = range.lowerBound * 4096, end = min(total, range.upperBound * 4096)
                ck_quantize_u8(x + begin, q + begin, end - begin, inv, zp)
            }
        } else {
            parallelChunks(plane, threads: threads, state: (x, floatStride, q, byteStride, c, inv, zp)) { s, _, pixels in
                let (x, floatStride, q, byteStride, c, inv, zp) = s
                for p in pixels { ck_quantize_u8(x + p * floatStride, q + p * byteStride, c, inv, zp) }
            }
        }
    }

    /// The reference's align-corners source indices and weights for one axis, made once per size.
    struct AlignCornersTable {
        let inSize: Int
        let first: [Int], second: [Int], weight: [Float]
        init(inSize: Int, outSize: Int) {
            self.inSize = inSize
            (first, second, weight) = ReferenceOps.alignCornersTable(inSize: inSize, outSize: outSize)
        }
    }

    /// Bilinear upsampling with align_corners = true, the reference's expression per element.
    static func upsampleAlignCorners(channels c: Int, input x: UnsafePointer<Float>, rows: AlignCornersTable,
                                     columns: AlignCornersTable, inW: Int, output y: UnsafeMutablePointer<Float>,
                                     outW: Int, outStride: Int, threads: Int) {
        let geometry = (c: c, inW: inW, outW: outW, outStride: outStride)
        parallelChunks(rows.first.count, threads: threads, state: (x, y, geometry, rows, columns)) { s, _, outRows in
            let (x, y, c, inW, outW, outStride) = (s.0, s.1, s.2.c, s.2.inW, s.2.outW, s.2.outStride)
            let (y0, y1, ly) = (s.3.first, s.3.second, s.3.weight)
            let (x0, x1, lx) = (s.4.first, s.4.second, s.4.weight)
            for oy in outRows {
                let r0 = x + y0[oy] * inW * c, r1 = x + y1[oy] * inW * c
                let h1 = ly[oy], h0 = 1 - h1
                for ox in 0..<outW {
                    let w1 = lx[ox], w0 = 1 - w1
                    let a = r0 + x0[ox] * c, b = r0 + x1[ox] * c, d = r1 + x0[ox] * c, e = r1 + x1[ox] * c
                    let dst = y + (oy * outW + ox) * outStride
                    for k in 0..<c {
                        dst[k] = h0 * (w0 * a[k] + w1 * b[k]) + h1 * (w0 * d[k] + w1 * e[k])
                    }
                }
            }
        }
    }

    /// Per-channel mean (float64 sum in pixel order, as the reference) or max over all pixels
    /// (ckf_global_pool_nhwc). Split by groups of 16 channels, and only for tensors of at least
    /// `globalPoolParallelFloats`: below that, waking a second thread costs more than it saves.
    static func globalPool(max useMax: Bool, channels c: Int, input x: UnsafePointer<Float>, plane: Int,
                           output y: UnsafeMutablePointer<Float>, threads: Int) {
        let groups = (c + 15) / 16
        let split = plane * c >= globalPoolParallelFloats ? threads : 1
        parallelChunks(groups, threads: split, state: (x, y, c, plane, useMax)) { s, _, range in
            let (x, y, c, plane, useMax) = s
            ckf_global_pool_nhwc(x, plane, Int32(c), Int32(range.lowerBound * 16), Int32(min(c, range.upperBound * 16)),
                                 useMax ? 1 : 0, y)
        }
    }

    /// Floats of input from which global pooling splits its channels over threads.
    static let globalPoolParallelFloats = 1 << 20

    /// Per pixel: [mean over channels (float sum in channel order, as the reference), max over channels].
    static func channelMeanMax(channels c: Int, input x: UnsafePointer<Float>, plane: Int,
                               output y: UnsafeMutablePointer<Float>, threads: Int) {
        let inv = Float(c)
        parallelChunks(plane, threads: threads, state: (x, y, c, inv)) { s, _, pixels in
            let (x, y, c, inv) = s
            for p in pixels {
                let src = x + p * c
                var sum: Float = 0, m = -Float.infinity
                for k in 0..<c {
                    sum += src[k]
                    m = max(m, src[k])
                }
                y[2 * p] = sum / inv
                y[2 * p + 1] = m
            }
        }
    }

    /// NHWC float im2col of output rows [oy0, oy0 + rows): row r = (oy − oy0)·outW + ox holds K = k·k·C floats in
    /// (ky, kx, c) order; taps outside the image are 0 (ckf_im2col_nhwc).
    static func im2col(_ spec: ConvSpec, input x: UnsafePointer<Float>, inH: Int, inW: Int, outW: Int,
                       rows: Range<Int>, firstRow oy0: Int, columns: UnsafeMutablePointer<Float>) {
        ckf_im2col_nhwc(x, Int32(inH), Int32(inW), Int32(spec.inChannels), Int32(spec.kernel), Int32(spec.stride),
                        Int32(spec.padding), Int32(spec.dilation), Int32(outW), Int32(rows.lowerBound),
                        Int32(rows.upperBound), columns + (rows.lowerBound - oy0) * outW * spec.kernel * spec.kernel * spec.inChannels)
    }
}
