// ReferenceElementwiseOpsTests.swift — the reference add, mul and concat (ReferenceOps.swift, shared by the
// reference executor and the trainer's forward) against their definitions computed here element by element.

import CondSegCore
import XCTest

final class ReferenceElementwiseOpsTests: XCTestCase {
    func testAddSumsLeftToRightThenReLU() {
        let count = 37
        let a = randomValues(count, seed: 1), b = randomValues(count, seed: 2), c = randomValues(count, seed: 3)
        for relu in [false, true] {
            var y = [Float](repeating: .nan, count: count)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeBufferPointer { pc in
                        ReferenceOps.add([pa.baseAddress!, pb.baseAddress!, pc.baseAddress!], count: count, relu: relu,
                                         output: &y)
                    }
                }
            }
            for i in 0..<count {
                let sum = (a[i] + b[i]) + c[i]   // float, in input order: the result must be bit-identical
                XCTAssertEqual(y[i], relu ? max(sum, 0) : sum, "\(i)")
            }
            XCTAssertTrue(!relu || y.allSatisfy { $0 >= 0 })
        }
        // One input is a copy.
        var single = [Float](repeating: 0, count: count)
        a.withUnsafeBufferPointer { ReferenceOps.add([$0.baseAddress!], count: count, relu: false, output: &single) }
        XCTAssertEqual(single, a)
    }

    func testMulByChannelAndByPixelGate() {
        let channels = 5, plane = 6
        let x = randomValues(channels * plane, seed: 4)
        let channelGate = randomValues(channels, seed: 5), pixelGate = randomValues(plane, seed: 6)
        var y = [Float](repeating: .nan, count: x.count)
        ReferenceOps.mul(x, channels: channels, plane: plane, gate: channelGate, gateChannels: channels, gatePlane: 1,
                         output: &y)
        for c in 0..<channels { for i in 0..<plane { XCTAssertEqual(y[c * plane + i], x[c * plane + i] * channelGate[c]) } }
        ReferenceOps.mul(x, channels: channels, plane: plane, gate: pixelGate, gateChannels: 1, gatePlane: plane, output: &y)
        for c in 0..<channels { for i in 0..<plane { XCTAssertEqual(y[c * plane + i], x[c * plane + i] * pixelGate[i]) } }
        XCTAssertTrue(ReferenceOps.isPerPixelGate(gateChannels: 1, gatePlane: 6, plane: 6))
        XCTAssertFalse(ReferenceOps.isPerPixelGate(gateChannels: 5, gatePlane: 1, plane: 6))
        // A one-channel map under a one-channel channel gate: per channel (the gate has one value, not `plane`).
        XCTAssertFalse(ReferenceOps.isPerPixelGate(gateChannels: 1, gatePlane: 1, plane: 6))
    }

    func testConcatPlacesInputsOneAfterAnother() {
        let a = randomValues(8, seed: 7), b = randomValues(3, seed: 8), c = randomValues(12, seed: 9)
        var y = [Float](repeating: .nan, count: 23)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeBufferPointer { pc in
                    ReferenceOps.concat([(pa.baseAddress!, 8), (pb.baseAddress!, 3), (pc.baseAddress!, 12)], output: &y)
                }
            }
        }
        XCTAssertEqual(y, a + b + c)
    }
}
