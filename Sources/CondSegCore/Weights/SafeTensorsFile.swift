// Reader for safetensors weights files. The whole file is read into memory and validated up front
// (header length, JSON, field types, dtype whitelist, shapes, offsets that exactly tile the data
// section, no NaN/Inf in float tensors), so every later accessor works on a file known to be sound.
// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data section.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Synchronization

#if _endian(big)
#error("safetensors data is little-endian; this reader copies it as-is and needs a little-endian host")
#endif

/// A validated safetensors file held in memory.
public final class SafeTensorsFile: Sendable {
    /// Largest header accepted, as in the reference implementation (100 MB).
    public static let maximumHeaderLength = 100_000_000
    /// Largest weights file accepted (4 GiB). The whole file is read into memory and checked before use; the
    /// largest ConDSeg configuration (ResNet-50, W 128, M 512) is about 0.2 GB, so anything near this is not a
    /// model this runtime can run on an endoscope processor, and refusing it beats failing to allocate.
    public static let maximumFileSize = 1 << 32

    /// The path the file was read from, or the name given for in-memory bytes.
    public let name: String
    /// The `__metadata__` string map (empty when the header has none).
    public let metadata: [String: String]
    /// Every tensor, by name.
    public let entries: [String: TensorEntry]
    /// Lowercase hexadecimal SHA-256 of the whole file's bytes. Computed on first use and then
    /// kept (about 0.2 s for a 35 MB file in a release build, but seconds in a debug build, which is
    /// why loading does not compute it eagerly).
    public var sha256: String {
        cachedSHA256.withLock { cached in
            if let cached { return cached }
            let digest = SHA256.hex(bytes)
            cached = digest
            return digest
        }
    }

    /// Tensor names in data-offset order.
    public var names: [String] { orderedNames }

    private let orderedNames: [String]
    private let bytes: [UInt8]
    /// Index in `bytes` where the data section starts (8 + header length).
    private let dataStart: Int
    private let cachedSHA256 = Mutex<String?>(nil)

    /// Reads the whole file at `path` and validates it; errors name `path`.
    public convenience init(path: String) throws(WeightsError) {
        let bytes = try readWholeFile(path)
        try self.init(bytes: bytes, name: path)
    }

    /// Validates `bytes` as a safetensors file; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws(WeightsError) {
        let layout = try validateSafeTensors(bytes, file: name)
        self.name = name
        self.bytes = bytes
        self.dataStart = layout.dataStart
        self.metadata = layout.metadata
        self.orderedNames = layout.orderedEntries.map(\.name)
        var entries: [String: TensorEntry] = [:]
        entries.reserveCapacity(layout.orderedEntries.count)
        for entry in layout.orderedEntries {
            entries[entry.name] = entry
        }
        self.entries = entries
    }

    /// The entry for `name`; throws "missing tensor" if the file has no such tensor.
    public func entry(_ name: String) throws(WeightsError) -> TensorEntry {
        guard let entry = entries[name] else {
            throw WeightsError(file: self.name, tensor: name, problem: "missing tensor (the file has \(entries.count) tensors)")
        }
        return entry
    }

    /// The values of a float tensor (F32, F16 or BF16), converted exactly to Float.
    public func floats(_ name: String) throws(WeightsError) -> [Float] {
        let entry = try entry(name)
        switch entry.dtype {
        case .f32:
            return copyElements(of: entry, as: Float.self)
        case .f16:
            return copyElements(of: entry, as: UInt16.self).map(floatFromHalfBits)
        case .bf16:
            return copyElements(of: entry, as: UInt16.self).map(floatFromBFloat16Bits)
        case .i64, .i32, .i8, .u8:
            throw WeightsError(file: self.name, tensor: name,
                               problem: "has dtype \(entry.dtype.rawValue), expected a float type (F32, F16 or BF16)")
        }
    }

    /// Like `floats(_:)`, and also checks that the tensor has exactly `shape`.
    public func floats(_ name: String, shape: [Int]) throws(WeightsError) -> [Float] {
        let entry = try entry(name)
        guard entry.shape == shape else {
            throw WeightsError(file: self.name, tensor: name,
                               problem: "has shape \(describeShape(entry.shape)), expected \(describeShape(shape))")
        }
        return try floats(name)
    }

    /// The values of an I8 tensor.
    public func int8s(_ name: String) throws(WeightsError) -> [Int8] {
        copyElements(of: try entry(name, requiring: .i8), as: Int8.self)
    }

    /// The values of an I32 tensor.
    public func int32s(_ name: String) throws(WeightsError) -> [Int32] {
        copyElements(of: try entry(name, requiring: .i32), as: Int32.self)
    }

    /// The values of an I64 tensor.
    public func int64s(_ name: String) throws(WeightsError) -> [Int64] {
        copyElements(of: try entry(name, requiring: .i64), as: Int64.self)
    }

    /// The values of a U8 tensor.
    public func uint8s(_ name: String) throws(WeightsError) -> [UInt8] {
        copyElements(of: try entry(name, requiring: .u8), as: UInt8.self)
    }

    /// The tensor's bytes exactly as stored (little-endian elements), whatever its dtype.
    public func rawBytes(_ name: String) throws(WeightsError) -> [UInt8] {
        copyElements(of: try entry(name), as: UInt8.self)
    }

    private func entry(_ name: String, requiring dtype: DType) throws(WeightsError) -> TensorEntry {
        let entry = try entry(name)
        guard entry.dtype == dtype else {
            throw WeightsError(file: self.name, tensor: name,
                               problem: "has dtype \(entry.dtype.rawValue), expected \(dtype.rawValue)")
        }
        return entry
    }

    /// Copies the tensor's bytes into a new array of `Element` (the dtype's element type, or UInt8
    /// for the raw bytes).
    private func copyElements<Element>(of entry: TensorEntry, as _: Element.Type) -> [Element] {
        let count = entry.byteCount / MemoryLayout<Element>.stride
        precondition(count * MemoryLayout<Element>.stride == entry.byteCount, "tensor size is not a whole number of elements")
        let start = dataStart + entry.offset
        return [Element](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[start..<(start + entry.byteCount)]))
            }
            initializedCount = count
        }
    }
}

