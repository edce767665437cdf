// ReferenceOps.swift — the float32 operators of the reference executor, on NCHW buffers, one batch item at a
// time. Plain loops that follow PyTorch's definitions (the formulas are written next to each); only the
// convolution hands its arithmetic to OpenBLAS sgemm (im2col, row-chunked to bound the scratch buffer).
// These are the oracle the optimised executors and the trainer are tested against.

import COpenBLAS
import Foundation

/// Float32 operators over raw NCHW planes. `threads` splits loops over channels (deterministically).
public enum ReferenceOps {
    /// Floats of im2col scratch the convolution uses at most (rows are chunked to fit).
    public static let im2colLimit = 1 << 21

    /// Scratch floats `conv` needs for this shape.
    public static func convScratch(_ spec: ConvSpec, outH: Int, outW: Int) -> Int {
        if spec.isPointwise { return 0 }
        let k = spec.inChannels * spec.kernel * spec.kernel
        let rows = max(1, min(outH, im2colLimit / max(1, k * outW)))
        return k * rows * outW
    }

    /// y = W ⊛ x + b (then ReLU), PyTorch Conv2d semantics (zero padding, dilation, stride), one image.
    /// `weights` is [out][in·k·k]. `scratch` holds at least `convScratch` floats.
    public static func conv(_ spec: ConvSpec, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                            input x: UnsafePointer<Float>, inH: Int, inW: Int,
                            output y: UnsafeMutablePointer<Float>, outH: Int, outW: Int,
                            scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let cin = spec.inChannels, cout = spec.outChannels, k = spec.kernel
        let kk = cin * k * k
        let outPlane = outH * outW
        if spec.isPointwise {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(outPlane), Int32(cin),
                        1, weights, Int32(cin), x, Int32(outPlane), 0, y, Int32(outPlane))
        } else {
            let rowsPerChunk = max(1, min(outH, im2colLimit / max(1, kk * outW)))
            var oy0 = 0
            while oy0 < outH {
                let rows = min(rowsPerChunk, outH - oy0)
                im2col(spec, input: x, inH: inH, inW: inW, outW: outW, rowBegin: oy0, rows: rows,
                       columns: scratch, threads: threads)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(rows * outW), Int32(kk),
                            1, weights, Int32(kk), scratch, Int32(rows * outW), 0, y + oy0 * outW, Int32(outPlane))
                oy0 += rows
            }
        }
        let relu = spec.relu
        parallelChunks(cout, threads: threads) { range in
            for o in range {
                let b = bias[o]
                let plane = y + o * outPlane
                if relu {
                    for i in 0..<outPlane { plane[i] = max(plane[i] + b, 0) }
                } else {
                    for i in 0..<outPlane { plane[i] += b }
                }
            }
        }
    }

    /// columns[(c·k + ky)·k + kx][r·outW + ox] = x[c][oy·s − p + ky·d][ox·s − p + kx·d] (0 outside),
    /// for output rows oy = rowBegin + r.
    public static func im2col(_ spec: ConvSpec, input x: UnsafePointer<Float>, inH: Int, inW: Int, outW: Int,
                              rowBegin: Int, rows: Int, columns: UnsafeMutablePointer<Float>, threads: Int) {
        let k = spec.kernel, s = spec.stride, p = spec.padding, d = spec.dilation
        let width = rows * outW
        parallelChunks(spec.inChannels, threads: threads) { range in
            for c in range {
                let plane = x + c * inH * inW
                for ky in 0..<k {
                    for kx in 0..<k {
                        let row = columns + ((c * k + ky) * k + kx) * width
                        for r in 0..<rows {
                            let iy = (rowBegin + r) * s - p + ky * d
                            let dst = row + r * outW
                            if iy < 0 || iy >= inH {
                                for ox in 0..<outW { dst[ox] = 0 }
                                continue
                            }
                            let src = plane + iy * inW
                            let off = kx * d - p
                            for ox in 0..<outW {
                                let ix = ox * s + off
                                dst[ox] = (ix >= 0 && ix < inW) ? src[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// PyTorch MaxPool2d (padding acts as −∞).
    public static func maxPool(kernel: Int, stride: Int, padding: Int, channels: Int,
                               input x: UnsafePointer<Float>, inH: Int, inW: Int,
                               output y: UnsafeMutablePointer<Float>, outH: Int, outW: Int, threads: Int) {
        parallelChunks(channels, threads: threads) { range in
            for c in range {
                let src = x + c * inH * inW, dst = y + c * outH * outW
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        var m = -Float.infinity
                        for ky in 0..<kernel {
                            let iy = oy * stride - padding + ky
                            if iy < 0 || iy >= inH { continue }
                            for kx in 0..<kernel {
                                let ix = ox * stride - padding + kx
                                if ix < 0 || ix >= inW { continue }
                                m = max(m, src[iy * inW + ix])
                            }
                        }
                        dst[oy * outW + ox] = m
                    }
                }
            }
        }
    }

    /// Bilinear upsampling with align_corners = true, in PyTorch's arithmetic:
    /// src = dst·(in−1)/(out−1) in float; y = (1−λh)((1−λw)v00 + λw v01) + λh((1−λw)v10 + λw v11).
    /// Computed separably with the same roundings: each input row's horizontal interpolations (1−λw)v0 + λw v1 once,
    /// then every output row as (1−λh)·row0 + λh·row1 (so no output row repeats a horizontal pass).
    public static func upsampleAlignCorners(channels: Int, input x: UnsafePointer<Float>, inH: Int, inW: Int,
                                            output y: UnsafeMutablePointer<Float>, outH: Int, outW: Int, threads: Int) {
        let (y0, y1, ly) = alignCornersTable(inSize: inH, outSize: outH)
        let (x0, x1, lx) = alignCornersTable(inSize: inW, outSize: outW)
        parallelChunks(channels, threads: threads) { range in
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: inH * outW)
            defer { rows.deallocate() }
            x0.withUnsafeBufferPointer { x0 in
                x1.withUnsafeBufferPointer { x1 in
                    lx.withUnsafeBufferPointer { lx in
                        for c in range {
                            let src = x + c * inH * inW, dst = y + c * outH * outW
                            for iy in 0..<inH {
                                let r = src + iy * inW, h = rows + iy * outW
                                for ox in 0..<outW {
                                    let w1 = lx[ox], w0 = 1 - w1
                                    h[ox] = w0 * r[x0[ox]] + w1 * r[x1[ox]]
                                }
                            }
                            for oy in 0..<outH {
                                let r0 = rows + y0[oy] * outW, r1 = rows + y1[oy] * outW, d = dst + oy * outW
                                let h1 = ly[oy], h0 = 1 - h1
                                for ox in 0..<outW { d[ox] = h0 * r0[ox] + h1 * r1[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Source indices and weights of align-corners interpolation along one axis.
    public static func alignCornersTable(inSize: Int, outSize: Int) -> ([Int], [Int], [Float]) {
        let scale: Float = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
        var i0 = [Int](repeating: 0, count: outSize), i1 = i0
        var lambda = [Float](repeating: 0, count: outSize)
        for o in 0..<outSize {
            let src = scale * Float(o)
            let lo = min(Int(src), inSize - 1)
            i0[o] = lo
            i1[o] = lo + (lo < inSize - 1 ? 1 : 0)
            lambda[o] = src - Float(lo)
        }
        return (i0, i1, lambda)
    }

    /// Mean and max over H×W of each channel (global pools). The mean sums in Double, in order; the max keeps four
    /// running maxima (every 4th value each; NaN is skipped as by one running max) and takes the largest, so it
    /// does not wait on one chain of compares (the value is the same; only which of equal +0/−0 maxima comes
    /// out may differ from a single running max).
    public static func globalPool(max useMax: Bool, channels: Int, input x: UnsafePointer<Float>, plane: Int,
                                  output y: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            let src = x + c * plane
            if useMax {
                var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0
                var i = 0
                while i + 4 <= plane {
                    m0 = max(m0, src[i]); m1 = max(m1, src[i + 1]); m2 = max(m2, src[i + 2]); m3 = max(m3, src[i + 3])
                    i += 4
                }
                while i < plane { m0 = max(m0, src[i]); i += 1 }
                y[c] = max(max(m0, m1), max(m2, m3))
            } else {
                var s: Double = 0
                for i in 0..<plane { s += Double(src[i]) }
                y[c] = Float(s / Double(plane))
            }
        }
    }

    /// y[0] = mean over channels, y[1] = max over channels, per pixel.
    public static func channelMeanMax(channels: Int, input x: UnsafePointer<Float>, plane: Int,
                                      output y: UnsafeMutablePointer<Float>) {
        let mean = y, mx = y + plane
        for i in 0..<plane { mean[i] = 0; mx[i] = -Float.infinity }
        for c in 0..<channels {
            let src = x + c * plane
            for i in 0..<plane {
                mean[i] += src[i]
                mx[i] = max(mx[i], src[i])
            }
        }
        let inv = Float(channels)
        for i in 0..<plane { mean[i] /= inv }
    }

    /// y = a₀ + a₁ + … (summed left to right, in float), then ReLU if `relu`. `count` elements each; works on one
    /// image or a whole batch alike. The trainer's forward uses it too, so both sum in the same order.
    public static func add(_ inputs: [UnsafePointer<Float>], count: Int, relu: Bool, output y: UnsafeMutablePointer<Float>) {
        y.update(from: inputs[0], count: count)
        for x in inputs.dropFirst() {
            for i in 0..<count { y[i] += x[i] }
        }
        if relu { for i in 0..<count { y[i] = max(y[i], 0) } }
    }

    /// Whether a gate of `gateChannels` channels × `gatePlane` pixels multiplies a C×`plane` map per pixel
    /// (spatial attention, N×1×H×W) rather than per channel (channel attention, N×C×1×1).
    public static func isPerPixelGate(gateChannels: Int, gatePlane: Int, plane: Int) -> Bool {
        gateChannels == 1 && gatePlane == plane && plane > 1
    }

    /// y[c][i] = x[c][i] · gate, one image: the gate is one value per channel (`gateChannels` = `channels`,
    /// `gatePlane` = 1) or one value per pixel (`gateChannels` = 1, `gatePlane` = `plane`).
    public static func mul(_ x: UnsafePointer<Float>, channels: Int, plane: Int, gate: UnsafePointer<Float>,
                           gateChannels: Int, gatePlane: Int, output y: UnsafeMutablePointer<Float>) {
        let perPixel = isPerPixelGate(gateChannels: gateChannels, gatePlane: gatePlane, plane: plane)
        for c in 0..<channels {
            let src = x + c * plane, dst = y + c * plane
            if perPixel {
                for i in 0..<plane { dst[i] = src[i] * gate[i] }
            } else {
                let g = gate[c]
                for i in 0..<plane { dst[i] = src[i] * g }
            }
        }
    }

    /// Concatenation along channels, one image: the inputs' values (each `count` = Cₖ·H·W) one after another.
    public static func concat(_ inputs: [(values: UnsafePointer<Float>, count: Int)], output y: UnsafeMutablePointer<Float>) {
        var offset = 0
        for input in inputs {
            (y + offset).update(from: input.values, count: input.count)
            offset += input.count
        }
    }

    /// Logistic sigmoid 1 / (1 + e^−x).
    public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = 1 / (1 + exp(-x[i])) }
    }

    /// CDFA window attention and fold for one image (docs/architecture.md, steps 3–6). `values` is C×H×W, `logits`
    /// (heads·k⁴)×H×W; `weights` is scratch of k⁴·H·W floats (one head's softmax at a time).
    /// y[c][q] = Σ_i Σ_j a[h][i][j](q − off_i) · v[c](q − off_i + off_j), where p = q − off_i and
    /// p + off_j must both lie inside the image; a = softmax_j(logits·(C/heads)^−½).
    public static func windowAttention(heads: Int, window k: Int, channels: Int, height: Int, width: Int,
                                       values v: UnsafePointer<Float>, logits: UnsafePointer<Float>,
                                       output y: UnsafeMutablePointer<Float>, weights a: UnsafeMutablePointer<Float>,
                                       threads: Int) {
        let plane = height * width
        let kk = k * k
        let headDim = channels / heads
        let scale = Float(1.0 / Double(headDim).squareRoot())
        let half = k / 2
        for i in 0..<(channels * plane) { y[i] = 0 }
        for h in 0..<heads {
            windowSoftmax(window: k, plane: plane, scale: scale, logits: logits + h * kk * kk * plane, weights: a,
                          threads: threads)
            // Weighted sum of neighbours and fold, channel by channel of this head.
            parallelChunks(headDim, threads: threads) { range in
                for cc in range {
                    let c = h * headDim + cc
                    let src = v + c * plane, dst = y + c * plane
                    for i in 0..<kk {
                        let iy = i / k - half, ix = i % k - half
                        for j in 0..<kk {
                            let jy = j / k - half, jx = j % k - half
                            let aij = a + (i * kk + j) * plane
                            // q = p + off_i; p and p + off_j inside the image.
                            let pyLo = max(0, -jy), pyHi = min(height, height - jy)   // p + jy inside
                            let pxLo = max(0, -jx), pxHi = min(width, width - jx)
                            let qyLo = max(pyLo + iy, 0), qyHi = min(pyHi + iy, height)
                            let qxLo = max(pxLo + ix, 0), qxHi = min(pxHi + ix, width)
                            if qyLo >= qyHi || qxLo >= qxHi { continue }
                            for qy in qyLo..<qyHi {
                                let py = qy - iy
                                let aRow = aij + py * width - ix
                                let vRow = src + (py + jy) * width + jx - ix
                                let yRow = dst + qy * width
                                multiplyAdd(yRow + qxLo, aRow + qxLo, vRow + qxLo, count: qxHi - qxLo)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One head's attention weights: weights[(i·k² + j)·plane + p] = softmax over j of logits[(i·k² + j)·plane + p]·scale
    /// (max-subtracted), for every window slot i and pixel p. Shared with the trainer's backward.
    public static func windowSoftmax(window k: Int, plane: Int, scale: Float, logits base: UnsafePointer<Float>,
                                     weights a: UnsafeMutablePointer<Float>, threads: Int) {
        let kk = k * k
        parallelChunks(kk, threads: threads) { range in
            for i in range {
                let row = base + i * kk * plane
                let out = a + i * kk * plane
                for p in 0..<plane {
                    var m = -Float.infinity
                    for j in 0..<kk { m = max(m, row[j * plane + p] * scale) }
                    var sum: Float = 0
                    for j in 0..<kk {
                        let e = exp(row[j * plane + p] * scale - m)
                        out[j * plane + p] = e
                        sum += e
                    }
                    for j in 0..<kk { out[j * plane + p] /= sum }
                }
            }
        }
    }

    /// y[i] += a[i] · b[i] for i < count (a separate multiply and add, as the scalar loop: no FMA contraction).
    @inline(__always)
    static func multiplyAdd(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            count: Int) {
        var i = 0
        let ry = UnsafeMutableRawPointer(y), ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i &+ 8 <= count {
            let offset = i &* 4
            let va = ra.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            let vb = rb.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            let vy = ry.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            ry.storeBytes(of: vy + va * vb, toByteOffset: offset, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count {
            y[i] += a[i] * b[i]
            i &+= 1
        }
    }
}
