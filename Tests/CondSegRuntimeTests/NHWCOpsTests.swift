// NHWCOpsTests.swift — the NHWC float ops of the int8 executor that write their uint8 copy in the same pass
// (upsampling and gate multiplies): their floats are the reference op's bits (ReferenceOps on planar buffers,
// transposed here), with or without the uint8 output, for wide output strides (a concat's slice) and 1 or 2
// threads; their uint8 values are exactly what NHWCOps.quantize gives for those floats afterwards (the unfused path).

import CondSegCore
import CondSegIO
@testable import CondSegRuntime
import XCTest

final class NHWCOpsTests: XCTestCase {
    private var random = SplitMix64(seed: 31)

    private func values(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { _ in Float(Int64(random.next() >> 40) - (1 << 23)) / Float(1 << 23) * scale }
    }

    /// planar [c][p] → NHWC [p][c]
    private func nhwc(_ planar: [Float], channels c: Int, plane: Int) -> [Float] {
        var out = [Float](repeating: 0, count: planar.count)
        for k in 0..<c { for p in 0..<plane { out[p * c + k] = planar[k * plane + p] } }
        return out
    }

    /// The floats of pixels at `stride` apart, channels [0, c).
    private func dense(_ buffer: [Float], channels c: Int, plane: Int, stride: Int) -> [Float] {
        (0..<plane).flatMap { p in buffer[(p * stride)..<(p * stride + c)] }
    }

    /// What quantizing the floats afterwards gives (the unfused path), at the byte stride.
    private func quantized(_ floats: [Float], floatStride: Int, byteStride: Int, channels c: Int, plane: Int,
                           _ q: ActivationQuantization, fill: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: fill, count: plane * byteStride)
        floats.withUnsafeBufferPointer { f in
            bytes.withUnsafeMutableBufferPointer { b in
                NHWCOps.quantize(f.baseAddress!, floatStride: floatStride, b.baseAddress!, byteStride: byteStride,
                                 channels: c, plane: plane, quantization: q, threads: 1)
            }
        }
        return bytes
    }

    func testUpsampleWithItsUint8CopyGivesTheReferenceFloatsAndTheQuantizedBytes() {
        for (c, inH, inW, factor) in [(3, 4, 5, 2), (64, 8, 8, 2), (17, 3, 6, 4), (40, 16, 16, 2)] {
            let outH = inH * factor, outW = inW * factor, plane = outH * outW
            let planarInput = values(c * inH * inW, scale: 8)
            var planarOutput = [Float](repeating: 0, count: c * plane)
            ReferenceOps.upsampleAlignCorners(channels: c, input: planarInput, inH: inH, inW: inW, output: &planarOutput,
                                              outH: outH, outW: outW, threads: 1)
            let expected = nhwc(planarOutput, channels: c, plane: plane)
            let input = nhwc(planarInput, channels: c, plane: inH * inW)
            let q = ActivationQuantization(scale: 0.043, zeroPoint: Int32(random.next() % 256))
            let rows = NHWCOps.AlignCornersTable(inSize: inH, outSize: outH)
            let columns = NHWCOps.AlignCornersTable(inSize: inW, outSize: outW)
            for (stride, byteStride, threads) in [(c, c, 1), (c + 5, c + 9, 2), (c + 1, c + 3, 1)] {
                for fused in [false, true] {
                    var y = [Float](repeating: -7, count: plane * stride)
                    var bytes = [UInt8](repeating: 5, count: plane * byteStride)
                    y.withUnsafeMutableBufferPointer { yb in
                        bytes.withUnsafeMutableBufferPointer { bb in
                            let out = fused ? NHWCOps.ByteOutput(bytes: bb.baseAddress!, stride: byteStride, quantization: q) : nil
                            NHWCOps.upsampleAlignCorners(channels: c, input: input, rows: rows, columns: columns, inW: inW,
                                                         output: yb.baseAddress!, outW: outW, outStride: stride,
                                                         bytes: out, threads: threads)
                        }
                    }
                    let label = "\(c)×\(inH)×\(inW) ×\(factor), strides \(stride)/\(byteStride), \(threads) threads, fused \(fused)"
                    XCTAssertEqual(dense(y, channels: c, plane: plane, stride: stride).map(\.bitPattern),
                                   expected.map(\.bitPattern), label)
                    let unfused = quantized(y, floatStride: stride, byteStride: byteStride, channels: c, plane: plane, q, fill: 5)
                    XCTAssertEqual(bytes, fused ? unfused : [UInt8](repeating: 5, count: bytes.count), label)
                }
            }
        }
    }

    func testGateMultiplyWithItsUint8CopyGivesTheReferenceFloatsAndTheQuantizedBytes() {
        for (c, plane) in [(5, 9), (64, 100), (33, 64)] {
            for channelGate in [true, false] {
                let planarX = values(c * plane, scale: 6), gate = values(channelGate ? c : plane, scale: 1)
                var planarY = [Float](repeating: 0, count: c * plane)
                ReferenceOps.mul(planarX, channels: c, plane: plane, gate: gate, gateChannels: channelGate ? c : 1,
                                 gatePlane: channelGate ? 1 : plane, output: &planarY)
                let expected = nhwc(planarY, channels: c, plane: plane), x = nhwc(planarX, channels: c, plane: plane)
                let q = ActivationQuantization(scale: 0.021, zeroPoint: Int32(random.next() % 256))
                for (stride, byteStride, threads) in [(c, c, 1), (c + 4, c + 2, 2)] {
                    for fused in [false, true] {
                        var y = [Float](repeating: -7, count: plane * stride)
                        var bytes = [UInt8](repeating: 5, count: plane * byteStride)
                        y.withUnsafeMutableBufferPointer { yb in
                            bytes.withUnsafeMutableBufferPointer { bb in
                                let out = fused ? NHWCOps.ByteOutput(bytes: bb.baseAddress!, stride: byteStride, quantization: q) : nil
                                NHWCOps.mul(x, gate: gate, yb.baseAddress!, channels: c, plane: plane, channelGate: channelGate,
                                            outStride: stride, bytes: out, threads: threads)
                            }
                        }
                        let label = "\(c) channels, \(plane) pixels, channel gate \(channelGate), strides \(stride)/\(byteStride), \(threads) threads, fused \(fused)"
                        XCTAssertEqual(dense(y, channels: c, plane: plane, stride: stride).map(\.bitPattern),
                                       expected.map(\.bitPattern), label)
                        let unfused = quantized(y, floatStride: stride, byteStride: byteStride, channels: c, plane: plane, q, fill: 5)
                        XCTAssertEqual(bytes, fused ? unfused : [UInt8](repeating: 5, count: bytes.count), label)
                    }
                }
            }
        }
    }
}