/// Result of validating a file: where the data starts, the metadata, and the entries in data order.
struct SafeTensorsLayout {
    var dataStart: Int
    var metadata: [String: String]
    var orderedEntries: [TensorEntry]
}

/// Reads a whole regular file with POSIX calls so failures can be reported with the system's reason; a file whose
/// declared header length is impossible is refused after reading its first 8 bytes, and one whose header does not
/// describe its data section (sizes, offsets, trailing bytes) after reading the header.
func readWholeFile(_ path: String) throws(WeightsError) -> [UInt8] {
    func failure(_ what: String) -> WeightsError {
        WeightsError(file: path, tensor: nil, problem: "\(what): \(String(cString: strerror(errno)))")
    }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure("cannot open") }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw failure("cannot stat") }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        throw WeightsError(file: path, tensor: nil, problem: "not a regular file")
    }
    let expectedSize = Int(status.st_size)
    guard expectedSize <= SafeTensorsFile.maximumFileSize else {
        throw WeightsError(file: path, tensor: nil, problem: "file is \(expectedSize) bytes, more than the \(SafeTensorsFile.maximumFileSize >> 30) GiB a weights file may have")
    }
    // The declared header length first: a broken length field is refused before the whole file is read.
    var prefix = [UInt8](repeating: 0, count: 8)
    let prefixCount = prefix.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, 8, 0) }
    guard prefixCount >= 0 else { throw failure("cannot read") }
    let headerLength = try checkedHeaderLength(prefix[0..<prefixCount], fileSize: expectedSize, file: path)
    // Then the header itself (at most 100 MB): a data section that does not match it is refused unread.
    var head = [UInt8](repeating: 0, count: 8 + headerLength)
    let headCount = head.withUnsafeMutableBytes { raw -> Int in
        var filled = 0
        while filled < raw.count {
            let count = pread(descriptor, raw.baseAddress! + filled, raw.count - filled, off_t(filled))
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            filled += count
        }
        return filled
    }
    guard headCount == head.count else { throw failure("cannot read the header") }
    _ = try validateSafeTensorsHeader(head, fileSize: expectedSize, file: path)
    var readError: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: expectedSize) { buffer, initializedCount in
        var filled = 0
        while filled < expectedSize {
            let count = read(descriptor, buffer.baseAddress! + filled, expectedSize - filled)
            if count < 0 {
                if errno == EINTR { continue }
                readError = errno
                break
            }
            if count == 0 { break }  // the file shrank while reading: validation reports what is missing
            filled += count
        }
        initializedCount = filled
    }
    if readError != 0 {
        errno = readError
        throw failure("cannot read")
    }
    return bytes
}

