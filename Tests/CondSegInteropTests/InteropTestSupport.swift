// InteropTestSupport.swift — what the interop tests share: the expected tensors torch recorded beside each
// checkpoint fixture (scripts/make_interop_fixtures.py), and a reader of the protobuf wire format written from
// the format's definition (independent of the encoder under test) to look inside exported ONNX files.

import CondSegTestSupport
import Foundation

/// One tensor as torch saw it: dtype, shape and the SHA-256 of its contiguous little-endian bytes.
struct ExpectedTensor {
    let name: String
    let dtype: String
    let shape: [Int]
    let sha256: String
}

/// The expected tensors of `Tests/Fixtures/interop/<name>.expected.json`, in the state_dict's order.
func expectedTensors(_ name: String) throws -> [ExpectedTensor] {
    let data = try Data(contentsOf: URL(fileURLWithPath: try fixturePath("interop/\(name).expected.json")))
    let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    return (object["tensors"] as! [[String: Any]]).map {
        ExpectedTensor(name: $0["name"] as! String, dtype: $0["dtype"] as! String, shape: $0["shape"] as! [Int],
                       sha256: $0["sha256"] as! String)
    }
}

/// A decoded protobuf field: its number and either a varint, a fixed32 or the bytes of a length-delimited value.
struct WireField {
    let number: Int
    let varint: UInt64?
    let fixed32: UInt32?
    let bytes: ArraySlice<UInt8>?

    var string: String { String(decoding: bytes ?? [], as: UTF8.self) }
    var message: [WireField] { (try? decodeWire(bytes ?? [])) ?? [] }
}

struct WireError: Error { let problem: String }

/// Decodes one message level of the wire format: key = field << 3 | wire type; types 0 (varint), 1 (fixed64),
/// 2 (length-delimited), 5 (fixed32).
func decodeWire(_ bytes: ArraySlice<UInt8>) throws -> [WireField] {
    var fields: [WireField] = []
    var at = bytes.startIndex
    func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard at < bytes.endIndex, shift < 64 else { throw WireError(problem: "bad varint") }
            let byte = bytes[at]; at += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }
    while at < bytes.endIndex {
        let key = try varint()
        let number = Int(key >> 3)
        switch key & 7 {
        case 0: fields.append(WireField(number: number, varint: try varint(), fixed32: nil, bytes: nil))
        case 1:
            guard bytes.endIndex - at >= 8 else { throw WireError(problem: "short fixed64") }
            at += 8
        case 2:
            let n = Int(try varint())
            guard n <= bytes.endIndex - at else { throw WireError(problem: "length past the end") }
            fields.append(WireField(number: number, varint: nil, fixed32: nil, bytes: bytes[at..<(at + n)]))
            at += n
        case 5:
            guard bytes.endIndex - at >= 4 else { throw WireError(problem: "short fixed32") }
            var v: UInt32 = 0
            for k in 0..<4 { v |= UInt32(bytes[at + k]) << (8 * UInt32(k)) }
            at += 4
            fields.append(WireField(number: number, varint: nil, fixed32: v, bytes: nil))
        default: throw WireError(problem: "wire type \(key & 7)")
        }
    }
    return fields
}

extension Array where Element == WireField {
    func all(_ number: Int) -> [WireField] { filter { $0.number == number } }
    func first(_ number: Int) -> WireField? { first { $0.number == number } }
}
