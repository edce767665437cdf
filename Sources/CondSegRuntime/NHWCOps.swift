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

    /// Where a float op also writes the uint8 copy of its result (quantized from its floats in the same pass, the
    /// bits `quantize` gives afterwards): the buffer, its pixel stride and the quantization.
    struct ByteOutput {
        let bytes: UnsafeMutablePointer<UInt8>
        let stride: Int
        let quantization: ActivationQuantization
    }

    /// y = x · gate, the gate per channel (`channelGate`, C values) or per pixel (H·W values); y's pixels are
    /// `outStride` floats apart (a slice of a concat's buffer when wider than C); with `bytes`, also its uint8 copy
    /// (ckf_mul_nhwc).
    static func mul(_ x: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    channels c: Int, plane: Int, channelGate: Bool, outStride: Int, bytes: ByteOutput? = nil,
                    threads: Int) {
        let inv: Float = bytes.map { 1 / $0.quantization.scale } ?? 1, zp = bytes?.quantization.zeroPoint ?? 0
        let state = (x, gate, y, c, channelGate, outStride, bytes?.bytes, bytes?.stride ?? c, inv, zp)
        parallelChunks(plane, threads: threads, state: state) { s, _, pixels in
            let status = ckf_mul_nhwc(s.0, s.1, Int32(s.3), s.4 ? 1 : 0, pixels.lowerBound, pixels.upperBound, s.2, s.5,
                                      s.6, s.7, s.8, s.9)
            precondition(status == 0, "ckf_mul_nhwc rejected its arguments")
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
                if let outBytes { ckf_quantize_u8(x + p * c, outBytes + p * stride, c, inv, zp) }
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
                ckf_quantize_u8(x + begin, q + begin, end - begin, inv, zp)
            }
        } else {
            parallelChunks(plane, threads: threads, state: (x, floatStride, q, byteStride, c, inv, zp)) { s, _, pixels in
                let (x, floatStride, q, byteStride, c, inv, zp) = s
                for p in pixels { ckf_quantize_u8(x + p * floatStride, q + p * byteStride, c, inv, zp) }
            }
        }
    }

    /// The reference's align-corners source indices and weights for one axis, made once per size (as Int32 for
    /// ckf_upsample_nhwc).
    struct AlignCornersTable {
        let inSize: Int
        let first: [Int32], second: [Int32], weight: [Float]
        init(inSize: Int, outSize: Int) {
            self.inSize = inSize
            let (first, second, weight) = ReferenceOps.alignCornersTable(inSize: inSize, outSize: outSize)
            self.first = first.map { Int32($0) }
            self.second = second.map { Int32($0) }
            self.weight = weight
        }
    }

    /// Bilinear upsampling with align_corners = true, the reference's expression per element (ckf_upsample_nhwc);
    /// with `bytes`, also its uint8 copy.
    static func upsampleAlignCorners(channels c: Int, input x: UnsafePointer<Float>, rows: AlignCornersTable,
                                     columns: AlignCornersTable, inW: Int, output y: UnsafeMutablePointer<Float>,
                                     outW: Int, outStride: Int, bytes: ByteOutput? = nil, threads: Int) {
        rows.first.withUnsafeBufferPointer { rowFirst in
        rows.second.withUnsafeBufferPointer { rowSecond in
        rows.weight.withUnsafeBufferPointer { rowWeight in
        columns.first.withUnsafeBufferPointer { colFirst in
        columns.second.withUnsafeBufferPointer { colSecond in
        columns.weight.withUnsafeBufferPointer { colWeight in
            var args = ckf_upsample_args()
            args.x = x; args.in_w = Int32(inW); args.channels = Int32(c); args.out_w = Int32(outW)
            args.row_first = rowFirst.baseAddress; args.row_second = rowSecond.baseAddress
            args.row_weight = rowWeight.baseAddress
            args.col_first = colFirst.baseAddress; args.col_second = colSecond.baseAddress
            args.col_weight = colWeight.baseAddress
            args.y = y; args.ldy = outStride
            if let bytes {
                args.out_u8 = bytes.bytes; args.ld_u8 = bytes.stride
                args.out_inv_scale = 1 / bytes.quantization.scale; args.out_zero_point = bytes.quantization.zeroPoint
            }
            parallelChunks(rowFirst.count, threads: threads, state: args) { args, _, outRows in
                var args = args
                let status = ckf_upsample_nhwc(&args, Int32(outRows.lowerBound), Int32(outRows.upperBound))
                precondition(status == 0, "ckf_upsample_nhwc rejected its arguments")
            }
        }}}}}}
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

    /// Per pixel: [mean over channels (float sum in channel order, as the reference), max over channels]
    /// (ckf_channel_mean_max_nhwc).
    static func channelMeanMax(channels c: Int, input x: UnsafePointer<Float>, plane: Int,
                               output y: UnsafeMutablePointer<Float>, threads: Int) {
        parallelChunks(plane, threads: threads, state: (x, y, c)) { s, _, pixels in
            ckf_channel_mean_max_nhwc(s.0, Int32(s.2), pixels.lowerBound, pixels.upperBound, s.1)
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