/// The header length a safetensors file declares in its first 8 bytes (`prefix`, fewer when the file is shorter),
/// checked against the header limit and the file's size; errors name `file`. Shared by the reader (which checks it
/// before reading a whole file into memory) and the validator.
func checkedHeaderLength(_ prefix: ArraySlice<UInt8>, fileSize: Int, file: String) throws(WeightsError) -> Int {
    func fileError(_ problem: String) -> WeightsError { WeightsError(file: file, tensor: nil, problem: problem) }
    guard fileSize >= 8, prefix.count >= 8 else {
        throw fileError("file is \(fileSize) bytes long, shorter than the 8-byte header length field")
    }
    var declaredLength: UInt64 = 0
    for (index, byte) in prefix.prefix(8).enumerated() {
        declaredLength |= UInt64(byte) << (8 * UInt64(index))
    }
    guard declaredLength != 0 else { throw fileError("header length is 0") }
    guard declaredLength <= UInt64(SafeTensorsFile.maximumHeaderLength) else {
        throw fileError("header length \(declaredLength) exceeds the limit of \(SafeTensorsFile.maximumHeaderLength) bytes")
    }
    let headerLength = Int(declaredLength)
    guard headerLength <= fileSize - 8 else {
        throw fileError("header length \(headerLength) runs past the end of the file (\(fileSize - 8) bytes follow the length field)")
    }
    return headerLength
}

/// Checks every rule of the format (see the file header comment) and returns the layout.
func validateSafeTensors(_ bytes: [UInt8], file: String) throws(WeightsError) -> SafeTensorsLayout {
    let layout = try validateSafeTensorsHeader(bytes, fileSize: bytes.count, file: file)

    // Float tensors must be finite.
    for entry in layout.orderedEntries where entry.dtype.isFloatingPoint {
        let start = layout.dataStart + entry.offset
        let problem: String? = bytes.withUnsafeBytes { raw in
            firstNonFiniteValue(in: UnsafeRawBufferPointer(rebasing: raw[start..<(start + entry.byteCount)]),
                                dtype: entry.dtype)
        }
        if let problem {
            throw WeightsError(file: file, tensor: entry.name, problem: problem)
        }
    }
    return layout
}

/// Every rule that the header decides (its length, JSON, entries, and that the tensors tile a data section of
/// `fileSize` − 8 − header length bytes exactly), from `head`: the file's first 8 + header length bytes or more.
/// The reader runs it on the header alone before reading the data, so a file whose data section does not match
/// its header is refused without being read.
func validateSafeTensorsHeader(_ bytes: [UInt8], fileSize: Int, file: String) throws(WeightsError) -> SafeTensorsLayout {
    func fileError(_ problem: String) -> WeightsError {
        WeightsError(file: file, tensor: nil, problem: problem)
    }
    func tensorError(_ tensor: String, _ problem: String) -> WeightsError {
        WeightsError(file: file, tensor: tensor, problem: problem)
    }

    // Header length.
    let headerLength = try checkedHeaderLength(bytes.prefix(8), fileSize: fileSize, file: file)
    let dataStart = 8 + headerLength
    let dataLength = fileSize - dataStart
    guard bytes.count >= dataStart else {
        throw fileError("header length \(headerLength) runs past the bytes read (\(bytes.count - 8) after the length field)")
    }

    // Header text.
    let headerBytes = Array(bytes[8..<dataStart])
    guard String(validating: headerBytes, as: UTF8.self) != nil else {
        throw fileError("header is not valid UTF-8")
    }
    guard headerBytes[0] == UInt8(ascii: "{") else {
        throw fileError("header is not a JSON object (it must start with '{')")
    }
    let header: JSONValue
    do throws(JSONSyntaxError) {
        header = try HeaderJSONParser.parse(headerBytes)
    } catch {
        throw fileError("header is not valid JSON: \(error.message) at header byte \(error.offset)")
    }
    guard case .object(let members) = header else {
        throw fileError("header is not a JSON object")
    }

    // Entries.
    var metadata: [String: String]? = nil
    var entries: [TensorEntry] = []
    var seenNames = Set<String>()
    for (key, value) in members {
        if key == "__metadata__" {
            guard metadata == nil else { throw fileError("header has __metadata__ twice") }
            metadata = try parseMetadata(value, file: file)
            continue
        }
        guard seenNames.insert(key).inserted else {
            throw tensorError(key, "name appears more than once in the header")
        }
        entries.append(try parseEntry(named: key, value, dataLength: dataLength, file: file))
    }

    // The tensors must tile [0, dataLength) exactly.
    entries.sort { left, right in
        if left.offset != right.offset { return left.offset < right.offset }
        if left.byteCount != right.byteCount { return left.byteCount < right.byteCount }
        return left.name.utf8.lexicographicallyPrecedes(right.name.utf8)
    }
    var covered = 0
    var previousName: String? = nil
    for entry in entries {
        if entry.offset < covered {
            throw tensorError(entry.name, "data_offsets [\(entry.offset), \(entry.offset + entry.byteCount)] overlap tensor '\(previousName ?? "")', which ends at \(covered)")
        }
        if entry.offset > covered {
            throw tensorError(entry.name, "gap in the data section: bytes \(covered)..<\(entry.offset) before this tensor belong to no tensor")
        }
        covered = entry.offset + entry.byteCount
        previousName = entry.name
    }
    if covered != dataLength {
        throw fileError("\(dataLength - covered) trailing bytes in the data section after the last tensor (tensors end at \(covered), data section is \(dataLength) bytes)")
    }

    return SafeTensorsLayout(dataStart: dataStart, metadata: metadata ?? [:], orderedEntries: entries)
}

