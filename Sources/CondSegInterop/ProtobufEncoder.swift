// ProtobufEncoder.swift — a small writer of the protocol buffers wire format, enough for ONNX files: varints,
// length-delimited fields (bytes, strings, nested messages) and 32-bit floats. Each message is built bottom-up
// into its own byte array and embedded in its parent with its length. Repeated scalar fields are written one
// field per value (the unpacked encoding every parser accepts, and the default of ONNX's proto2 schema).

/// The bytes of one protobuf message under construction.
public struct ProtobufMessage: Sendable {
    /// Wire types used here.
    enum WireType: UInt64 { case varint = 0, lengthDelimited = 2, fixed32 = 5 }

    /// The encoded fields so far.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// `value` as a base-128 varint (7 bits per byte, least significant first, high bit = more bytes follow).
    public static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    private mutating func key(_ field: Int, _ type: WireType) {
        precondition(field > 0 && field < (1 << 29), "protobuf field number out of range")
        bytes += ProtobufMessage.varint(UInt64(field) << 3 | type.rawValue)
    }

    /// An int32/int64/enum/bool field (negative values as their 64-bit two's complement, 10 bytes).
    public mutating func int(_ field: Int, _ value: Int64) {
        key(field, .varint)
        bytes += ProtobufMessage.varint(UInt64(bitPattern: value))
    }

    /// A repeated int64 field, one entry per value.
    public mutating func ints(_ field: Int, _ values: [Int]) {
        for v in values { int(field, Int64(v)) }
    }

    /// A float field (fixed 32 bits, little-endian).
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        let bits = value.bitPattern
        for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
    }

    /// A bytes field.
    public mutating func data(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        bytes += ProtobufMessage.varint(UInt64(value.count))
        bytes += value
    }

    /// A string field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) {
        data(field, Array(value.utf8))
    }

    /// An embedded message field.
    public mutating func message(_ field: Int, _ value: ProtobufMessage) {
        data(field, value.bytes)
    }
}
