// ProtobufEncoderTests.swift — the wire encoding against the examples of the protocol buffers encoding
// documentation (varint 1 = 01, 150 = 96 01, 300 = AC 02; field 1 = 150 → 08 96 01; field 2 = "testing" →
// 12 07 74 65 73 74 69 6E 67; negative int64 as ten bytes).

@testable import CondSegInterop
import XCTest

final class ProtobufEncoderTests: XCTestCase {
    func testVarints() {
        XCTAssertEqual(ProtobufMessage.varint(1), [0x01])
        XCTAssertEqual(ProtobufMessage.varint(150), [0x96, 0x01])
        XCTAssertEqual(ProtobufMessage.varint(300), [0xAC, 0x02])
        XCTAssertEqual(ProtobufMessage.varint(UInt64.max), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    func testFields() {
        var m = ProtobufMessage()
        m.int(1, 150)
        XCTAssertEqual(m.bytes, [0x08, 0x96, 0x01])
        var s = ProtobufMessage()
        s.string(2, "testing")
        XCTAssertEqual(s.bytes, [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6E, 0x67])
        var nested = ProtobufMessage()
        nested.message(3, m)
        XCTAssertEqual(nested.bytes, [0x1A, 0x03, 0x08, 0x96, 0x01])
        var negative = ProtobufMessage()
        negative.int(1, -1)
        XCTAssertEqual(negative.bytes, [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        var f = ProtobufMessage()
        f.float(2, 1.0)   // fixed32, little-endian 0x3F800000
        XCTAssertEqual(f.bytes, [0x15, 0x00, 0x00, 0x80, 0x3F])
        var repeated = ProtobufMessage()
        repeated.ints(8, [1, 2])
        XCTAssertEqual(repeated.bytes, [0x40, 0x01, 0x40, 0x02])
    }
}