private func parseMetadata(_ value: JSONValue, file: String) throws(WeightsError) -> [String: String] {
    guard case .object(let members) = value else {
        throw WeightsError(file: file, tensor: nil, problem: "__metadata__ is \(value.kindDescription), expected a string-to-string map")
    }
    var metadata: [String: String] = [:]
    for (key, member) in members {
        guard case .string(let text) = member else {
            throw WeightsError(file: file, tensor: nil,
                               problem: "__metadata__ is not a string-to-string map: key '\(key)' holds \(member.kindDescription)")
        }
        guard metadata.updateValue(text, forKey: key) == nil else {
            throw WeightsError(file: file, tensor: nil, problem: "__metadata__ has key '\(key)' more than once")
        }
    }
    return metadata
}

/// Result of reading a JSON number as a non-negative Int.
private enum IntegerReading {
    case value(Int)
    case negative
    case notAnInteger
    case tooLarge
}

private func readNonNegativeInteger(_ value: JSONValue) -> IntegerReading {
    guard case .number(let text) = value else { return .notAnInteger }
    if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
        return .notAnInteger
    }
    guard let integer = Int(text) else {
        // The grammar already guarantees digits only, so a failed conversion is an overflow.
        return text.hasPrefix("-") ? .negative : .tooLarge
    }
    return integer < 0 ? .negative : .value(integer)
}

private func jsonText(_ value: JSONValue) -> String {
    switch value {
    case .number(let text): return text
    case .string(let text): return "\"\(text)\""
    default: return value.kindDescription
    }
}

