// TrainOps.swift — batch-aware forward and backward of every op ConDSeg uses, on NCHW Tensors.
// Forwards reuse the reference operators (ReferenceOps) image by image or plane by plane, except the convolution,
// whose forward and backward split the batch's images among the threads (each with single-threaded OpenBLAS
// GEMMs over its own im2col columns, the exact copy kernels ckf_im2col/ckf_col2im, and ConvScratch buffers);
// backwards are written here from the same formulas: convolution gradients as GEMMs (and a col2im scatter),
// BatchNorm with batch statistics, pooling/upsampling scatters, and the CDFA window attention's softmax and fold.
// Loops split over channels/planes with `parallelChunks` (each chunk writes its own rows, so results do not depend
// on scheduling).

import CKernels
import COpenBLAS
import CondSegCore
import Foundation

/// Forward and backward operators of the trainer. Backward functions *accumulate* (+=) into input gradients.
public enum TrainOps {
    // MARK: convolution

    /// y = W ⊛ x + b for every image of the batch (no BatchNorm, no ReLU: the caller applies them).
    /// Images are split among the threads (`ConvScratch.workers`); each thread packs its images' im2col columns
    /// into groups (`ConvScratch.groups`) and multiplies each group with one single-threaded sgemm. A given thread
    /// count always gives the same bits; another count may group differently, which changes only the order of the
    /// GEMM's float32 additions (OpenBLAS blocks by the width).
    public static func convForward(_ spec: ConvSpec, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                   x: Tensor, y: Tensor, threads: Int, scratch: ConvScratch? = nil) {
        let scratch = scratch ?? ConvScratch(threads: threads)
        let cin = spec.inChannels, cout = spec.outChannels, kk = cin * spec.kernel * spec.kernel
        let outPlane = y.plane, outW = y.w
        let workers = ConvScratch.workers(images: x.n, threads: threads)
        parallelChunksIndexed(x.n, threads: workers) { worker, images in
            for group in scratch.groups(spec, images: images, outH: y.h, outW: outW) {
                let width = group.width
                let (b, ldb) = columns(spec, x: x, group: group, outW: outW, into: { scratch.columns(worker, count: $0) })
                if let only = group.single {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(width), Int32(kk),
                                1, weight, Int32(kk), b, Int32(ldb), 0,
                                y.data + only.image * y.itemCount + only.row * outW, Int32(outPlane))
                } else {
                    let out = scratch.output(worker, count: cout * width)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(width), Int32(kk),
                                1, weight, Int32(kk), b, Int32(ldb), 0, out, Int32(width))
                    for segment in group.segments {
                        let yn = y.data + segment.image * y.itemCount + segment.row * outW
                        for o in 0..<cout {
                            (yn + o * outPlane).update(from: out + o * width + segment.column, count: segment.rows * outW)
                        }
                    }
                }
            }
            if let bias {
                for image in images {
                    let yn = y.data + image * y.itemCount
                    for o in 0..<cout {
                        let b = bias[o], plane = yn + o * outPlane
                        for i in 0..<outPlane { plane[i] += b }
                    }
                }
            }
        }
    }

    /// The B operand of a group's GEMM: the input itself for a 1×1 stride-1 convolution of one block, else the
    /// group's im2col columns (kk × width) in `into(count)`.
    private static func columns(_ spec: ConvSpec, x: Tensor, group: ConvScratch.Group, outW: Int,
                                into buffer: (Int) -> UnsafeMutablePointer<Float>) -> (UnsafePointer<Float>, Int) {
        let cin = spec.inChannels, kk = cin * spec.kernel * spec.kernel, plane = x.plane
        if spec.isPointwise, let only = group.single {
            return (UnsafePointer(x.data + only.image * x.itemCount + only.row * outW), plane)
        }
        let width = group.width
        let cols = buffer(kk * width)
        for segment in group.segments {
            let xn = x.data + segment.image * x.itemCount
            if spec.isPointwise {
                for c in 0..<cin {
                    (cols + c * width + segment.column).update(from: xn + c * plane + segment.row * outW,
                                                               count: segment.rows * outW)
                }
            } else {
                ckf_im2col(xn, Int32(x.h), Int32(x.w), Int32(spec.kernel), Int32(spec.stride), Int32(spec.padding),
                           Int32(spec.dilation), Int32(outW), Int32(segment.row), Int32(segment.rows), 0, Int32(cin),
                           cols + segment.column, width)
            }
        }
        return (UnsafePointer(cols), width)
    }

    /// Gradients of `convForward`: dW (+=), db (+=) and dx (+=, when given) from dy, with the forward's split and
    /// groups: dW += dY·colsᵀ and dcols = Wᵀ·dY per group, then col2im. The first thread accumulates into dWeight,
    /// the others into their own buffers, added to dWeight in thread order at the end (so a given thread count
    /// always gives the same bits; other counts differ only in the order of additions).
    public static func convBackward(_ spec: ConvSpec, weight: UnsafePointer<Float>, x: Tensor, dy: Tensor,
                                    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                                    dx: Tensor?, threads: Int, scratch: ConvScratch? = nil) {
        let scratch = scratch ?? ConvScratch(threads: threads)
        let cin = spec.inChannels, cout = spec.outChannels, k = spec.kernel
        let kk = cin * k * k
        let outPlane = dy.plane, outW = dy.w
        if let dBias {
            for image in 0..<dy.n {
                for o in 0..<cout {
                    dBias[o] += Float(doubleSum(dy.data + image * dy.itemCount + o * outPlane, count: outPlane))
                }
            }
        }
        let workers = ConvScratch.workers(images: x.n, threads: threads)
        let weightCount = cout * kk
        parallelChunksIndexed(x.n, threads: workers) { worker, images in
            let dW: UnsafeMutablePointer<Float>
            if worker == 0 {
                dW = dWeight
            } else {
                dW = scratch.weightGradient(worker, count: weightCount)
                dW.update(repeating: 0, count: weightCount)
            }
            for group in scratch.groups(spec, images: images, outH: dy.h, outW: outW) {
                let width = group.width
                // dY of the group: dy itself for one block, else its blocks side by side.
                let g: UnsafePointer<Float>, ldg: Int
                if let only = group.single {
                    g = UnsafePointer(dy.data + only.image * dy.itemCount + only.row * outW)
                    ldg = outPlane
                } else {
                    let gathered = scratch.output(worker, count: cout * width)
                    for segment in group.segments {
                        let gn = dy.data + segment.image * dy.itemCount + segment.row * outW
                        for o in 0..<cout {
                            (gathered + o * width + segment.column).update(from: gn + o * outPlane, count: segment.rows * outW)
                        }
                    }
                    g = UnsafePointer(gathered)
                    ldg = width
                }
                let (b, ldb) = columns(spec, x: x, group: group, outW: outW, into: { scratch.columns(worker, count: $0) })
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(cout), Int32(kk), Int32(width),
                            1, g, Int32(ldg), b, Int32(ldb), 1, dW, Int32(kk))
                guard let dx else { continue }
                if spec.isPointwise, let only = group.single {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(cin), Int32(width), Int32(cout),
                                1, weight, Int32(cin), g, Int32(ldg), 1,
                                dx.data + only.image * dx.itemCount + only.row * outW, Int32(outPlane))
                    continue
                }
                let dcols = scratch.columnGradient(worker, count: kk * width)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(kk), Int32(width), Int32(cout),
                            1, weight, Int32(kk), g, Int32(ldg), 0, dcols, Int32(width))
                for segment in group.segments {
                    let dxn = dx.data + segment.image * dx.itemCount
                    if spec.isPointwise {
                        for c in 0..<cin {
                            cblas_saxpy(Int32(segment.rows * outW), 1, dcols + c * width + segment.column, 1,
                                        dxn + c * outPlane + segment.row * outW, 1)
                        }
                    } else {
                        ckf_col2im(dcols + segment.column, Int32(x.h), Int32(x.w), Int32(k), Int32(spec.stride),
                                   Int32(spec.padding), Int32(spec.dilation), Int32(outW), Int32(segment.row),
                                   Int32(segment.rows), 0, Int32(cin), dxn, width)
                    }
                }
            }
        }
        for worker in 1..<max(workers, 1) {
            cblas_saxpy(Int32(weightCount), 1, scratch.weightGradient(worker, count: weightCount), 1, dWeight, 1)
        }
    }

    // MARK: reductions

    /// Σ p[0..<count] accumulated in Double. The trainer's reductions over a plane (up to N·H·W = 524288 terms at
    /// 256×256, batch 8) feed differences that cancel — BatchNorm's backward subtracts the mean gradient from each
    /// gradient — so a float32 running sum (relative error growing with the count) shows up as a gradient error of
    /// order 1e-3; PyTorch's CPU kernels accumulate these sums in double too.
    @inline(__always)
    static func doubleSum(_ p: UnsafePointer<Float>, count: Int) -> Double {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
        var i = 0
        while i + 4 <= count {
            a0 += Double(p[i]); a1 += Double(p[i + 1]); a2 += Double(p[i + 2]); a3 += Double(p[i + 3])
            i += 4
        }
        while i < count { a0 += Double(p[i]); i += 1 }
        return (a0 + a1) + (a2 + a3)
    }

    /// Σ a[i]·b[i] accumulated in Double (see `doubleSum`).
    @inline(__always)
    static func doubleDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
        var i = 0
        while i + 4 <= count {
            a0 += Double(a[i]) * Double(b[i]); a1 += Double(a[i + 1]) * Double(b[i + 1])
            a2 += Double(a[i + 2]) * Double(b[i + 2]); a3 += Double(a[i + 3]) * Double(b[i + 3])
            i += 4
        }
        while i < count { a0 += Double(a[i]) * Double(b[i]); i += 1 }
        return (a0 + a1) + (a2 + a3)
    }

    // MARK: BatchNorm (training mode)

    /// Batch statistics of one BatchNorm layer, kept for its backward.
    public struct BatchNormSaved {
        /// 1/√(var + eps) per channel (biased variance over N×H×W).
        public var inverseStd: [Float]
    }

    /// In place over `z`: z ← x̂ = (z − mean)/√(var + eps) with batch statistics over N×H×W; y = γ·x̂ + β
    /// (then ReLU if `relu`). Updates the running statistics (momentum, unbiased variance) when given.
    public static func batchNormForward(z: Tensor, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                        runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?,
                                        momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool, y: Tensor,
                                        threads: Int) -> BatchNormSaved {
        let channels = z.c, plane = z.plane, count = z.n * plane
        var inverse = [Float](repeating: 0, count: channels)
        inverse.withUnsafeMutableBufferPointer { invBuffer in
            let inv = invBuffer.baseAddress!
            parallelChunks(channels, threads: threads) { range in
                for c in range {
                    var sum = 0.0
                    for image in 0..<z.n { sum += doubleSum(z.data + image * z.itemCount + c * plane, count: plane) }
                    let mean = sum / Double(count)
                    var squares = 0.0
                    for image in 0..<z.n {
                        let p = z.data + image * z.itemCount + c * plane
                        var s = 0.0
                        for i in 0..<plane { let d = Double(p[i]) - mean; s += d * d }
                        squares += s
                    }
                    let variance = squares / Double(count)
                    let invStd = Float(1 / (variance + Double(eps)).squareRoot())
                    inv[c] = invStd
                    if let runningMean, let runningVar {
                        let unbiased = count > 1 ? squares / Double(count - 1) : variance
                        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * Float(mean)
                        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
                    }
                    let m = Float(mean), g = gamma[c], b = beta[c]
                    for image in 0..<z.n {
                        let p = z.data + image * z.itemCount + c * plane
                        let q = y.data + image * y.itemCount + c * plane
                        for i in 0..<plane {
                            let xhat = (p[i] - m) * invStd
                            p[i] = xhat
                            let v = g * xhat + b
                            q[i] = relu ? max(v, 0) : v
                        }
                    }
                }
            }
        }
        return BatchNormSaved(inverseStd: inverse)
    }

    /// Backward of `batchNormForward`: from dy (w.r.t. the output after the optional ReLU, whose mask is y > 0)
    /// gives dz (w.r.t. the convolution output) and accumulates dγ, dβ.
    /// dz = invStd/M · (M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), dx̂ = dy·γ.
    public static func batchNormBackward(xhat: Tensor, y: Tensor, dy: Tensor, relu: Bool, gamma: UnsafePointer<Float>,
                                         saved: BatchNormSaved, dGamma: UnsafeMutablePointer<Float>,
                                         dBeta: UnsafeMutablePointer<Float>, dz: Tensor, threads: Int) {
        let channels = xhat.c, plane = xhat.plane
        let count = xhat.n * plane
        saved.inverseStd.withUnsafeBufferPointer { invBuffer in
            let inv = invBuffer.baseAddress!
            parallelChunks(channels, threads: threads) { range in
                for c in range {
                    var sumG = 0.0, sumGX = 0.0
                    for image in 0..<xhat.n {
                        let offset = image * xhat.itemCount + c * plane
                        let g = dy.data + offset, xh = xhat.data + offset, out = y.data + offset
                        var s0 = 0.0, s1 = 0.0, sx0 = 0.0, sx1 = 0.0
                        var i = 0
                        while i + 2 <= plane {
                            let g0 = Double((relu && out[i] <= 0) ? 0 : g[i])
                            let g1 = Double((relu && out[i + 1] <= 0) ? 0 : g[i + 1])
                            s0 += g0; s1 += g1
                            sx0 += g0 * Double(xh[i]); sx1 += g1 * Double(xh[i + 1])
                            i += 2
                        }
                        if i < plane {
                            let g0 = Double((relu && out[i] <= 0) ? 0 : g[i])
                            s0 += g0; sx0 += g0 * Double(xh[i])
                        }
                        sumG += s0 + s1
                        sumGX += sx0 + sx1
                    }
                    dBeta[c] += Float(sumG)
                    dGamma[c] += Float(sumGX)
                    let gm = gamma[c]
                    let meanG = Float(sumG / Double(count)), meanGX = Float(sumGX / Double(count))
                    let scale = gm * inv[c]
                    for image in 0..<xhat.n {
                        let offset = image * xhat.itemCount + c * plane
                        let g = dy.data + offset, xh = xhat.data + offset, out = y.data + offset
                        let d = dz.data + offset
                        for i in 0..<plane {
                            let gi = (relu && out[i] <= 0) ? 0 : g[i]
                            d[i] += scale * (gi - meanG - xh[i] * meanGX)
                        }
                    }
                }
            }
        }
    }

    // MARK: elementwise

    /// dx += dy where y > 0 (ReLU's backward from its output).
    public static func reluBackward(y: Tensor, dy: Tensor, dx: Tensor) {
        for i in 0..<y.count where y.data[i] > 0 { dx.data[i] += dy.data[i] }
    }

    /// dx += dy·y·(1 − y) (sigmoid's backward from its output).
    public static func sigmoidBackward(y: Tensor, dy: Tensor, dx: Tensor) {
        for i in 0..<y.count {
            let s = y.data[i]
            dx.data[i] += dy.data[i] * s * (1 - s)
        }
    }

    /// y = x · gate with the gate N×C×1×1 (per channel) or N×1×H×W (per pixel): ReferenceOps.mul per image.
    public static func mulForward(x: Tensor, gate: Tensor, y: Tensor) {
        for image in 0..<x.n {
            ReferenceOps.mul(x.data + image * x.itemCount, channels: x.c, plane: x.plane,
                             gate: gate.data + image * gate.itemCount, gateChannels: gate.c, gatePlane: gate.plane,
                             output: y.data + image * y.itemCount)
        }
    }

    /// Backward of `mulForward`: dx += dy·gate, dgate += Σ over the broadcast axis of dy·x.
    public static func mulBackward(x: Tensor, gate: Tensor, dy: Tensor, dx: Tensor?, dGate: Tensor?) {
        let perPixel = ReferenceOps.isPerPixelGate(gateChannels: gate.c, gatePlane: gate.plane, plane: x.plane)
        for image in 0..<x.n {
            for c in 0..<x.c {
                let offset = image * x.itemCount + c * x.plane
                let src = x.data + offset, g = dy.data + offset
                if perPixel {
                    let gv = gate.data + image * gate.itemCount
                    if let dx { let d = dx.data + offset; for i in 0..<x.plane { d[i] += g[i] * gv[i] } }
                    if let dGate {
                        let dg = dGate.data + image * dGate.itemCount
                        for i in 0..<x.plane { dg[i] += g[i] * src[i] }
                    }
                } else {
                    let gv = gate.data[image * gate.itemCount + c]
                    if let dx { let d = dx.data + offset; for i in 0..<x.plane { d[i] += g[i] * gv } }
                    if let dGate {
                        dGate.data[image * dGate.itemCount + c] += Float(doubleDot(g, src, count: x.plane))
                    }
                }
            }
        }
    }

    // MARK: pooling, upsampling, channel statistics

    /// PyTorch MaxPool2d over every plane of the batch.
    public static func maxPoolForward(kernel: Int, stride: Int, padding: Int, x: Tensor, y: Tensor, threads: Int) {
        ReferenceOps.maxPool(kernel: kernel, stride: stride, padding: padding, channels: x.n * x.c, input: x.data,
                             inH: x.h, inW: x.w, output: y.data, outH: y.h, outW: y.w, threads: threads)
    }

    /// dx at the first maximum of each window (PyTorch's tie rule: strictly greater replaces) += dy.
    public static func maxPoolBackward(kernel: Int, stride: Int, padding: Int, x: Tensor, dy: Tensor, dx: Tensor,
                                       threads: Int) {
        parallelChunks(x.n * x.c, threads: threads) { range in
            for plane in range {
                let src = x.data + plane * x.plane, d = dx.data + plane * x.plane
                let g = dy.data + plane * dy.plane
                for oy in 0..<dy.h {
                    for ox in 0..<dy.w {
                        var best = -Float.infinity, at = -1
                        for ky in 0..<kernel {
                            let iy = oy * stride - padding + ky
                            if iy < 0 || iy >= x.h { continue }
                            for kx in 0..<kernel {
                                let ix = ox * stride - padding + kx
                                if ix < 0 || ix >= x.w { continue }
                                let v = src[iy * x.w + ix]
                                if v > best || at < 0 { best = v; at = iy * x.w + ix }
                            }
                        }
                        if at >= 0 { d[at] += g[oy * dy.w + ox] }
                    }
                }
            }
        }
    }

    /// Bilinear align-corners upsampling of every plane.
    public static func upsampleForward(x: Tensor, y: Tensor, threads: Int) {
        ReferenceOps.upsampleAlignCorners(channels: x.n * x.c, input: x.data, inH: x.h, inW: x.w, output: y.data,
                                          outH: y.h, outW: y.w, threads: threads)
    }

    /// Scatter of the upsampling weights: each output gradient goes to its four sources.
    public static func upsampleBackward(dy: Tensor, dx: Tensor, threads: Int) {
        let (y0, y1, ly) = ReferenceOps.alignCornersTable(inSize: dx.h, outSize: dy.h)
        let (x0, x1, lx) = ReferenceOps.alignCornersTable(inSize: dx.w, outSize: dy.w)
        let inW = dx.w, outW = dy.w
        parallelChunks(dx.n * dx.c, threads: threads) { range in
            for plane in range {
                let g = dy.data + plane * dy.plane, d = dx.data + plane * dx.plane
                for oy in 0..<dy.h {
                    let r0 = d + y0[oy] * inW, r1 = d + y1[oy] * inW
                    let h1 = ly[oy], h0 = 1 - h1
                    for ox in 0..<outW {
                        let v = g[oy * outW + ox]
                        let w1 = lx[ox], w0 = 1 - w1
                        r0[x0[ox]] += h0 * w0 * v
                        r0[x1[ox]] += h0 * w1 * v
                        r1[x0[ox]] += h1 * w0 * v
                        r1[x1[ox]] += h1 * w1 * v
                    }
                }
            }
        }
    }

    /// Global mean (or max) over H×W of every plane: y is N×C×1×1.
    public static func globalPoolForward(max useMax: Bool, x: Tensor, y: Tensor) {
        ReferenceOps.globalPool(max: useMax, channels: x.n * x.c, input: x.data, plane: x.plane, output: y.data)
    }

    /// dx += dy/(H·W) (mean) or dx at the first maximum += dy (max).
    public static func globalPoolBackward(max useMax: Bool, x: Tensor, dy: Tensor, dx: Tensor) {
        let plane = x.plane
        for p in 0..<(x.n * x.c) {
            let g = dy.data[p]
            let d = dx.data + p * plane
            if useMax {
                let src = x.data + p * plane
                var at = 0
                for i in 1..<max(plane, 1) where src[i] > src[at] { at = i }
                d[at] += g
            } else {
                let v = g / Float(plane)
                for i in 0..<plane { d[i] += v }
            }
        }
    }

    /// y[:,0] = mean over channels, y[:,1] = max over channels.
    public static func channelMeanMaxForward(x: Tensor, y: Tensor) {
        for image in 0..<x.n {
            ReferenceOps.channelMeanMax(channels: x.c, input: x.data + image * x.itemCount, plane: x.plane,
                                        output: y.data + image * y.itemCount)
        }
    }

    /// dx += dmean/C everywhere, and dmax at the first channel holding the maximum.
    public static func channelMeanMaxBackward(x: Tensor, dy: Tensor, dx: Tensor) {
        let plane = x.plane, channels = x.c
        for image in 0..<x.n {
            let src = x.data + image * x.itemCount, d = dx.data + image * x.itemCount
            let gMean = dy.data + image * dy.itemCount, gMax = gMean + plane
            for i in 0..<plane {
                var at = 0
                var best = src[i]
                for c in 1..<max(channels, 1) where src[c * plane + i] > best { best = src[c * plane + i]; at = c }
                let m = gMean[i] / Float(channels)
                for c in 0..<channels { d[c * plane + i] += m }
                d[at * plane + i] += gMax[i]
            }
        }
    }

    // MARK: CDFA window attention

    /// Window attention and fold (docs/architecture.md, steps 3–6) for every image (ReferenceOps per image).
    public static func windowAttentionForward(heads: Int, window: Int, values: Tensor, logits: Tensor, y: Tensor,
                                              threads: Int) {
        let kk = window * window
        var scratch = [Float](repeating: 0, count: kk * kk * values.plane)
        scratch.withUnsafeMutableBufferPointer { s in
            for image in 0..<values.n {
                ReferenceOps.windowAttention(heads: heads, window: window, channels: values.c, height: values.h,
                                             width: values.w, values: values.data + image * values.itemCount,
                                             logits: logits.data + image * logits.itemCount,
                                             output: y.data + image * y.itemCount, weights: s.baseAddress!,
                                             threads: threads)
            }
        }
    }

    /// Backward of the window attention. With a = softmax_j(scale·L), y[q] = Σ_i Σ_j a[i][j](q−off_i)·v(q−off_i+off_j):
    /// da[i][j](p) = Σ_c dy[c](p+off_i)·v[c](p+off_j); dv[c](p+off_j) += Σ_i a[i][j](p)·dy[c](p+off_i);
    /// dL[i][j](p) = scale·a·(da − Σ_j' a·da). Terms whose p+off_i or p+off_j leave the image are zero.
    public static func windowAttentionBackward(heads: Int, window k: Int, values: Tensor, logits: Tensor, dy: Tensor,
                                               dValues: Tensor?, dLogits: Tensor?, threads: Int) {
        let height = values.h, width = values.w, plane = values.plane
        let kk = k * k
        let headDim = values.c / heads
        let scale = Float(1.0 / Double(headDim).squareRoot())
        let half = k / 2
        var attention = [Float](repeating: 0, count: kk * kk * plane)
        var dAttention = attention
        attention.withUnsafeMutableBufferPointer { aBuffer in
            dAttention.withUnsafeMutableBufferPointer { daBuffer in
                let a = aBuffer.baseAddress!, da = daBuffer.baseAddress!
                for image in 0..<values.n {
                    let v = values.data + image * values.itemCount
                    let g = dy.data + image * dy.itemCount
                    for h in 0..<heads {
                        let base = logits.data + image * logits.itemCount + h * kk * kk * plane
                        // Softmax over j, as the forward.
                        ReferenceOps.windowSoftmax(window: k, plane: plane, scale: scale, logits: base, weights: a,
                                                   threads: threads)
                        // da[i][j](p) = Σ_c dy[c](p+off_i)·v[c](p+off_j).
                        parallelChunks(kk, threads: threads) { range in
                            for i in range {
                                let iy = i / k - half, ix = i % k - half
                                for j in 0..<kk {
                                    let jy = j / k - half, jx = j % k - half
                                    let dst = da + (i * kk + j) * plane
                                    for p in 0..<plane { dst[p] = 0 }
                                    let pyLo = max(0, -iy, -jy), pyHi = min(height, height - iy, height - jy)
                                    let pxLo = max(0, -ix, -jx), pxHi = min(width, width - ix, width - jx)
                                    if pyLo >= pyHi || pxLo >= pxHi { continue }
                                    for cc in 0..<headDim {
                                        let c = h * headDim + cc
                                        let gPlane = g + c * plane, vPlane = v + c * plane
                                        for py in pyLo..<pyHi {
                                            let gRow = gPlane + (py + iy) * width + ix
                                            let vRow = vPlane + (py + jy) * width + jx
                                            let dRow = dst + py * width
                                            for px in pxLo..<pxHi { dRow[px] += gRow[px] * vRow[px] }
                                        }
                                    }
                                }
                            }
                        }
                        // dv[c](p+off_j) += a[i][j](p)·dy[c](p+off_i).
                        if let dValues {
                            let dv = dValues.data + image * dValues.itemCount
                            parallelChunks(headDim, threads: threads) { range in
                                for cc in range {
                                    let c = h * headDim + cc
                                    let gPlane = g + c * plane, dvPlane = dv + c * plane
                                    for i in 0..<kk {
                                        let iy = i / k - half, ix = i % k - half
                                        for j in 0..<kk {
                                            let jy = j / k - half, jx = j % k - half
                                            let aij = a + (i * kk + j) * plane
                                            let pyLo = max(0, -iy, -jy), pyHi = min(height, height - iy, height - jy)
                                            let pxLo = max(0, -ix, -jx), pxHi = min(width, width - ix, width - jx)
                                            if pyLo >= pyHi || pxLo >= pxHi { continue }
                                            for py in pyLo..<pyHi {
                                                let gRow = gPlane + (py + iy) * width + ix
                                                let dRow = dvPlane + (py + jy) * width + jx
                                                let aRow = aij + py * width
                                                for px in pxLo..<pxHi { dRow[px] += aRow[px] * gRow[px] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        // Softmax backward into the logits.
                        if let dLogits {
                            let dl = dLogits.data + image * dLogits.itemCount + h * kk * kk * plane
                            parallelChunks(kk, threads: threads) { range in
                                for i in range {
                                    let aRow = a + i * kk * plane, daRow = da + i * kk * plane
                                    let dlRow = dl + i * kk * plane
                                    for p in 0..<plane {
                                        var dot: Float = 0
                                        for j in 0..<kk { dot += aRow[j * plane + p] * daRow[j * plane + p] }
                                        for j in 0..<kk {
                                            let o = j * plane + p
                                            dlRow[o] += scale * aRow[o] * (daRow[o] - dot)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
