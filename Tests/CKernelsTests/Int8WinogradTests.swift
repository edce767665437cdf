// Tests of the int8 Winograd F(2×2, 3×3) and F(4×4, 3×3) (ck_qwino_u8s8, qwino_u8s8*.c): on every instruction set
// this CPU runs, its outputs must be the bits of im2col + ck_qgemm_u8s8_reference for the same 3×3 stride-1
// convolution (the transforms are exact, so there is no tolerance), for both tile sizes, dilations 1–3, paddings, odd
// sizes and channel counts, strided input and output, residuals, both outputs, the extremes of the exact range (for
// F(4×4): accumulators at ±(2^25 − 2)), and any split of the tile rows; the packing refuses weights whose transform
// would not stay exact; bad arguments are refused without writing.
import CKernels
import CondSegIO
import XCTest

/// One 3×3 stride-1 convolution on a uint8 NHWC image with its GEMM epilogue, in plain Swift arrays.
private struct WinogradCase: CustomStringConvertible {
    var h = 1, w = 1, c = 1, n = 1, dilation = 1, pad = 0, pixelExtra = 0, rowExtra = 0
    var input: [UInt8] = [], weights: [Int8] = []   // weights: n rows of (ky, kx, c)
    var gemm = GemmCase()

    var outH: Int { h + 2 * pad - 2 * dilation }
    var outW: Int { w + 2 * pad - 2 * dilation }
    var pixelStride: Int { c + pixelExtra }
    var rowStride: Int { w * pixelStride + rowExtra }
    var description: String { "H=\(h) W=\(w) C=\(c) N=\(n) d=\(dilation) pad=\(pad) strides+\(pixelExtra),+\(rowExtra) \(gemm)" }
    /// The largest Σ|w| over the output channels.
    var largestChannelSum: Int {
        (0..<n).map { o in weights[(o * 9 * c)..<((o + 1) * 9 * c)].reduce(0) { $0 + abs(Int($1)) } }.max() ?? 0
    }

    /// Random image and weights within ±limit (`extreme`: inputs 0 or 255, weights ±limit), the epilogue from
    /// GemmCase.random with the im2col rows of this image as A.
    static func random(h: Int, w: Int, c: Int, n: Int, dilation: Int, pad: Int, limit: Int, extreme: Bool,
                       seed: UInt64) -> WinogradCase {
        var rng = SplitMix64(state: seed)
        var x = WinogradCase()
        x.h = h; x.w = w; x.c = c; x.n = n; x.dilation = dilation; x.pad = pad
        x.pixelExtra = rng.below(3); x.rowExtra = rng.below(4)
        x.input = (0..<(h * x.rowStride)).map { _ in extreme ? (rng.below(2) == 0 ? 0 : 255) : rng.byte() }
        x.weights = (0..<(n * 9 * c)).map { _ in
            Int8(extreme ? (rng.below(2) == 0 ? -limit : limit) : rng.below(2 * limit + 1) - limit)
        }
        let residual = ResidualKind.allCases[rng.below(3)], output = OutputKind.allCases[rng.below(3)]
        var g = GemmCase.random(M: x.outH * x.outW, N: n, K: 9 * c, seed: seed &+ 1, aZeroPoint: Int32(rng.below(256)),
                                relu: rng.below(2) == 0, residual: residual, output: output)
        g.w = x.weights
        g.lda = 9 * c
        g.a = x.im2col(padValue: UInt8(g.aZeroPoint))
        x.gemm = g
        return x
    }

    /// The im2col rows (order ky, kx, c) of every output pixel, taps outside the image reading `padValue`.
    func im2col(padValue: UInt8) -> [UInt8] {
        var rows = [UInt8](repeating: 0, count: outH * outW * 9 * c)
        for oy in 0..<outH {
            for ox in 0..<outW {
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        let y = oy - pad + ky * dilation, x = ox - pad + kx * dilation
                        let inside = y >= 0 && y < h && x >= 0 && x < w
                        for ch in 0..<c {
                            rows[(oy * outW + ox) * 9 * c + (ky * 3 + kx) * c + ch] =
                                inside ? input[y * rowStride + x * pixelStride + ch] : padValue
                        }
                    }
                }
            }
        }
        return rows
    }
}

private struct Refused: Error, CustomStringConvertible { let description: String }

final class Int8WinogradTests: XCTestCase {
    override func tearDown() {
        _ = ck_force_isa(ck_detected_isa())
        super.tearDown()
    }

