// Writer for safetensors weights files: collects named tensors, serializes them deterministically
// (header keys sorted, header padded with spaces to a multiple of 8, data laid out largest element
// size first so every tensor is naturally aligned) and writes atomically (CondSegIO's AtomicFile: temp file + rename).

import CondSegIO

/// Builds a safetensors file in memory. Everything it accepts is something `SafeTensorsFile` accepts.
public struct SafeTensorsWriter: Sendable {
    /// Name used as the "file" of errors raised while adding tensors (no path is known yet).
    public static let errorSource = "SafeTensorsWriter"

    /// String annotations stored under `__metadata__` (omitted from the header when empty).
    public var metadata: [String: String]

    private struct PendingTensor: Sendable {
        var name: String
        var dtype: DType
        var shape: [Int]
        var data: [UInt8]
    }

    private var tensors: [PendingTensor] = []
    private var usedNames = Set<String>()

    /// Creates an empty writer.
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds an F32 tensor; the values must be finite and their count must equal the shape's product.
    public mutating func add(_ name: String, floats: [Float], shape: [Int]) throws(WeightsError) {
        try add(name, dtype: .f32, rawBytes: floats.withUnsafeBytes { Array($0) }, shape: shape)
    }

    /// Adds an I8 tensor.
    public mutating func add(_ name: String, int8s: [Int8], shape: [Int]) throws(WeightsError) {
        try add(name, dtype: .i8, rawBytes: int8s.withUnsafeBytes { Array($0) }, shape: shape)
    }

    /// Adds an I32 tensor.
    public mutating func add(_ name: String, int32s: [Int32], shape: [Int]) throws(WeightsError) {
        try add(name, dtype: .i32, rawBytes: int32s.withUnsafeBytes { Array($0) }, shape: shape)
    }

    /// Adds an I64 tensor.
    public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) throws(WeightsError) {
        try add(name, dtype: .i64, rawBytes: int64s.withUnsafeBytes { Array($0) }, shape: shape)
    }

    /// Adds a U8 tensor.
    public mutating func add(_ name: String, uint8s: [UInt8], shape: [Int]) throws(WeightsError) {
        try add(name, dtype: .u8, rawBytes: uint8s, shape: shape)
    }

    /// Adds a tensor of any dtype from its little-endian bytes (the way to write F16 and BF16).
    /// Float dtypes are checked for NaN and Inf like the reader does.
    public mutating func add(_ name: String, dtype: DType, rawBytes: [UInt8], shape: [Int]) throws(WeightsError) {
        func failure(_ problem: String) -> WeightsError {
            WeightsError(file: Self.errorSource, tensor: name, problem: problem)
        }
        guard name != "__metadata__" else { throw failure("the name __metadata__ is reserved for the header") }
        guard !usedNames.contains(name) else { throw failure("a tensor with this name was already added") }
        if let negative = shape.first(where: { $0 < 0 }) {
            throw failure("negative dimension \(negative) in shape \(describeShape(shape))")
        }
        guard let elementCount = checkedElementCount(shape) else {
            throw failure("element count of shape \(describeShape(shape)) overflows")
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, byteCount == rawBytes.count else {
            let given = rawBytes.count % dtype.byteSize == 0
                ? "\(rawBytes.count / dtype.byteSize) were given" : "\(rawBytes.count) bytes were given"
            throw failure("shape \(describeShape(shape)) needs \(elementCount) \(dtype.rawValue) elements but \(given)")
        }
        if dtype.isFloatingPoint, let problem = rawBytes.withUnsafeBytes({ firstNonFiniteValue(in: $0, dtype: dtype) }) {
            throw failure(problem)
        }
        usedNames.insert(name)
        tensors.append(PendingTensor(name: name, dtype: dtype, shape: shape, data: rawBytes))
    }

    /// The complete file: length, header, data.
    public func serialize() -> [UInt8] {
        // Data order: larger elements first (so each tensor is aligned to its element size, the data
        // section starting at a multiple of 8), then by name; header keys are sorted by name.
        let dataOrder = tensors.sorted { left, right in
            if left.dtype.byteSize != right.dtype.byteSize { return left.dtype.byteSize > right.dtype.byteSize }
            return left.name.utf8.lexicographicallyPrecedes(right.name.utf8)
        }
        var offsets: [String: (begin: Int, end: Int)] = [:]
        var dataLength = 0
        for tensor in dataOrder {
            offsets[tensor.name] = (dataLength, dataLength + tensor.data.count)
            dataLength += tensor.data.count
        }

        var header = "{"
        var firstMember = true
        func appendMember(_ key: String, _ value: String) {
            if !firstMember { header += "," }
            firstMember = false
            header += jsonQuoted(key) + ":" + value
        }
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            appendMember("__metadata__", "{" + pairs.map { jsonQuoted($0.key) + ":" + jsonQuoted($0.value) }.joined(separator: ",") + "}")
        }
        for tensor in tensors.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            let range = offsets[tensor.name]!
            let shapeText = tensor.shape.map(String.init).joined(separator: ",")
            appendMember(tensor.name, "{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shapeText)],\"data_offsets\":[\(range.begin),\(range.end)]}")
        }
        header += "}"

        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 {
            headerBytes.append(UInt8(ascii: " "))
        }
        var output: [UInt8] = []
        output.reserveCapacity(8 + headerBytes.count + dataLength)
        let headerLength = UInt64(headerBytes.count)
        for index in 0..<8 {
            output.append(UInt8(truncatingIfNeeded: headerLength >> (8 * UInt64(index))))
        }
        output.append(contentsOf: headerBytes)
        for tensor in dataOrder {
            output.append(contentsOf: tensor.data)
        }
        return output
    }

    /// Writes `serialize()` to `path` atomically: a temp file in the same folder is written, synced
    /// and renamed over `path`, so `path` is never left half-written. Errors name `path`.
    public func write(to path: String) throws(OutputError) {
        try AtomicFile.write(serialize(), to: path)
    }
}

/// JSON string literal for `text`: quotes, backslashes and control characters escaped, the rest raw UTF-8.
func jsonQuoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}
