// Exhaustive tests of the F16 and BF16 conversions through the public reader: every finite bit
// pattern converts to the value given by the textbook formula (and by Swift's Float16 where it
// exists), and every NaN/Inf pattern makes the file invalid.

import CondSegCore
import Foundation
import XCTest

final class HalfPrecisionWeightsTests: XCTestCase {

    /// sign * 2^(exponent - bias) * (1 + mantissa / 2^mantissaBits), or the subnormal form, in Double.
    private func naiveValue(bits: UInt16, exponentBits: Int, mantissaBits: Int) -> Double {
        let mantissa = Int(bits) & ((1 << mantissaBits) - 1)
        let exponent = (Int(bits) >> mantissaBits) & ((1 << exponentBits) - 1)
        let bias = (1 << (exponentBits - 1)) - 1
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let fraction = Double(mantissa) / Double(1 << mantissaBits)
        if exponent == 0 {
            return sign * fraction * pow(2.0, Double(1 - bias))
        }
        return sign * (1 + fraction) * pow(2.0, Double(exponent - bias))
    }

    private func allPatterns(finite: Bool, exponentMask: UInt16) -> [UInt16] {
        (0...UInt16.max).filter { (($0 & exponentMask) != exponentMask) == finite }
    }

    func testEveryFiniteF16PatternConvertsExactly() throws {
        let patterns = allPatterns(finite: true, exponentMask: 0x7C00)
        XCTAssertEqual(patterns.count, 65536 - 2048)
        let bytes = craftSafeTensors(header: #"{"h":{"dtype":"F16","shape":[\#(patterns.count)],"data_offsets":[0,\#(patterns.count * 2)]}}"#,
                                     data: patterns.flatMap(weightsLittleEndian))
        let values = try SafeTensorsFile(bytes: bytes, name: "all-f16").floats("h")
        XCTAssertEqual(values.count, patterns.count)
        var mismatches = 0
        for (bits, value) in zip(patterns, values) {
            let expected = Float(naiveValue(bits: bits, exponentBits: 5, mantissaBits: 10))
            // Compare bit patterns so that -0 is told apart from +0.
            if value.bitPattern != expected.bitPattern {
                mismatches += 1
                if mismatches < 5 { XCTFail("F16 0x\(String(bits, radix: 16)) -> \(value), expected \(expected)") }
            }
            #if arch(x86_64) || arch(arm64)
            if value.bitPattern != Float(Float16(bitPattern: bits)).bitPattern {
                mismatches += 1
                if mismatches < 5 { XCTFail("F16 0x\(String(bits, radix: 16)) differs from Swift's Float16") }
            }
            #endif
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testEveryFiniteBF16PatternConvertsExactly() throws {
        let patterns = allPatterns(finite: true, exponentMask: 0x7F80)
        XCTAssertEqual(patterns.count, 65536 - 256)
        let bytes = craftSafeTensors(header: #"{"b":{"dtype":"BF16","shape":[\#(patterns.count)],"data_offsets":[0,\#(patterns.count * 2)]}}"#,
                                     data: patterns.flatMap(weightsLittleEndian))
        let values = try SafeTensorsFile(bytes: bytes, name: "all-bf16").floats("b")
        var mismatches = 0
        for (bits, value) in zip(patterns, values) {
            let expected = Float(naiveValue(bits: bits, exponentBits: 8, mantissaBits: 7))
            if value.bitPattern != expected.bitPattern {
                mismatches += 1
                if mismatches < 5 { XCTFail("BF16 0x\(String(bits, radix: 16)) -> \(value), expected \(expected)") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testEveryNonFinitePatternIsRejected() {
        for (dtype, exponentMask) in [("F16", UInt16(0x7C00)), ("BF16", UInt16(0x7F80))] {
            let patterns = allPatterns(finite: false, exponentMask: exponentMask)
            XCTAssertEqual(patterns.count, dtype == "F16" ? 2048 : 256)
            for bits in patterns {
                let isNaN = bits & ~exponentMask & 0x7FFF != 0
                let expected = isNaN ? "NaN" : (bits & 0x8000 != 0 ? "-Inf" : "+Inf")
                let bytes = craftSafeTensors(header: #"{"x":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,4]}}"#,
                                             data: weightsLittleEndian(UInt16(0x0000)) + weightsLittleEndian(bits))
                assertRejected(bytes, tensor: "x", mentions: ["element 1", expected])
            }
        }
    }
}
