// Tests of the CKernels C API: every instruction set this CPU runs (forced one by one) must give bit-identical
// results to ck_qgemm_u8s8_reference and to a naive GEMM + epilogue written here in Swift; im2col and
// quantization against naive Swift versions; row-split invariance; argument checks; weights within ±64 (7-bit
// tables, AVX2's vpmaddubsw kernel) and ±32 (6-bit tables, AVX2's two-vpmaddubsw kernel) on every ISA and the
// kernel choice by the packed range; the register-only peak
// loops; and the cross-architecture script (aarch64 under qemu) that compares checksums of the native self-test.
import CKernels
import CondSegIO
import Foundation
import XCTest

/// A manually allocated buffer whose pointer stays valid for as long as the object lives.
final class CBuffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(_ values: [Element]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        if !values.isEmpty { pointer.initialize(from: values, count: values.count) }
    }

    convenience init(count: Int, repeating value: Element) {
        self.init([Element](repeating: value, count: count))
    }

    deinit { pointer.deallocate() }

    var array: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Deterministic pseudo-random numbers for the kernel tests: the project's SplitMix64 (CondSegIO) with helpers.
extension SplitMix64 {
    init(state: UInt64) { self.init(seed: state) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func weight() -> Int8 { Int8(truncatingIfNeeded: next()) }
    /// A float with few significant bits: integer / 2^shift.
    mutating func float(magnitude: Int, shift: Int) -> Float {
        Float(below(2 * magnitude + 1) - magnitude) / Float(1 << shift)
    }
}

enum ResidualKind: CaseIterable { case none, float, uint8 }
enum OutputKind: CaseIterable { case uint8, float, both }

/// One GEMM problem with all its epilogue parameters, in plain Swift arrays.
struct GemmCase: CustomStringConvertible {
    var M = 1, N = 1, K = 1, lda = 1, ldc = 1, ldResidual = 1
    var a: [UInt8] = [], w: [Int8] = []
    var aZeroPoint: Int32 = 0
    var multiplier: [Float] = [], bias: [Float]? = nil
    var residual = ResidualKind.none
    var residualF32: [Float] = [], residualU8: [UInt8] = []
    var residualScale: Float = 0, residualZeroPoint: Int32 = 0
    var relu = false
    var output = OutputKind.uint8
    var outInvScale: Float = 1, outZeroPoint: Int32 = 0

    var description: String {
        "M=\(M) N=\(N) K=\(K) lda=\(lda) ldc=\(ldc) zp=\(aZeroPoint) relu=\(relu) residual=\(residual) "
            + "output=\(output) bias=\(bias != nil) outZeroPoint=\(outZeroPoint)"
    }

