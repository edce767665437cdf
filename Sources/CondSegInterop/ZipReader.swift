// ZipReader.swift — reads the entries of a zip archive held in memory, as PyTorch's `torch.save` writes them
// (its zip checkpoint format). Supported: stored (uncompressed) entries, which is what torch.save writes, with
// their CRC-32 checked, and ZIP64 sizes and offsets. Compressed entries (deflate and others), encryption and
// multi-disk archives are refused with an error naming the archive and the entry. Nothing is extracted to disk.

/// A failure reading a checkpoint or archive: "FILE: problem".
public struct CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) { self.file = file; self.problem = problem }
    public var description: String { "\(file): \(problem)" }
}

/// The entries of a zip archive, by name; each entry's bytes are a range of the archive.
public struct ZipArchive: Sendable {
    /// One file of the archive.
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// 0 = stored; the only method whose data `data(of:)` returns.
        public let method: UInt16
        public let crc32: UInt32
        public let compressedSize: Int
        public let uncompressedSize: Int
        /// Offset of the entry's local header in the archive.
        public let localHeaderOffset: Int
    }

    /// The archive's name in error messages.
    public let file: String
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let bytes: [UInt8]

    /// Whether `bytes` start like a zip archive (a local file header or an empty archive's end record).
    public static func looksLikeZip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && (bytes[2] == 3 || bytes[2] == 5)
    }

    /// Parses the central directory of `bytes`; `file` names the archive in errors.
    public init(bytes: [UInt8], file: String) throws(CheckpointError) {
        self.file = file
        self.bytes = bytes
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: file, problem: problem) }
        // End of central directory: 22 bytes plus a comment of up to 65535 bytes, searched from the end.
        let minimumEnd = 22
        guard bytes.count >= minimumEnd else { throw fail("too short to be a zip archive (\(bytes.count) bytes)") }
        var endOffset = -1
        var position = bytes.count - minimumEnd
        let lowest = max(0, bytes.count - minimumEnd - 65_535)
        while position >= lowest {
            if ZipArchive.u32(bytes, position) == 0x0605_4B50 { endOffset = position; break }
            position -= 1
        }
        guard endOffset >= 0 else { throw fail("no zip end-of-central-directory record (truncated or not a zip archive)") }
        let disk = Int(ZipArchive.u16(bytes, endOffset + 4)), directoryDisk = Int(ZipArchive.u16(bytes, endOffset + 6))
        var count = Int(ZipArchive.u16(bytes, endOffset + 10))
        var directorySize = Int(ZipArchive.u32(bytes, endOffset + 12))
        var directoryOffset = Int(ZipArchive.u32(bytes, endOffset + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a locator just before the end record points at the ZIP64 end record.
            let locator = endOffset - 20
            guard locator >= 0, ZipArchive.u32(bytes, locator) == 0x0706_4B50 else {
                throw fail("zip64 sizes without a zip64 end-of-central-directory locator")
            }
            let record64 = ZipArchive.u64(bytes, locator + 8)
            guard record64 >= 0, record64 <= bytes.count - 56, ZipArchive.u32(bytes, record64) == 0x0606_4B50 else {
                throw fail("zip64 end-of-central-directory record missing or out of bounds")
            }
            count = ZipArchive.u64(bytes, record64 + 32)
            directorySize = ZipArchive.u64(bytes, record64 + 40)
            directoryOffset = ZipArchive.u64(bytes, record64 + 48)
        } else if disk != 0 || directoryDisk != 0 {
            throw fail("multi-disk zip archives are not supported")
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset <= bytes.count,
              directorySize <= bytes.count - directoryOffset, count >= 0, count <= directorySize / 46 + 1 else {
            throw fail("zip central directory out of bounds (truncated archive?)")
        }
        var entries: [Entry] = []
        var at = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for index in 0..<count {
            guard at + 46 <= directoryEnd, ZipArchive.u32(bytes, at) == 0x0201_4B50 else {
                throw fail("zip central directory entry \(index) is damaged")
            }
            let flags = ZipArchive.u16(bytes, at + 8)
            let method = ZipArchive.u16(bytes, at + 10)
            let crc = ZipArchive.u32(bytes, at + 16)
            var compressed = Int(ZipArchive.u32(bytes, at + 20))
            var uncompressed = Int(ZipArchive.u32(bytes, at + 24))
            let nameLength = Int(ZipArchive.u16(bytes, at + 28))
            let extraLength = Int(ZipArchive.u16(bytes, at + 30))
            let commentLength = Int(ZipArchive.u16(bytes, at + 32))
            var localOffset = Int(ZipArchive.u32(bytes, at + 42))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw fail("zip central directory entry \(index) runs past the directory") }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            // ZIP64 extended information: the 0xFFFFFFFF fields, in order, as 8-byte values.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = ZipArchive.u16(bytes, extra), size = Int(ZipArchive.u16(bytes, extra + 2))
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF, field + 8 <= extraEnd { uncompressed = ZipArchive.u64(bytes, field); field += 8 }
                    if compressed == 0xFFFF_FFFF, field + 8 <= extraEnd { compressed = ZipArchive.u64(bytes, field); field += 8 }
                    if localOffset == 0xFFFF_FFFF, field + 8 <= extraEnd { localOffset = ZipArchive.u64(bytes, field) }
                }
                extra += 4 + size
            }
            if flags & 1 != 0 { throw fail("zip entry '\(name)' is encrypted") }
            // A ZIP64 value beyond Int.max reads as −1: no archive held in memory can be that large.
            guard compressed >= 0, uncompressed >= 0, localOffset >= 0 else {
                throw fail("zip entry '\(name)' records a size or offset beyond any archive (damaged ZIP64 field)")
            }
            entries.append(Entry(name: name, method: method, crc32: crc, compressedSize: compressed,
                                 uncompressedSize: uncompressed, localHeaderOffset: localOffset))
            at = next
        }
        self.entries = entries
    }

    /// The entry called `name`, if any.
    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The bytes of a stored entry, checked against its CRC-32. Compressed entries are refused.
    public func data(of entry: Entry) throws(CheckpointError) -> ArraySlice<UInt8> {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: file, problem: "zip entry '\(entry.name)': \(problem)") }
        guard entry.method == 0 else {
            let method = entry.method == 8 ? "deflate-compressed" : "compressed with method \(entry.method)"
            throw fail("\(method); only stored (uncompressed) entries are supported, as torch.save writes them (re-save the file with torch.save, or unzip and re-zip it with `zip -0`)")
        }
        let local = entry.localHeaderOffset
        guard local >= 0, local <= bytes.count - 30, ZipArchive.u32(bytes, local) == 0x0403_4B50 else {
            throw fail("local header missing or out of bounds (truncated archive?)")
        }
        let start = local + 30 + Int(ZipArchive.u16(bytes, local + 26)) + Int(ZipArchive.u16(bytes, local + 28))
        guard entry.compressedSize == entry.uncompressedSize, start <= bytes.count,
              entry.uncompressedSize <= bytes.count - start else {
            throw fail("data runs past the end of the archive (truncated?)")
        }
        let data = bytes[start..<(start + entry.uncompressedSize)]
        let crc = CRC32.checksum(data)
        guard crc == entry.crc32 else {
            throw fail("CRC-32 is \(hex(crc)) but the directory records \(hex(entry.crc32)) (the file is damaged)")
        }
        return data
    }

    private func hex(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - text.count) + text
    }

    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 {
        guard i >= 0, i + 2 <= b.count else { return 0 }
        return UInt16(b[i]) | UInt16(b[i + 1]) << 8
    }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        guard i >= 0, i + 4 <= b.count else { return 0 }
        return UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    /// An 8-byte little-endian value as Int (−1 when it does not fit, which every bounds check then refuses).
    static func u64(_ b: [UInt8], _ i: Int) -> Int {
        guard i >= 0, i + 8 <= b.count else { return -1 }
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(b[i + k]) << (8 * UInt64(k)) }
        return value > UInt64(Int.max) ? -1 : Int(value)
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the checksum zip records for each entry.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
