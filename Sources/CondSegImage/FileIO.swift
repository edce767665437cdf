// FileIO: whole-file reads and atomic whole-file writes (temp file in the same folder, then rename),
// reporting failures as ImageError with the path and the system's reason.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum FileIO {
    /// The system's text for the current errno.
    static func reason() -> String { String(cString: strerror(errno)) }

    /// Reads the whole file at `path`.
    static func readAll(path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw ImageError(path: path, problem: "cannot open: \(reason())") }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) != 0 { throw ImageError(path: path, problem: "cannot stat: \(reason())") }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw ImageError(path: path, problem: "is a directory, not a file") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(status.st_size)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ImageError(path: path, problem: "read failed: \(reason())")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder is written,
    /// flushed and renamed over `path`; on any failure the temporary file is removed and `path` is untouched.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        if name.isEmpty { throw ImageError(path: path, problem: "not a file path") }
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw ImageError(path: path, problem: "cannot create temporary file in \(folder): \(reason())") }
        var written = 0
        var failure: String?
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let count = write(descriptor, raw.baseAddress! + written, raw.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = "write failed: \(reason())"
                    return
                }
                written += count
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = "fsync failed: \(reason())" }
        if close(descriptor) != 0 && failure == nil { failure = "close failed: \(reason())" }
        if failure == nil && rename(temporary, path) != 0 { failure = "cannot rename temporary file into place: \(reason())" }
        if let failure {
            unlink(temporary)
            throw ImageError(path: path, problem: failure)
        }
    }
}