    /// Random data for the given shape; the epilogue options come from the caller.
    static func random(M: Int, N: Int, K: Int, seed: UInt64, aZeroPoint: Int32, relu: Bool,
                       residual: ResidualKind, output: OutputKind) -> GemmCase {
        var rng = SplitMix64(state: seed)
        var c = GemmCase()
        c.M = M; c.N = N; c.K = K
        c.lda = K + rng.below(3) * 5
        c.ldc = N + rng.below(3) * 3
        c.ldResidual = N + rng.below(2) * 7
        c.a = (0..<(M * c.lda)).map { _ in rng.byte() }
        c.w = (0..<(N * K)).map { _ in rng.weight() }
        c.aZeroPoint = aZeroPoint
        // Scale so that v spans roughly -300...300 before the output scale: both uint8 limits get hit.
        let typical = Float(128 * 128) * Float(K).squareRoot()
        c.multiplier = (0..<N).map { _ in Float(1 + rng.below(1000)) / 1000 * 300 / typical }
        c.bias = rng.below(4) == 0 ? nil : (0..<N).map { _ in rng.float(magnitude: 4000, shift: 6) }
        c.residual = residual
        c.residualF32 = (0..<(M * c.ldResidual)).map { _ in rng.float(magnitude: 3000, shift: 4) }
        c.residualU8 = (0..<(M * c.ldResidual)).map { _ in rng.byte() }
        c.residualScale = Float(1 + rng.below(64)) / 64
        c.residualZeroPoint = Int32(rng.below(256))
        c.relu = relu
        c.output = output
        c.outInvScale = Float(1 + rng.below(400)) / 256
        c.outZeroPoint = [0, 128, 255, Int32(rng.below(256))][rng.below(4)]
        return c
    }
}

let sentinelU8: UInt8 = 0xa5
let sentinelF32: Float = -7.25

/// The exact contract of ckernels.h, computed naively in Swift: Int64 accumulation, then the float steps one by one.
func naiveGemm(_ c: GemmCase) -> (u8: [UInt8], f32: [Float]) {
    var outU8 = [UInt8](repeating: sentinelU8, count: c.M * c.ldc)
    var outF32 = [Float](repeating: sentinelF32, count: c.M * c.ldc)
    for m in 0..<c.M {
        for n in 0..<c.N {
            var acc: Int64 = 0, columnSum: Int64 = 0
            for k in 0..<c.K {
                acc += Int64(c.a[m * c.lda + k]) * Int64(c.w[n * c.K + k])
                columnSum += Int64(c.w[n * c.K + k])
            }
            let corrected = acc - Int64(c.aZeroPoint) * columnSum
            precondition(corrected >= Int64(Int32.min) && corrected <= Int64(Int32.max))
            var v = Float(Int32(corrected))
            v = v * c.multiplier[n]
            v = v + (c.bias?[n] ?? 0)
            switch c.residual {
            case .none: break
            case .float: v = v + c.residualF32[m * c.ldResidual + n]
            case .uint8:
                var r = Float(Int32(c.residualU8[m * c.ldResidual + n]) - c.residualZeroPoint)
                r = r * c.residualScale
                v = v + r
            }
            if c.relu { v = v > 0 ? v : 0 }
            if c.output != .uint8 { outF32[m * c.ldc + n] = v }
            if c.output != .float { outU8[m * c.ldc + n] = naiveQuantize(v, c.outInvScale, c.outZeroPoint) }
        }
    }
    return (outU8, outF32)
}

func naiveQuantize(_ v: Float, _ invScale: Float, _ zeroPoint: Int32) -> UInt8 {
    var t = v * invScale
    t = t > -65536 ? t : -65536          // also maps NaN to -65536
    t = t < 65536 ? t : 65536
    let q = Int32(t.rounded(.toNearestOrEven)) + zeroPoint
    return UInt8(min(max(q, 0), 255))
}

/// Which kernel computes the case.
enum Engine { case active, reference }

/// A case's buffers and its ck_qgemm_args (weights packed; outputs filled with the sentinels), alive as long as
/// this object: what every test that calls the C API with a GemmCase starts from.
final class GemmCaseArguments {
    let a: CBuffer<UInt8>, w: CBuffer<Int8>, multiplier: CBuffer<Float>, bias: CBuffer<Float>?
    let residualF32: CBuffer<Float>, residualU8: CBuffer<UInt8>
    let outU8: CBuffer<UInt8>, outF32: CBuffer<Float>, packed: CBuffer<UInt8>
    var args = ck_qgemm_args()

    /// nil when ck_qgemm_pack_weights refuses the weights.
    init?(_ c: GemmCase) {
        a = CBuffer(c.a); w = CBuffer(c.w)
        multiplier = CBuffer(c.multiplier); bias = c.bias.map { CBuffer($0) }
        residualF32 = CBuffer(c.residualF32); residualU8 = CBuffer(c.residualU8)
        outU8 = CBuffer(count: c.M * c.ldc, repeating: sentinelU8)
        outF32 = CBuffer(count: c.M * c.ldc, repeating: sentinelF32)
        packed = CBuffer(count: ck_qgemm_packed_size(Int32(c.N), Int32(c.K)), repeating: UInt8(0))
        guard ck_qgemm_pack_weights(w.pointer, Int32(c.N), Int32(c.K), packed.pointer) == 0 else { return nil }
        args.M = Int32(c.M); args.N = Int32(c.N); args.K = Int32(c.K)
        args.a = UnsafePointer(a.pointer); args.lda = c.lda
        args.packed_b = UnsafeRawPointer(packed.pointer)
        args.a_zero_point = c.aZeroPoint
        args.multiplier = UnsafePointer(multiplier.pointer)
        args.bias = bias.map { UnsafePointer($0.pointer) }
        args.ld_residual = c.ldResidual
        if c.residual == .float { args.residual_f32 = UnsafePointer(residualF32.pointer) }
        if c.residual == .uint8 {
            args.residual_u8 = UnsafePointer(residualU8.pointer)
            args.residual_scale = c.residualScale
            args.residual_zero_point = c.residualZeroPoint
        }
        args.relu = c.relu ? 1 : 0
        if c.output != .float { args.out_u8 = outU8.pointer }
        if c.output != .uint8 { args.out_f32 = outF32.pointer }
        args.ldc = c.ldc
        args.out_inv_scale = c.outInvScale
        args.out_zero_point = c.outZeroPoint
    }
}

/// Runs the case through the C API, computing rows chunk by chunk (possibly on several threads).
func runC(_ c: GemmCase, engine: Engine = .active, chunks: [Range<Int>]? = nil, concurrent: Bool = false)
    -> (u8: [UInt8], f32: [Float], status: Int32)
{
    guard let buffers = GemmCaseArguments(c) else { return ([], [], -100) }
    var args = buffers.args
    let ranges = chunks ?? [0..<c.M]
    var status: Int32 = 0
    switch engine {
    case .reference:
        for r in ranges { ck_qgemm_u8s8_reference(buffers.w.pointer, &args, Int32(r.lowerBound), Int32(r.upperBound)) }
    case .active where concurrent:
        let frozen = args
        let statuses = CBuffer(count: ranges.count, repeating: Int32(0))
        DispatchQueue.concurrentPerform(iterations: ranges.count) { i in
            var local = frozen
            statuses.pointer[i] = ck_qgemm_u8s8(&local, Int32(ranges[i].lowerBound), Int32(ranges[i].upperBound))
        }
        status = statuses.array.reduce(0) { $0 | $1 }
    case .active:
        for r in ranges { status |= ck_qgemm_u8s8(&args, Int32(r.lowerBound), Int32(r.upperBound)) }
    }
    // The buffers' last use: they outlive every call that reads their pointers through args.
    return (buffers.outU8.array, buffers.outF32.array, status)
}

/// The instruction sets this CPU can run.
func supportedISAs() -> [ck_isa] {
    [CK_ISA_GENERIC, CK_ISA_AVX2, CK_ISA_AVX512VNNI, CK_ISA_NEON, CK_ISA_NEONDOT].filter { ck_isa_supported($0) == 1 }
}

func isaName(_ isa: ck_isa) -> String { String(cString: ck_isa_name(isa)) }

final class CKernelsTests: XCTestCase {
    override func tearDown() {
        _ = ck_force_isa(ck_detected_isa())
        super.tearDown()
    }