    /// Runs `x` with ck_qwino_u8s8 and `tile`×`tile` output tiles on the active instruction set over the tile-row
    /// ranges `splits` (nil: one call); returns the uint8 and float outputs.
    private func runWinograd(_ x: WinogradCase, tile: Int, splits: [Range<Int>]? = nil) throws -> (u8: [UInt8], f32: [Float]) {
        let g = x.gemm
        let buffers = try XCTUnwrap(GemmCaseArguments(g), "ck_qgemm_pack_weights refused \(x)")
        let source = CBuffer(x.input)
        let m = Int32(tile)
        let winoSize = ck_qwino_packed_size(m, Int32(x.n), Int32(x.c))
        XCTAssertGreaterThan(winoSize, 0)
        let wino = CBuffer(count: winoSize, repeating: UInt8(0))
        let scratch = CBuffer(count: ck_qwino_scratch_size(m, Int32(x.c)), repeating: UInt8(0))
        guard ck_qwino_pack_weights(m, buffers.w.pointer, Int32(x.n), Int32(x.c), wino.pointer) == 0 else {
            throw Refused(description: "ck_qwino_pack_weights refused F(\(tile)) \(x)")
        }
        let e = buffers.args
        let rows = Int(ck_qwino_tile_rows(m, Int32(x.outH), Int32(x.dilation)))
        try withUnsafePointer(to: e) { epilogue in
            var a = ck_qwino_args()
            a.input = UnsafePointer(source.pointer)
            a.height = Int32(x.h); a.width = Int32(x.w); a.channels = Int32(x.c)
            a.pixel_stride = x.pixelStride; a.row_stride = x.rowStride
            a.pad_top = Int32(x.pad); a.pad_left = Int32(x.pad)
            a.dilation_h = Int32(x.dilation); a.dilation_w = Int32(x.dilation)
            a.out_height = Int32(x.outH); a.out_width = Int32(x.outW)
            a.pad_value = UInt8(g.aZeroPoint)
            a.packed_wino = UnsafeRawPointer(wino.pointer)
            a.epilogue = epilogue
            for range in splits ?? [0..<rows] {
                let status = ck_qwino_u8s8(&a, Int32(range.lowerBound), Int32(range.upperBound), scratch.pointer)
                guard status == 0 else { throw Refused(description: "ck_qwino_u8s8 refused \(x)") }
            }
        }
        return (buffers.outU8.array, buffers.outF32.array)
    }

    private func reference(_ x: WinogradCase) -> (u8: [UInt8], f32: [Float]) {
        let r = runC(x.gemm, engine: .reference)
        return (r.u8, r.f32)
    }

    func testEveryISAGivesTheBitsOfIm2colAndTheReferenceGemm() throws {
        var rng = SplitMix64(state: 41)
        var cases: [WinogradCase] = []
        for i in 0..<30 {
            let dilation = 1 + rng.below(3), pad = rng.below(2) == 0 ? dilation : rng.below(dilation + 1)
            let h = max(2 * dilation - 2 * pad + 1, 1 + rng.below(17)), w = max(2 * dilation - 2 * pad + 1, 1 + rng.below(17))
            let c = [1, 3, 15, 16, 17, 33, 64, 70][rng.below(8)], n = [1, 5, 16, 17, 40][rng.below(5)]
            let limit = [127, 63, 31][i % 3]
            cases.append(.random(h: h, w: w, c: c, n: n, dilation: dilation, pad: pad, limit: limit,
                                 extreme: i % 5 == 4, seed: UInt64(100 + i)))
        }
        // The model's shapes, smaller: 64 and 128 channels, dilations of the dconv branch.
        cases.append(.random(h: 16, w: 16, c: 64, n: 64, dilation: 1, pad: 1, limit: 63, extreme: false, seed: 7))
        cases.append(.random(h: 12, w: 13, c: 128, n: 32, dilation: 3, pad: 3, limit: 127, extreme: true, seed: 8))
        let expected = cases.map(reference)
        for isa in supportedISAs() {
            XCTAssertEqual(ck_force_isa(isa), 1)
            for tile in [2, 4] {
                for (x, want) in zip(cases, expected) {
                    // F(4×4) refuses weights with 255 · Σ|w| ≥ 2^25 in a channel (some extreme cases with C ≥ 116).
                    if tile == 4 && x.largestChannelSum * 255 >= 1 << 25 {
                        XCTAssertThrowsError(try runWinograd(x, tile: tile), "\(x)")
                        continue
                    }
                    let got = try runWinograd(x, tile: tile)
                    XCTAssertEqual(got.u8, want.u8, "\(isaName(isa)) F(\(tile)) uint8 \(x)")
                    XCTAssertEqual(got.f32.map(\.bitPattern), want.f32.map(\.bitPattern), "\(isaName(isa)) F(\(tile)) float \(x)")
                }
            }
        }
    }

