// TrainOps.swift — batch-aware forward and backward of every op ConDSeg uses, on NCHW Tensors.
// Forwards reuse the reference operators (ReferenceOps) image by image or plane by plane; backwards are
// written here from the same formulas: convolution gradients as OpenBLAS GEMMs over im2col columns (and a
// col2im scatter), BatchNorm with batch statistics, pooling/upsampling scatters, and the CDFA window
// attention's softmax and fold. Loops split over channels/planes with `parallelChunks` (each chunk writes
// its own rows, so results do not depend on scheduling).

import COpenBLAS
import CondSegCore
import Foundation

/// Forward and backward operators of the trainer. Backward functions *accumulate* (+=) into input gradients.
public enum TrainOps {
    // MARK: convolution

    /// y = W ⊛ x + b for every image of the batch (no BatchNorm, no ReLU: the caller applies them).
    public static func convForward(_ spec: ConvSpec, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                   x: Tensor, y: Tensor, threads: Int) {
        var plain = spec
        plain.relu = false
        let zeros = [Float](repeating: 0, count: spec.outChannels)
        var scratch = [Float](repeating: 0, count: max(1, ReferenceOps.convScratch(plain, outH: y.h, outW: y.w)))
        zeros.withUnsafeBufferPointer { z in
            scratch.withUnsafeMutableBufferPointer { s in
                for image in 0..<x.n {
                    ReferenceOps.conv(plain, weights: weight, bias: bias ?? z.baseAddress!,
                                      input: x.data + image * x.itemCount, inH: x.h, inW: x.w,
                                      output: y.data + image * y.itemCount, outH: y.h, outW: y.w,
                                      scratch: s.baseAddress!, threads: threads)
                }
            }
        }
    }

