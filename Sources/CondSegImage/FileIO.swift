// FileIO: whole-file reads, reporting failures as ImageError with the path and the system's reason.
// (Writes go through CondSegIO's AtomicFile.)
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
}