    /// F(4×4) recovers the accumulator from 576·acc modulo 2^32, exact for |acc| < 2^25: at the packing bound
    /// (255 · Σ|w| = 2^25 − 2, every input 255, no padding, zero point 0 so that the float output is acc times the
    /// multiplier) the outputs must still be the reference's bits, for the largest positive and negative accumulators.
    func testTheLargeTileIsExactAtTheEdgeOfItsRange() throws {
        let c = 116, n = 2   // 9 · 116 = 1044 weights per channel: 1002 of 126 and 42 of 127 sum to 131 586
        var x = WinogradCase.random(h: 7, w: 9, c: c, n: n, dilation: 1, pad: 0, limit: 127, extreme: true, seed: 12)
        let channel = (0..<(9 * c)).map { Int8($0 < 42 ? 127 : 126) }
        XCTAssertEqual(channel.reduce(0) { $0 + Int($1) } * 255, (1 << 25) - 2)
        x.input = [UInt8](repeating: 255, count: x.input.count)
        x.weights = channel + channel.map { -$0 }
        x.gemm.w = x.weights
        x.gemm.aZeroPoint = 0
        x.gemm.a = x.im2col(padValue: 0)
        x.gemm.output = .float
        x.gemm.relu = false
        let want = reference(x)
        for isa in supportedISAs() {
            XCTAssertEqual(ck_force_isa(isa), 1)
            let got = try runWinograd(x, tile: 4)
            XCTAssertEqual(got.f32.map(\.bitPattern), want.f32.map(\.bitPattern), "\(isaName(isa)) \(x)")
        }
    }

    func testAnySplitOfTheTileRowsGivesTheSameBits() throws {
        let x = WinogradCase.random(h: 23, w: 9, c: 20, n: 18, dilation: 2, pad: 2, limit: 127, extreme: false, seed: 5)
        let want = reference(x)
        for tile in [2, 4] {
            let rows = Int(ck_qwino_tile_rows(Int32(tile), Int32(x.outH), Int32(x.dilation)))
            XCTAssertEqual(rows, 2 * ((x.outH + 2 * tile - 1) / (2 * tile)))   // dilation 2: 2 interleaved tile rows per 2·tile rows
            for isa in supportedISAs() {
                XCTAssertEqual(ck_force_isa(isa), 1)
                for cut in [0, 1, rows / 2, rows - 1, rows] {
                    let got = try runWinograd(x, tile: tile, splits: [0..<cut, cut..<rows, rows..<(rows + 3)])
                    XCTAssertEqual(got.u8, want.u8, "\(isaName(isa)) F(\(tile)) split at \(cut)")
                    XCTAssertEqual(got.f32.map(\.bitPattern), want.f32.map(\.bitPattern), "\(isaName(isa)) F(\(tile)) split at \(cut)")
                }
            }
        }
    }