private func parseEntry(named name: String, _ value: JSONValue, dataLength: Int, file: String) throws(WeightsError) -> TensorEntry {
    func failure(_ problem: String) -> WeightsError {
        WeightsError(file: file, tensor: name, problem: problem)
    }
    guard case .object(let fields) = value else {
        throw failure("entry is \(value.kindDescription), expected an object with dtype, shape and data_offsets")
    }
    var dtypeField: JSONValue? = nil
    var shapeField: JSONValue? = nil
    var offsetsField: JSONValue? = nil
    for (fieldName, fieldValue) in fields {
        switch fieldName {
        case "dtype":
            guard dtypeField == nil else { throw failure("field 'dtype' appears more than once") }
            dtypeField = fieldValue
        case "shape":
            guard shapeField == nil else { throw failure("field 'shape' appears more than once") }
            shapeField = fieldValue
        case "data_offsets":
            guard offsetsField == nil else { throw failure("field 'data_offsets' appears more than once") }
            offsetsField = fieldValue
        default:
            throw failure("unexpected field '\(fieldName)' (allowed: dtype, shape, data_offsets)")
        }
    }
    guard let dtypeField else { throw failure("entry has no 'dtype'") }
    guard let shapeField else { throw failure("entry has no 'shape'") }
    guard let offsetsField else { throw failure("entry has no 'data_offsets'") }

    // dtype
    guard case .string(let dtypeText) = dtypeField else {
        throw failure("dtype is \(dtypeField.kindDescription), expected a string")
    }
    guard let dtype = DType(rawValue: dtypeText) else {
        let allowed = DType.allCases.map(\.rawValue).joined(separator: ", ")
        throw failure("unsupported dtype '\(dtypeText)' (allowed: \(allowed))")
    }

    // shape
    guard case .array(let dimensionValues) = shapeField else {
        throw failure("shape is \(shapeField.kindDescription), expected an array of integers")
    }
    var shape: [Int] = []
    shape.reserveCapacity(dimensionValues.count)
    for dimensionValue in dimensionValues {
        switch readNonNegativeInteger(dimensionValue) {
        case .value(let dimension): shape.append(dimension)
        case .negative: throw failure("negative dimension \(jsonText(dimensionValue)) in shape")
        case .notAnInteger: throw failure("shape element \(jsonText(dimensionValue)) is not an integer")
        case .tooLarge: throw failure("shape dimension \(jsonText(dimensionValue)) is too large")
        }
    }
    guard let elementCount = checkedElementCount(shape) else {
        throw failure("element count of shape \(describeShape(shape)) overflows")
    }
    let (neededBytes, byteOverflow) = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
    guard !byteOverflow else {
        throw failure("byte size of shape \(describeShape(shape)) of \(dtype.rawValue) overflows")
    }

    // data_offsets
    guard case .array(let offsetValues) = offsetsField else {
        throw failure("data_offsets is \(offsetsField.kindDescription), expected [begin, end]")
    }
    guard offsetValues.count == 2 else {
        throw failure("data_offsets has \(offsetValues.count) elements, expected [begin, end]")
    }
    var offsets: [Int] = []
    for offsetValue in offsetValues {
        switch readNonNegativeInteger(offsetValue) {
        case .value(let offset): offsets.append(offset)
        case .negative: throw failure("negative data offset \(jsonText(offsetValue))")
        case .notAnInteger: throw failure("data offset \(jsonText(offsetValue)) is not an integer")
        case .tooLarge: throw failure("data offset \(jsonText(offsetValue)) overflows")
        }
    }
    let begin = offsets[0], end = offsets[1]
    guard begin <= end else {
        throw failure("data_offsets begin \(begin) is after end \(end)")
    }
    guard end - begin == neededBytes else {
        throw failure("shape \(describeShape(shape)) of \(dtype.rawValue) needs \(neededBytes) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
    }
    guard end <= dataLength else {
        throw failure("data_offsets [\(begin), \(end)] run past the end of the data section (\(dataLength) bytes)")
    }
    return TensorEntry(name: name, dtype: dtype, shape: shape, offset: begin, byteCount: neededBytes)
}

/// Describes the first NaN or infinity in a float tensor's bytes, or returns nil if all are finite.
func firstNonFiniteValue(in raw: UnsafeRawBufferPointer, dtype: DType) -> String? {
    func describe(index: Int, isNaN: Bool, isNegative: Bool) -> String {
        let what = isNaN ? "NaN" : (isNegative ? "-Inf" : "+Inf")
        return "element \(index) (flat index) is \(what); float tensors must be finite"
    }
    switch dtype {
    case .f32:
        let count = raw.count / 4
        for index in 0..<count {
            let bits = raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
            if bits & 0x7F80_0000 == 0x7F80_0000 {
                return describe(index: index, isNaN: bits & 0x007F_FFFF != 0, isNegative: bits >> 31 != 0)
            }
        }
    case .f16:
        let count = raw.count / 2
        for index in 0..<count {
            let bits = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
            if bits & 0x7C00 == 0x7C00 {
                return describe(index: index, isNaN: bits & 0x03FF != 0, isNegative: bits >> 15 != 0)
            }
        }
    case .bf16:
        let count = raw.count / 2
        for index in 0..<count {
            let bits = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
            if bits & 0x7F80 == 0x7F80 {
                return describe(index: index, isNaN: bits & 0x007F != 0, isNegative: bits >> 15 != 0)
            }
        }
    case .i64, .i32, .i8, .u8:
        break
    }
    return nil
}