    /// Gradients of y = W ⊛ x + b given dy: dW += Σ_n dy_n · cols_nᵀ, db += Σ dy, dx += col2im(Wᵀ · dy_n).
    /// `weight` is [out][in·k·k]; `dx` may be nil (the network input needs no gradient).
    public static func convBackward(_ spec: ConvSpec, weight: UnsafePointer<Float>, x: Tensor, dy: Tensor,
                                    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                                    dx: Tensor?, threads: Int) {
        let cin = spec.inChannels, cout = spec.outChannels, k = spec.kernel
        let kk = cin * k * k
        let outPlane = dy.plane, outW = dy.w
        if let dBias {
            for image in 0..<dy.n {
                for o in 0..<cout {
                    let g = dy.data + image * dy.itemCount + o * outPlane
                    var s: Float = 0
                    for i in 0..<outPlane { s += g[i] }
                    dBias[o] += s
                }
            }
        }
        let pointwise = k == 1 && spec.stride == 1 && spec.padding == 0
        let rowsPerChunk = max(1, min(dy.h, ReferenceOps.im2colLimit / max(1, kk * outW)))
        var columns = [Float](repeating: 0, count: pointwise ? 1 : kk * rowsPerChunk * outW)
        var dColumns = columns
        columns.withUnsafeMutableBufferPointer { colBuffer in
            dColumns.withUnsafeMutableBufferPointer { dColBuffer in
                let cols = colBuffer.baseAddress!, dcols = dColBuffer.baseAddress!
                for image in 0..<x.n {
                    let xn = x.data + image * x.itemCount
                    let gn = dy.data + image * dy.itemCount
                    if pointwise {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(cout), Int32(cin), Int32(outPlane),
                                    1, gn, Int32(outPlane), xn, Int32(outPlane), 1, dWeight, Int32(cin))
                        if let dx {
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(cin), Int32(outPlane), Int32(cout),
                                        1, weight, Int32(cin), gn, Int32(outPlane), 1,
                                        dx.data + image * dx.itemCount, Int32(outPlane))
                        }
                        continue
                    }
                    var oy0 = 0
                    while oy0 < dy.h {
                        let rows = min(rowsPerChunk, dy.h - oy0)
                        let width = rows * outW
                        ReferenceOps.im2col(spec, input: xn, inH: x.h, inW: x.w, outW: outW, rowBegin: oy0, rows: rows,
                                            columns: cols, threads: threads)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(cout), Int32(kk), Int32(width),
                                    1, gn + oy0 * outW, Int32(outPlane), cols, Int32(width), 1, dWeight, Int32(kk))
                        if let dx {
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(kk), Int32(width), Int32(cout),
                                        1, weight, Int32(kk), gn + oy0 * outW, Int32(outPlane), 0, dcols, Int32(width))
                            col2im(spec, columns: dcols, inH: x.h, inW: x.w, outW: outW, rowBegin: oy0, rows: rows,
                                   dx: dx.data + image * dx.itemCount, threads: threads)
                        }
                        oy0 += rows
                    }
                }
            }
        }
    }

    /// The adjoint of `ReferenceOps.im2col`: dx[c][oy·s − p + ky·d][ox·s − p + kx·d] += columns[(c·k + ky)·k + kx][r·outW + ox].
    public static func col2im(_ spec: ConvSpec, columns: UnsafePointer<Float>, inH: Int, inW: Int, outW: Int,
                              rowBegin: Int, rows: Int, dx: UnsafeMutablePointer<Float>, threads: Int) {
        let k = spec.kernel, s = spec.stride, p = spec.padding, d = spec.dilation
        let width = rows * outW
        parallelChunks(spec.inChannels, threads: threads) { range in
            for c in range {
                let plane = dx + c * inH * inW
                for ky in 0..<k {
                    for kx in 0..<k {
                        let row = columns + ((c * k + ky) * k + kx) * width
                        let off = kx * d - p
                        for r in 0..<rows {
                            let iy = (rowBegin + r) * s - p + ky * d
                            if iy < 0 || iy >= inH { continue }
                            let src = row + r * outW
                            let dst = plane + iy * inW
                            for ox in 0..<outW {
                                let ix = ox * s + off
                                if ix >= 0 && ix < inW { dst[ix] += src[ox] }
                            }
                        }
                    }
                }
            }
        }
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
                    for image in 0..<z.n {
                        let p = z.data + image * z.itemCount + c * plane
                        var s: Float = 0
                        for i in 0..<plane { s += p[i] }
                        sum += Double(s)
                    }
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
        let count = Float(xhat.n * plane)
        saved.inverseStd.withUnsafeBufferPointer { invBuffer in
            let inv = invBuffer.baseAddress!
            parallelChunks(channels, threads: threads) { range in
                for c in range {
                    var sumG = 0.0, sumGX = 0.0
                    for image in 0..<xhat.n {
                        let offset = image * xhat.itemCount + c * plane
                        let g = dy.data + offset, xh = xhat.data + offset, out = y.data + offset
                        var s: Float = 0, sx: Float = 0
                        for i in 0..<plane {
                            let gi = (relu && out[i] <= 0) ? 0 : g[i]
                            s += gi
                            sx += gi * xh[i]
                        }
                        sumG += Double(s)
                        sumGX += Double(sx)
                    }
                    dBeta[c] += Float(sumG)
                    dGamma[c] += Float(sumGX)
                    let gm = gamma[c]
                    let meanG = Float(sumG) / count, meanGX = Float(sumGX) / count
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

    /// y = x · gate with the gate N×C×1×1 (per channel) or N×1×H×W (per pixel).
    public static func mulForward(x: Tensor, gate: Tensor, y: Tensor) {
        let perPixel = gate.c == 1 && gate.plane == x.plane && x.plane > 1
        for image in 0..<x.n {
            for c in 0..<x.c {
                let src = x.data + image * x.itemCount + c * x.plane
                let dst = y.data + image * y.itemCount + c * y.plane
                if perPixel {
                    let g = gate.data + image * gate.itemCount
                    for i in 0..<x.plane { dst[i] = src[i] * g[i] }
                } else {
                    let g = gate.data[image * gate.itemCount + c]
                    for i in 0..<x.plane { dst[i] = src[i] * g }
                }
            }
        }
    }

    /// Backward of `mulForward`: dx += dy·gate, dgate += Σ over the broadcast axis of dy·x.
    public static func mulBackward(x: Tensor, gate: Tensor, dy: Tensor, dx: Tensor?, dGate: Tensor?) {
        let perPixel = gate.c == 1 && gate.plane == x.plane && x.plane > 1
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
                        var s: Float = 0
                        for i in 0..<x.plane { s += g[i] * src[i] }
                        dGate.data[image * dGate.itemCount + c] += s
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

    /// Window attention and fold (spec §3 steps 3–6) for every image (ReferenceOps per image).
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