    /// Asserts bit-identical outputs (floats by bit pattern), reporting the first differing element.
    func assertSame(_ got: (u8: [UInt8], f32: [Float], status: Int32), _ expected: (u8: [UInt8], f32: [Float]),
                    _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.status, 0, "\(what): ck_qgemm_u8s8 refused the arguments", file: file, line: line)
        if let i = firstDifference(got.u8, expected.u8) {
            XCTFail("\(what): uint8 output differs at element \(i): \(describe(got.u8, expected.u8, i))", file: file, line: line)
        }
        if let i = firstDifference(got.f32.map(\.bitPattern), expected.f32.map(\.bitPattern)) {
            XCTFail("\(what): float output differs at element \(i): \(describe(got.f32, expected.f32, i))", file: file, line: line)
        }
    }

    /// Index of the first differing element (or the shorter length if the lengths differ); nil if equal.
    func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
        if let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) { return i }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    func describe<T>(_ got: [T], _ expected: [T], _ i: Int) -> String {
        i < got.count && i < expected.count ? "got \(got[i]), expected \(expected[i])" : "lengths \(got.count) vs \(expected.count)"
    }

    func testDetectionAndForcing() {
        let detected = ck_detected_isa()
        XCTAssertEqual(ck_isa_supported(detected), 1)
        XCTAssertEqual(ck_active_isa(), detected)
        XCTAssertEqual(ck_force_isa(CK_ISA_GENERIC), 1)
        XCTAssertEqual(ck_active_isa(), CK_ISA_GENERIC)
        #if arch(x86_64)
        XCTAssertEqual(ck_force_isa(CK_ISA_NEONDOT), 0, "an ARM kernel cannot be forced on x86-64")
        XCTAssertTrue([CK_ISA_GENERIC, CK_ISA_AVX2, CK_ISA_AVX512VNNI].contains(detected))
        #elseif arch(arm64)
        XCTAssertEqual(ck_force_isa(CK_ISA_AVX2), 0, "an x86 kernel cannot be forced on aarch64")
        XCTAssertTrue([CK_ISA_NEON, CK_ISA_NEONDOT].contains(detected))
        #endif
        XCTAssertEqual(ck_active_isa(), CK_ISA_GENERIC, "a refused force must not change the active ISA")
        XCTAssertEqual(
            [CK_ISA_GENERIC, CK_ISA_AVX2, CK_ISA_AVX512VNNI, CK_ISA_NEON, CK_ISA_NEONDOT].map(isaName),
            ["generic", "avx2", "avx512vnni", "neon", "neondot"])
        print("CKernels: detected \(isaName(detected)); testing \(supportedISAs().map(isaName))")
    }

    /// Odd shapes and every epilogue combination, on every ISA, against the C reference and the Swift naive GEMM.
    func testEveryISAMatchesReferencesOnOddShapes() {
        let sizes = [1, 3, 5, 7, 17, 31, 63, 65, 129]
        var shapes: [(Int, Int, Int)] = [(1, 1, 1), (129, 129, 129), (65, 64, 576), (17, 31, 1153), (33, 16, 4), (8, 32, 64)]
        var rng = SplitMix64(state: 42)
        for _ in 0..<30 { shapes.append((sizes[rng.below(9)], sizes[rng.below(9)], sizes[rng.below(9)])) }
        let zeroPoints: [Int32] = [0, 128, 255, 37]
        for (index, shape) in shapes.enumerated() {
            let c = GemmCase.random(
                M: shape.0, N: shape.1, K: shape.2, seed: UInt64(1000 + index), aZeroPoint: zeroPoints[index % 4],
                relu: index % 2 == 1, residual: ResidualKind.allCases[(index / 2) % 3],
                output: OutputKind.allCases[(index / 6) % 3])
            let naive = naiveGemm(c)
            assertSame(runC(c, engine: .reference), naive, "reference vs Swift naive, \(c)")
            for isa in supportedISAs() {
                XCTAssertEqual(ck_force_isa(isa), 1)
                assertSame(runC(c), naive, "\(isaName(isa)) vs Swift naive, \(c)")
            }
        }
    }

    /// Outputs must reach both uint8 limits and be exact there.
    func testUint8SaturationAtBothEnds() {
        var c = GemmCase.random(M: 40, N: 48, K: 75, seed: 7, aZeroPoint: 128, relu: false, residual: .none, output: .both)
        c.outInvScale = 4
        c.outZeroPoint = 128
        let naive = naiveGemm(c)
        let valid = (0..<c.M).flatMap { m in (0..<c.N).map { naive.u8[m * c.ldc + $0] } }
        XCTAssertTrue(valid.contains(0) && valid.contains(255), "test data must saturate at 0 and at 255")
        for isa in supportedISAs() {
            XCTAssertEqual(ck_force_isa(isa), 1)
            assertSame(runC(c), naive, "\(isaName(isa)) saturation, \(c)")
        }
    }

    /// 0/255 activations times -128/127 weights over a long K: an int16 intermediate anywhere would saturate.
    func testExtremeValuesWithLargeK() {
        let K = 4099
        for (pattern, zeroPoint) in [(0, Int32(0)), (1, 128), (2, 255), (3, 0)] {
            var c = GemmCase.random(M: 9, N: 33, K: K, seed: UInt64(77 + pattern), aZeroPoint: zeroPoint,
                                    relu: false, residual: .none, output: .both)
            var rng = SplitMix64(state: UInt64(pattern))
            switch pattern {
            case 0: c.a = c.a.map { _ in 255 }; c.w = c.w.map { _ in 127 }
            case 1: c.a = c.a.map { _ in 255 }; c.w = c.w.map { _ in -128 }
            case 2: c.a = c.a.map { _ in rng.below(2) == 0 ? 0 : 255 }; c.w = c.w.map { _ in rng.below(2) == 0 ? -128 : 127 }
            default: c.a = c.a.map { _ in 255 }; c.w = (0..<c.w.count).map { i in (i / K) % 2 == 0 ? 127 : -128 }
            }
            c.multiplier = c.multiplier.map { _ in 1 }   // float output = Float(acc - zp*sum): the exact int32 shows
            c.bias = nil
            c.outInvScale = 1e-6
            let naive = naiveGemm(c)
            assertSame(runC(c, engine: .reference), naive, "reference, extreme pattern \(pattern)")
            for isa in supportedISAs() {
                XCTAssertEqual(ck_force_isa(isa), 1)
                assertSame(runC(c), naive, "\(isaName(isa)) extreme pattern \(pattern), \(c)")
            }
        }
    }

    /// Computing rows in several chunks (sequentially or on several threads) equals one call.
    func testRowSplitInvariance() {
        let c = GemmCase.random(M: 97, N: 70, K: 147, seed: 99, aZeroPoint: 3, relu: true, residual: .uint8, output: .both)
        for isa in supportedISAs() {
            XCTAssertEqual(ck_force_isa(isa), 1)
            let whole = runC(c)
            let expected = (whole.u8, whole.f32)
            assertSame(runC(c, chunks: [0..<1, 1..<5, 5..<6, 6..<50, 50..<97]), expected, "\(isaName(isa)) uneven chunks")
            let sevens = stride(from: 0, to: c.M, by: 7).map { $0..<min($0 + 7, c.M) }
            assertSame(runC(c, chunks: sevens, concurrent: true), expected, "\(isaName(isa)) concurrent chunks")
        }
    }

    /// Weights within ±64 (7-bit tables; on AVX2 the vpmaddubsw kernel) on every ISA and row split, against the
    /// Swift naive GEMM: odd shapes, every zero point kind, and the extreme pair sums 2·255·(±64).
    func testWeightsWithin64OnEveryISAAndSplit() {
        checkWeightsWithin(64, sizes: [1, 3, 5, 6, 7, 12, 17, 31, 63, 65, 129],
                           shapes: [(1, 1, 1), (6, 16, 4), (7, 17, 5), (65, 64, 576), (49, 130, 1153), (13, 24, 2307)],
                           seed: 4242, caseSeed: 5000, extremeSeed: 900)
    }

    /// Weights within ±32 (6-bit tables; on AVX2 the two-vpmaddubsw kernel) on every ISA and row split, against the
    /// Swift naive GEMM: K with 0…3 values past a multiple of 4 and an odd or even number of 4-k groups, row counts
    /// around the 4-row tile, every zero point kind, and the extreme sums of four products 4·255·(±32).
    func testWeightsWithin32OnEveryISAAndSplit() {
        checkWeightsWithin(32, sizes: [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 31, 63, 65, 129],
                           shapes: [(1, 1, 1), (4, 16, 8), (5, 17, 9), (3, 16, 12), (65, 64, 576), (49, 130, 1153),
                                    (13, 24, 2307), (8, 16, 6), (9, 33, 10), (51, 48, 11)],
                           seed: 3232, caseSeed: 6000, extremeSeed: 950)
    }

    /// Random and extreme GEMMs with weights within ±`limit` on every ISA, whole and in concurrent chunks.
    private func checkWeightsWithin(_ limit: Int, sizes: [Int], shapes fixed: [(Int, Int, Int)], seed: UInt64,
                                    caseSeed: UInt64, extremeSeed: UInt64) {
        var shapes = fixed
        var rng = SplitMix64(state: seed)
        for _ in 0..<24 { shapes.append((sizes[rng.below(sizes.count)], sizes[rng.below(sizes.count)], sizes[rng.below(sizes.count)])) }
        let zeroPoints: [Int32] = [0, 128, 255, 37]
        for (index, shape) in shapes.enumerated() {
            var c = GemmCase.random(
                M: shape.0, N: shape.1, K: shape.2, seed: caseSeed + UInt64(index), aZeroPoint: zeroPoints[index % 4],
                relu: index % 2 == 0, residual: ResidualKind.allCases[(index / 2) % 3],
                output: OutputKind.allCases[(index / 6) % 3])
            c.w = c.w.map { Int8(Int($0) % (limit + 1)) }   // -limit...limit
            let naive = naiveGemm(c)
            let sevens = stride(from: 0, to: c.M, by: 7).map { $0..<min($0 + 7, c.M) }
            for isa in supportedISAs() {
                XCTAssertEqual(ck_force_isa(isa), 1)
                assertSame(runC(c), naive, "\(isaName(isa)) |w| <= \(limit) vs Swift naive, \(c)")
                assertSame(runC(c, chunks: sevens, concurrent: true), naive, "\(isaName(isa)) |w| <= \(limit) concurrent chunks, \(c)")
            }
        }
        let edge = Int8(limit)
        for K in [4099, 4100, 4101] {   // an odd number of 4-k groups with a partial last one, an even one, an even one with a partial last
            for pattern in 0..<3 {
                var c = GemmCase.random(M: 13, N: 33, K: K, seed: extremeSeed + UInt64(pattern), aZeroPoint: [0, 128, 255][pattern],
                                        relu: false, residual: .none, output: .both)
                var bits = SplitMix64(state: UInt64(31 + pattern))
                switch pattern {
                case 0: c.a = c.a.map { _ in 255 }; c.w = c.w.map { _ in edge }
                case 1: c.a = c.a.map { _ in 255 }; c.w = c.w.map { _ in -edge }
                default: c.a = c.a.map { _ in bits.below(2) == 0 ? 0 : 255 }; c.w = c.w.map { _ in bits.below(2) == 0 ? -edge : edge }
                }
                c.multiplier = c.multiplier.map { _ in 1 }   // float output = Float(acc - zp*sum): the exact int32 shows
                c.bias = nil
                c.outInvScale = 1e-6
                let naive = naiveGemm(c)
                for isa in supportedISAs() {
                    XCTAssertEqual(ck_force_isa(isa), 1)
                    assertSame(runC(c), naive, "\(isaName(isa)) |w| = \(limit) extreme pattern \(pattern), K \(K)")
                }
            }
        }
    }

    /// The packed weights carry their range, and on AVX2 the range picks the kernel: ±32 the two-vpmaddubsw one, 33
    /// and ±64 the vpmaddubsw one, 65 the widening one (33 would let a sum of four products reach 4·255·33 = 33660
    /// and 65 a pair sum 2·255·65 = 33150, both past the int16 limit).
    func testKernelVariantFollowsTheWeightRange() {
        func packed(limit: Int8) -> CBuffer<UInt8> {
            var values = [Int8](repeating: 0, count: 20 * 9)
            for i in values.indices { values[i] = Int8(i % 5) - 2 }
            values[7] = limit
            values[11] = -limit
            let w = CBuffer(values)
            let buffer = CBuffer(count: ck_qgemm_packed_size(20, 9), repeating: UInt8(0))
            XCTAssertEqual(ck_qgemm_pack_weights(w.pointer, 20, 9, buffer.pointer), 0)
            return buffer
        }
        let six = packed(limit: 32), past6 = packed(limit: 33)
        let narrow = packed(limit: 64), wide = packed(limit: 65), full = packed(limit: 127)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(six.pointer), 32)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(past6.pointer), 33)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(narrow.pointer), 64)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(wide.pointer), 65)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(full.pointer), 127)
        XCTAssertEqual(ck_qgemm_packed_max_abs_weight(nil), -1)
        let expected: [(ck_isa, ck_qgemm_variant, ck_qgemm_variant)] = [
            (CK_ISA_GENERIC, CK_QGEMM_SCALAR, CK_QGEMM_SCALAR), (CK_ISA_AVX2, CK_QGEMM_AVX2_MADDUBS, CK_QGEMM_AVX2_WIDEN),
            (CK_ISA_AVX512VNNI, CK_QGEMM_AVX512_VNNI, CK_QGEMM_AVX512_VNNI), (CK_ISA_NEON, CK_QGEMM_NEON_SMULL, CK_QGEMM_NEON_SMULL),
            (CK_ISA_NEONDOT, CK_QGEMM_NEON_SDOT, CK_QGEMM_NEON_SDOT),
        ]
        for (isa, narrowVariant, wideVariant) in expected where ck_isa_supported(isa) == 1 {
            XCTAssertEqual(ck_force_isa(isa), 1)
            let sixVariant = isa == CK_ISA_AVX2 ? CK_QGEMM_AVX2_MADDUBS2 : narrowVariant
            XCTAssertEqual(ck_qgemm_variant_for(six.pointer), sixVariant, "\(isaName(isa)), |w| <= 32")
            XCTAssertEqual(ck_qgemm_variant_for(past6.pointer), narrowVariant, "\(isaName(isa)), |w| = 33")
            XCTAssertEqual(ck_qgemm_variant_for(narrow.pointer), narrowVariant, "\(isaName(isa)), |w| <= 64")
            XCTAssertEqual(ck_qgemm_variant_for(wide.pointer), wideVariant, "\(isaName(isa)), |w| = 65")
            XCTAssertEqual(ck_qgemm_variant_for(full.pointer), wideVariant, "\(isaName(isa)), |w| = 127")
        }
    }

    /// The register-only peaks are positive finite rates for what this CPU runs, and 0 for what it cannot run.
    func testRegisterPeaksArePositiveAndFinite() {
        let fp32 = ck_peak_fp32_gmacs(0.005)
        XCTAssertTrue(fp32.isFinite && fp32 > 0, "fp32 peak \(fp32)")
        let runnable: [(ck_isa, [ck_qgemm_variant])] = [
            (CK_ISA_GENERIC, [CK_QGEMM_SCALAR]), (CK_ISA_AVX2, [CK_QGEMM_AVX2_WIDEN, CK_QGEMM_AVX2_MADDUBS, CK_QGEMM_AVX2_MADDUBS2]),
            (CK_ISA_AVX512VNNI, [CK_QGEMM_AVX512_VNNI]), (CK_ISA_NEON, [CK_QGEMM_NEON_SMULL]), (CK_ISA_NEONDOT, [CK_QGEMM_NEON_SDOT]),
        ]
        let supported = Set(runnable.filter { ck_isa_supported($0.0) == 1 }.flatMap { $0.1.map(\.rawValue) })
        for variant in [CK_QGEMM_SCALAR, CK_QGEMM_AVX2_WIDEN, CK_QGEMM_AVX2_MADDUBS, CK_QGEMM_AVX2_MADDUBS2,
                        CK_QGEMM_AVX512_VNNI, CK_QGEMM_NEON_SMULL, CK_QGEMM_NEON_SDOT] {
            let peak = ck_peak_int8_gmacs(variant, 0.005)
            let name = String(cString: ck_qgemm_variant_name(variant))
            if supported.contains(variant.rawValue) {
                XCTAssertTrue(peak.isFinite && peak > 0, "\(name) peak \(peak)")
            } else {
                XCTAssertEqual(peak, 0, "\(name) cannot run here, so its peak is 0")
            }
        }
    }

    func testInvalidArgumentsAreRefusedWithoutWriting() {
        XCTAssertEqual(ck_qgemm_packed_size(0, 5), 0)
        XCTAssertEqual(ck_qgemm_packed_size(3, 0), 0)
        XCTAssertEqual(ck_qgemm_packed_size(3, Int32(CK_QGEMM_MAX_K) + 1), 0)
        XCTAssertEqual(ck_qgemm_pack_weights(nil, 3, 5, nil), -1)
        var c = GemmCase.random(M: 4, N: 5, K: 6, seed: 5, aZeroPoint: 0, relu: false, residual: .none, output: .both)
        c.lda = 3   // shorter than K
        c.a = [UInt8](repeating: 1, count: 12)
        let refused = runC(c)
        XCTAssertEqual(refused.status, -1)
        XCTAssertTrue(refused.u8.allSatisfy { $0 == sentinelU8 } && refused.f32.allSatisfy { $0 == sentinelF32 },
                      "a refused call must write nothing")

        // Packed weights for another N must be refused.
        let w = CBuffer(count: 7 * 6, repeating: Int8(1))
        let packed = CBuffer(count: ck_qgemm_packed_size(7, 6), repeating: UInt8(0))
        XCTAssertEqual(ck_qgemm_pack_weights(w.pointer, 7, 6, packed.pointer), 0)
        let a = CBuffer(count: 4 * 6, repeating: UInt8(1)), multiplier = CBuffer(count: 5, repeating: Float(1))
        let out = CBuffer(count: 4 * 5, repeating: sentinelU8)
        var args = ck_qgemm_args()
        args.M = 4; args.N = 5; args.K = 6; args.a = UnsafePointer(a.pointer); args.lda = 6
        args.packed_b = UnsafeRawPointer(packed.pointer); args.multiplier = UnsafePointer(multiplier.pointer)
        args.out_u8 = out.pointer; args.ldc = 5; args.out_inv_scale = 1
        XCTAssertEqual(ck_qgemm_u8s8(&args, 0, 4), -1)
        XCTAssertTrue(out.array.allSatisfy { $0 == sentinelU8 })
        args.N = 7; args.ldc = 7   // now matching (multiplier must hold 7: use a larger one)
        let multiplier7 = CBuffer(count: 7, repeating: Float(1)), out7 = CBuffer(count: 4 * 7, repeating: sentinelU8)
        args.multiplier = UnsafePointer(multiplier7.pointer); args.out_u8 = out7.pointer
        XCTAssertEqual(ck_qgemm_u8s8(&args, 0, 4), 0)
        XCTAssertTrue(out7.array.allSatisfy { $0 == 6 }, "1*1 summed over K=6 is 6")
    }

    func testIm2colMatchesNaive() {
        struct Config { var h, w, c, kh, kw, stride, dilation, pad, pixelExtra, rowExtra: Int }
        let configs = [
            Config(h: 7, w: 9, c: 3, kh: 3, kw: 3, stride: 1, dilation: 1, pad: 1, pixelExtra: 0, rowExtra: 0),
            Config(h: 8, w: 5, c: 5, kh: 3, kw: 3, stride: 2, dilation: 1, pad: 1, pixelExtra: 2, rowExtra: 3),
            Config(h: 13, w: 11, c: 2, kh: 3, kw: 3, stride: 1, dilation: 6, pad: 6, pixelExtra: 1, rowExtra: 0),
            Config(h: 5, w: 6, c: 7, kh: 7, kw: 7, stride: 2, dilation: 1, pad: 3, pixelExtra: 0, rowExtra: 5),
            Config(h: 3, w: 3, c: 1, kh: 1, kw: 1, stride: 1, dilation: 1, pad: 0, pixelExtra: 0, rowExtra: 0),
            Config(h: 9, w: 4, c: 3, kh: 3, kw: 3, stride: 2, dilation: 6, pad: 6, pixelExtra: 1, rowExtra: 1),
            Config(h: 1, w: 17, c: 4, kh: 3, kw: 5, stride: 1, dilation: 2, pad: 2, pixelExtra: 0, rowExtra: 0),
        ]
        var rng = SplitMix64(state: 3)
        for cfg in configs {
            let pixelStride = cfg.c + cfg.pixelExtra, rowStride = cfg.w * pixelStride + cfg.rowExtra
            let input = (0..<(cfg.h * rowStride)).map { _ in rng.byte() }
            let outH = (cfg.h + 2 * cfg.pad - cfg.dilation * (cfg.kh - 1) - 1) / cfg.stride + 1
            let outW = (cfg.w + 2 * cfg.pad - cfg.dilation * (cfg.kw - 1) - 1) / cfg.stride + 1
            let K = cfg.kh * cfg.kw * cfg.c, ld = K + 2
            let padValue = rng.byte()
            var expected = [UInt8](repeating: 0x5a, count: outH * outW * ld)
            for oy in 0..<outH {
                for ox in 0..<outW {
                    for ky in 0..<cfg.kh {
                        for kx in 0..<cfg.kw {
                            for ch in 0..<cfg.c {
                                let y = oy * cfg.stride - cfg.pad + ky * cfg.dilation
                                let x = ox * cfg.stride - cfg.pad + kx * cfg.dilation
                                let inside = y >= 0 && y < cfg.h && x >= 0 && x < cfg.w
                                expected[(oy * outW + ox) * ld + (ky * cfg.kw + kx) * cfg.c + ch] =
                                    inside ? input[y * rowStride + x * pixelStride + ch] : padValue
                            }
                        }
                    }
                }
            }
            let source = CBuffer(input), rows = CBuffer(count: outH * outW * ld, repeating: UInt8(0x5a))
            var args = ck_im2col_args()
            args.input = UnsafePointer(source.pointer)
            args.height = Int32(cfg.h); args.width = Int32(cfg.w); args.channels = Int32(cfg.c)
            args.pixel_stride = pixelStride; args.row_stride = rowStride
            args.kernel_h = Int32(cfg.kh); args.kernel_w = Int32(cfg.kw)
            args.stride_h = Int32(cfg.stride); args.stride_w = Int32(cfg.stride)
            args.pad_top = Int32(cfg.pad); args.pad_left = Int32(cfg.pad)
            args.dilation_h = Int32(cfg.dilation); args.dilation_w = Int32(cfg.dilation)
            args.out_width = Int32(outW); args.pad_value = padValue; args.ld_rows = ld
            // Two calls over output-row ranges, as threads would split it.
            let split = outH / 2
            args.rows = rows.pointer
            ck_im2col_u8_nhwc(&args, 0, Int32(split))
            args.rows = rows.pointer + split * outW * ld
            ck_im2col_u8_nhwc(&args, Int32(split), Int32(outH))
            XCTAssertEqual(rows.array, expected, "im2col \(cfg)")
        }
    }

    func testQuantizeAndDequantizeMatchNaive() {
        var rng = SplitMix64(state: 11)
        var values = (0..<2000).map { _ in rng.float(magnitude: 200_000, shift: 9) }
        values += [0.5, 1.5, 2.5, -0.5, -1.5, 1e30, -1e30, .infinity, -.infinity, .nan, 0, -0.0]
        let input = CBuffer(values), q = CBuffer(count: values.count, repeating: UInt8(0))
        for (invScale, zeroPoint) in [(Float(1), Int32(0)), (0.25, 128), (3.5, 255), (1, 10)] {
            ck_quantize_u8(input.pointer, q.pointer, values.count, invScale, zeroPoint)
            XCTAssertEqual(q.array, values.map { naiveQuantize($0, invScale, zeroPoint) }, "quantize \(invScale) \(zeroPoint)")
        }
        ck_quantize_u8(input.pointer + 2000, q.pointer, 4, 1, 10)
        XCTAssertEqual(Array(q.array[0..<4]), [10, 12, 12, 10], "ties round to even: 0.5, 1.5, 2.5, -0.5")
        let codes = CBuffer((0...255).map { UInt8($0) }), back = CBuffer(count: 256, repeating: Float(0))
        ck_dequantize_u8(codes.pointer, back.pointer, 256, 0.037, 131)
        XCTAssertEqual(back.array.map(\.bitPattern), (0...255).map { (Float(Int32($0) - 131) * 0.037).bitPattern })
    }

    /// Runs scripts/test-aarch64.sh: the native self-test on x86-64 (each ISA) and aarch64 under qemu (dotprod and
    /// Cortex-A53) must pass with identical checksums, and the target must compile for aarch64.
    func testCrossArchitectureScript() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/test-aarch64.sh")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            return XCTFail("missing or not executable: \(script.path)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path]
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(output)
        if process.terminationStatus == 77 {
            XCTFail("scripts/test-aarch64.sh: cross tools missing; install them with "
                    + "`apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user`\n\(output)")
        } else {
            XCTAssertEqual(process.terminationStatus, 0, "scripts/test-aarch64.sh failed:\n\(output)")
        }
    }
}
