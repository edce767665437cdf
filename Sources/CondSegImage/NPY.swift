// NPY: reads and writes NumPy .npy files holding little-endian float32 arrays in C order, the exchange
// format for tensors and reference outputs between the Swift tools and Python.

import CondSegIO

/// NumPy .npy files of float32 values.
public enum NPY {
    /// NumPy .npy v1.0, '<f4', C order, atomic write.
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try AtomicFile.write(try encode(values, shape: shape, name: path), to: path)
    }

    /// The bytes of a .npy v1.0 file ('<f4', C order) holding `values` with `shape`.
    /// The product of `shape` must equal `values.count` (an empty shape is a scalar: one value).
    public static func encode(_ values: [Float], shape: [Int], name: String = "<npy>") throws -> [UInt8] {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ImageError(path: name, problem: "negative dimension in shape \(shape)") }
        let count = shape.reduce(1, *)
        guard count == values.count else {
            throw ImageError(path: name, problem: "shape \(shape) holds \(count) values but \(values.count) were given")
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // magic(6) + version(2) + length(2) + header, padded with spaces and a newline to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let headerLength = header.utf8.count
        bytes += [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// Reads a .npy file of '<f4' (or '<f8', converted to Float) values in C order.
    public static func read(path: String) throws -> (values: [Float], shape: [Int]) {
        try decode(FileIO.readAll(path: path), name: path)
    }

    /// Parses .npy bytes (versions 1, 2 and 3); `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String) throws -> (values: [Float], shape: [Int]) {
        func fail(_ problem: String) -> ImageError { ImageError(path: name, problem: problem) }
        if bytes.isEmpty { throw fail("empty file (0 bytes)") }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw fail("unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = dictionaryValue(header, key: "descr") else { throw fail("header has no 'descr'") }
        let descrText = descr.trimmingCharacters(in: "'\"")
        let elementSize: Int
        switch descrText {
        case "<f4": elementSize = 4
        case "<f8": elementSize = 8
        default: throw fail("unsupported dtype \(descrText) (expected '<f4' or '<f8')")
        }
        guard let fortran = dictionaryValue(header, key: "fortran_order") else { throw fail("header has no 'fortran_order'") }
        guard fortran == "False" else { throw fail("Fortran-order arrays are not supported") }
        guard let shapeText = dictionaryValue(header, key: "shape"), shapeText.hasPrefix("("), shapeText.hasSuffix(")") else {
            throw fail("header has no readable 'shape'")
        }
        var shape: [Int] = []
        for part in shapeText.dropFirst().dropLast().split(separator: ",") {
            let trimmed = String(part).trimmingCharacters(in: " L")
            if trimmed.isEmpty { continue }
            guard let dimension = Int(trimmed), dimension >= 0 else { throw fail("bad shape \(shapeText)") }
            shape.append(dimension)
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        let expected = count * elementSize
        guard bytes.count - dataStart == expected else {
            throw fail("data holds \(bytes.count - dataStart) bytes but shape \(shape) of \(descrText) needs \(expected)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for index in 0..<count {
                let offset = dataStart + index * elementSize
                if elementSize == 4 {
                    values[index] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                } else {
                    values[index] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
                }
            }
        }
        return (values, shape)
    }

    /// The raw text of `key`'s value in a Python dict literal header (a quoted string, a word or a tuple).
    static func dictionaryValue(_ header: String, key: String) -> String? {
        let characters = Array(header)
        let patterns = ["'\(key)'", "\"\(key)\""]
        for pattern in patterns {
            guard let range = header.range(of: pattern) else { continue }
            var position = header.distance(from: header.startIndex, to: range.upperBound)
            while position < characters.count && (characters[position] == " " || characters[position] == ":") { position += 1 }
            guard position < characters.count else { return nil }
            let start = position
            if characters[position] == "(" {
                while position < characters.count && characters[position] != ")" { position += 1 }
                return position < characters.count ? String(characters[start...position]) : nil
            }
            if characters[position] == "'" || characters[position] == "\"" {
                let quote = characters[position]
                position += 1
                while position < characters.count && characters[position] != quote { position += 1 }
                return position < characters.count ? String(characters[start...position]) : nil
            }
            while position < characters.count && characters[position] != "," && characters[position] != "}" { position += 1 }
            return String(characters[start..<position]).trimmingCharacters(in: " ")
        }
        return nil
    }
}

extension String {
    /// This string without leading and trailing characters from `set` (no Foundation needed).
    func trimmingCharacters(in set: String) -> String {
        let unwanted = Set(set)
        var slice = Substring(self)
        while let first = slice.first, unwanted.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, unwanted.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