    func testPackingRefusesWeightsOutsideTheExactRange() {
        // 36 · C · 255 · max|w| must stay below 2^31: C = 1842 with |w| = 127 is past it (1 165 860 · 1842 > 2^31), C = 1841 inside.
        for (c, expected) in [(1841, Int32(0)), (1842, Int32(-1))] {
            let weights = CBuffer(count: 9 * c, repeating: Int8(127))
            let packed = CBuffer(count: ck_qwino_packed_size(2, 1, Int32(c)), repeating: UInt8(0))
            XCTAssertEqual(ck_qwino_pack_weights(2, weights.pointer, 1, Int32(c), packed.pointer), expected, "C = \(c)")
        }
        // Small weights are exact at the same width.
        let small = CBuffer(count: 9 * 1842, repeating: Int8(63))
        let packed = CBuffer(count: ck_qwino_packed_size(2, 1, 1842), repeating: UInt8(0))
        XCTAssertEqual(ck_qwino_pack_weights(2, small.pointer, 1, 1842, packed.pointer), 0)
        // F(4×4): 255 · Σ|w| of every output channel must stay below 2^25: 131 586 is inside, 131 587 past it (in the
        // second channel, so that a check of the first channel only would pass it).
        let c = 116
        for (extra, expected) in [(42, Int32(0)), (43, Int32(-1))] {
            let channel = (0..<(9 * c)).map { Int8($0 < extra ? 127 : 126) }
            let weights = CBuffer([Int8](repeating: 1, count: 9 * c) + channel.map { -$0 })
            let packed4 = CBuffer(count: ck_qwino_packed_size(4, 2, Int32(c)), repeating: UInt8(0))
            XCTAssertEqual(ck_qwino_pack_weights(4, weights.pointer, 2, Int32(c), packed4.pointer), expected, "Σ|w| with \(extra) of 127")
        }
        XCTAssertEqual(ck_qwino_packed_size(2, 0, 4), 0)
        XCTAssertEqual(ck_qwino_packed_size(2, 4, 0), 0)
        XCTAssertEqual(ck_qwino_packed_size(3, 4, 4), 0, "tile sizes are 2 and 4")
        XCTAssertEqual(ck_qwino_packed_size(4, 1, 16), 64 + 36 * 16 * 16 * 2)
        XCTAssertEqual(ck_qwino_scratch_size(6, 16), 0)
        XCTAssertEqual(ck_qwino_tile_rows(2, 0, 1), 0)
        XCTAssertEqual(ck_qwino_tile_rows(2, 5, 3), 3)
        XCTAssertEqual(ck_qwino_tile_rows(4, 5, 1), 2)
        XCTAssertEqual(ck_qwino_tile_rows(4, 13, 3), 6)   // rows 0–11 in 3 interleaved tiles of 4, row 12 in 3 more
        XCTAssertEqual(ck_qwino_tile_rows(1, 5, 1), 0)
    }

    func testMismatchedArgumentsAreRefusedWithoutWriting() throws {
        let x = WinogradCase.random(h: 6, w: 6, c: 4, n: 3, dilation: 1, pad: 1, limit: 63, extreme: false, seed: 9)
        let source = CBuffer(x.input), weights = CBuffer(x.weights), multiplier = CBuffer(x.gemm.multiplier)
        let packed = CBuffer(count: ck_qgemm_packed_size(3, 36), repeating: UInt8(0))
        let wino = CBuffer(count: ck_qwino_packed_size(2, 3, 4), repeating: UInt8(0))
        let out = CBuffer(count: 36 * 3, repeating: sentinelU8)
        let scratch = CBuffer(count: ck_qwino_scratch_size(2, 4), repeating: UInt8(0))
        XCTAssertEqual(ck_qgemm_pack_weights(weights.pointer, 3, 36, packed.pointer), 0)
        XCTAssertEqual(ck_qwino_pack_weights(2, weights.pointer, 3, 4, wino.pointer), 0)
        var e = ck_qgemm_args()
        e.N = 3; e.packed_b = UnsafeRawPointer(packed.pointer); e.multiplier = UnsafePointer(multiplier.pointer)
        e.out_u8 = out.pointer; e.ldc = 3; e.out_inv_scale = 1
        withUnsafePointer(to: e) { epilogue in
            var a = ck_qwino_args()
            a.input = UnsafePointer(source.pointer)
            a.height = 6; a.width = 6; a.channels = 4; a.pixel_stride = x.pixelStride; a.row_stride = x.rowStride
            a.pad_top = 1; a.pad_left = 1; a.dilation_h = 1; a.dilation_w = 1; a.out_height = 6; a.out_width = 6
            a.packed_wino = UnsafeRawPointer(wino.pointer); a.epilogue = epilogue
            var bad = a; bad.channels = 5; bad.pixel_stride = 8; bad.row_stride = 64
            XCTAssertEqual(ck_qwino_u8s8(&bad, 0, 3, scratch.pointer), -1, "channels differ from the packed C")
            bad = a; bad.packed_wino = UnsafeRawPointer(packed.pointer)
            XCTAssertEqual(ck_qwino_u8s8(&bad, 0, 3, scratch.pointer), -1, "GEMM packing passed as Winograd packing")
            bad = a; bad.dilation_h = 0
            XCTAssertEqual(ck_qwino_u8s8(&bad, 0, 3, scratch.pointer), -1, "dilation 0")
            XCTAssertEqual(ck_qwino_u8s8(&a, 0, 3, nil), -1, "no scratch")
            XCTAssertEqual(out.array, [UInt8](repeating: sentinelU8, count: 36 * 3), "nothing written")
            XCTAssertEqual(ck_qwino_u8s8(&a, 0, 3, scratch.pointer), 0)
            XCTAssertNotEqual(out.array, [UInt8](repeating: sentinelU8, count: 36 * 3))
        }
    }
}
