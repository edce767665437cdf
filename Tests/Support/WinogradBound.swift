// WinogradBound.swift — the magnitude a Winograd F(m×m, 3×3) convolution's rounding error is bounded against,
// computed in double straight from the transform matrices: for each output pixel of each tile,
// S = Σ_ξ |Aᵀ⊗Aᵀ|[pixel, ξ] · Σ_c ((|G|⊗|G|)·|w_oc|)[ξ] · ((|Bᵀ|⊗|Bᵀ|)·|d_c|)[ξ], d_c the tile's input window
// (docs/architecture.md, "Winograd convolutions", derives |error| ≤ γ_K·S). Tiles are laid out as the kernels
// lay them out: per phase (a, b) of the dilation, tiles of m×m pixels of the sub-grid a + dilation·i, b + dilation·j.

/// The Winograd transform matrices of one tile size, row-major: Bᵀ (n×n), G (n×3), Aᵀ (m×n), n = m + 2.
public struct WinogradMatrices {
    public let m: Int
    public let bt: [Double]
    public let g: [Double]
    public let at: [Double]
    public init(m: Int, bt: [Double], g: [Double], at: [Double]) {
        self.m = m; self.bt = bt; self.g = g; self.at = at
    }
    public var n: Int { m + 2 }

    /// Largest number of nonzero coefficients in a row of Bᵀ (terms of one input-transform sum).
    public var inputTerms: Int { (0..<n).map { i in (0..<n).filter { bt[i * n + $0] != 0 }.count }.max()! }
    /// Largest number of nonzero coefficients in a row of Aᵀ (terms of one output-transform sum).
    public var outputTerms: Int { (0..<m).map { i in (0..<n).filter { at[i * n + $0] != 0 }.count }.max()! }
}

/// S (above) for every output element of a 3×3 stride-1 convolution, NCHW, in double. `weights` is [out][in][3][3].
public func winogradAbsoluteSums(_ t: WinogradMatrices, weights: [Float], input: [Float], inChannels: Int,
                                 outChannels: Int, inH: Int, inW: Int, outH: Int, outW: Int, padding: Int,
                                 dilation: Int) -> [Double] {
    let m = t.m, n = t.n, points = n * n, d = dilation
    let absBT = t.bt.map(abs), absG = t.g.map(abs), absAT = t.at.map(abs)
    // (|G|⊗|G|)·|w| for every (o, c): [o][c][ξ].
    var v = [Double](repeating: 0, count: outChannels * inChannels * points)
    for o in 0..<outChannels {
        for c in 0..<inChannels {
            let k = (o * inChannels + c) * 9
            for i in 0..<n {
                for j in 0..<n {
                    var s = 0.0
                    for ky in 0..<3 {
                        for kx in 0..<3 { s += absG[i * 3 + ky] * Double(abs(weights[k + ky * 3 + kx])) * absG[j * 3 + kx] }
                    }
                    v[(o * inChannels + c) * points + i * n + j] = s
                }
            }
        }
    }
    let tilesH = ((outH + d - 1) / d + m - 1) / m, tilesW = ((outW + d - 1) / d + m - 1) / m
    var sums = [Double](repeating: 0, count: outChannels * outH * outW)
    var u = [Double](repeating: 0, count: inChannels * points)
    var window = [Double](repeating: 0, count: points), half = [Double](repeating: 0, count: points)
    var acc = [Double](repeating: 0, count: points), rows = [Double](repeating: 0, count: m * n)
    for a in 0..<d {
        for b in 0..<d {
            for ti in 0..<tilesH {
                for tj in 0..<tilesW {
                    // (|Bᵀ|⊗|Bᵀ|)·|d_c| of every channel.
                    for c in 0..<inChannels {
                        for i in 0..<n {
                            let iy = a + d * (ti * m + i) - padding
                            for j in 0..<n {
                                let ix = b + d * (tj * m + j) - padding
                                window[i * n + j] = (iy >= 0 && iy < inH && ix >= 0 && ix < inW)
                                    ? Double(abs(input[(c * inH + iy) * inW + ix])) : 0
                            }
                        }
                        for i in 0..<n {
                            for j in 0..<n {
                                var s = 0.0
                                for k in 0..<n { s += absBT[i * n + k] * window[k * n + j] }
                                half[i * n + j] = s
                            }
                        }
                        for i in 0..<n {
                            for j in 0..<n {
                                var s = 0.0
                                for k in 0..<n { s += half[i * n + k] * absBT[j * n + k] }
                                u[c * points + i * n + j] = s
                            }
                        }
                    }
                    for o in 0..<outChannels {
                        v.withUnsafeBufferPointer { vp in
                            u.withUnsafeBufferPointer { up in
                                acc.withUnsafeMutableBufferPointer { ap in
                                    for p in 0..<points { ap[p] = 0 }
                                    var vo = o * inChannels * points, uo = 0
                                    for _ in 0..<inChannels {
                                        for p in 0..<points { ap[p] += vp[vo + p] * up[uo + p] }
                                        vo += points; uo += points
                                    }
                                }
                            }
                        }
                        for i in 0..<m {
                            for j in 0..<n {
                                var s = 0.0
                                for k in 0..<n { s += absAT[i * n + k] * acc[k * n + j] }
                                rows[i * n + j] = s
                            }
                        }
                        for i in 0..<m {
                            let oy = a + d * (ti * m + i)
                            guard oy < outH else { continue }
                            for j in 0..<m {
                                let ox = b + d * (tj * m + j)
                                guard ox < outW else { continue }
                                var s = 0.0
                                for k in 0..<n { s += rows[i * n + k] * absAT[j * n + k] }
                                sums[(o * outH + oy) * outW + ox] = s
                            }
                        }
                    }
                }
            }
        }
    }
    return sums
}
