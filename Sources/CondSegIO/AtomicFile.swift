// AtomicFile.swift — the one way condseg writes a file: into a temporary file in the same folder, flushed, then
// renamed over the destination, so a reader (or a crash) never sees a half-written file and a failed write leaves
// the destination as it was. Failures are `OutputError`s naming the path and the reason in a few words.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Atomic whole-file writes and output-folder creation.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically. Throws `OutputError` when the folder is missing, not a folder or not
    /// writable, when `path` is a folder, or when the disk refuses; `path` is then untouched and no temporary
    /// file is left behind.
    public static func write(_ bytes: [UInt8], to path: String) throws(OutputError) {
        let (folder, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw OutputError(path: path, problem: "names a folder; a file name is expected")
        }
        try checkWritable(path)
        let temporary = (folder == "/" ? "/" : folder + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw OutputError(path: path, problem: reason(errno, folder: folder)) }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let count = systemWrite(descriptor, raw.baseAddress! + written, raw.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += count
            }
        }
        if failure == 0 && fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw OutputError(path: path, problem: reason(failure, folder: folder))
        }
    }

    /// Writes `text` as UTF-8, atomically.
    public static func write(_ text: String, to path: String) throws(OutputError) {
        try write(Array(text.utf8), to: path)
    }

    /// Throws unless a file could be written at `path` now: its folder exists, is a folder and is writable, and
    /// `path` itself is not a folder. Commands call this before long work so that a bad --out fails at once.
    public static func checkWritable(_ path: String) throws(OutputError) {
        let (folder, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw OutputError(path: path, problem: "names a folder; a file name is expected")
        }
        var status = stat()
        if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw OutputError(path: path, problem: "is a folder; a file name is expected")
        }
        try checkFolder(folder, for: path)
    }

    /// Creates `folder` and its missing parents (like `mkdir -p`). Throws `OutputError` naming the folder when a
    /// part of it is a file, or a parent is not writable.
    public static func makeFolder(_ folder: String) throws(OutputError) {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                throw OutputError(path: folder, problem: "exists and is not a folder")
            }
            guard access(folder, W_OK) == 0 else {
                throw OutputError(path: folder, problem: "folder is not writable (\(String(cString: strerror(errno))))")
            }
            return
        }
        let trimmed = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        let (parent, _) = split(trimmed)
        if parent != trimmed {
            var parentStatus = stat()
            if stat(parent, &parentStatus) == 0 {
                guard (parentStatus.st_mode & S_IFMT) == S_IFDIR else {
                    throw OutputError(path: folder, problem: "cannot create the folder: \(parent) is not a folder")
                }
            } else {
                try makeFolder(parent)
            }
        }
        if mkdir(trimmed, 0o755) != 0 && errno != EEXIST {
            throw OutputError(path: folder, problem: "cannot create the folder (\(String(cString: strerror(errno))))")
        }
    }

    // MARK: Internals

    /// (folder, file name) of `path`; the folder is "." for a bare name and "/" at the root.
    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = slash == path.startIndex ? "/" : String(path[..<slash])
        return (folder, String(path[path.index(after: slash)...]))
    }

    /// Throws unless `folder` exists, is a folder and can be written to.
    static func checkFolder(_ folder: String, for path: String) throws(OutputError) {
        var status = stat()
        guard stat(folder, &status) == 0 else {
            let code = errno
            if code == ENOENT { throw OutputError(path: path, problem: "folder \(folder) does not exist") }
            if code == ENOTDIR { throw OutputError(path: path, problem: "\(folder) is not a folder") }
            throw OutputError(path: path, problem: "cannot use folder \(folder) (\(String(cString: strerror(code))))")
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError(path: path, problem: "\(folder) is not a folder")
        }
        guard access(folder, W_OK) == 0 else {
            throw OutputError(path: path, problem: "folder \(folder) is not writable (\(String(cString: strerror(errno))))")
        }
    }

    /// Words for a failed create/write/rename.
    static func reason(_ code: Int32, folder: String) -> String {
        switch code {
        case ENOENT: return "folder \(folder) does not exist"
        case ENOTDIR: return "\(folder) is not a folder"
        case EACCES, EPERM: return "folder \(folder) is not writable (\(String(cString: strerror(code))))"
        case EISDIR: return "is a folder; a file name is expected"
        default: return "cannot write (\(String(cString: strerror(code))))"
        }
    }
}

/// The C library's read(2) (the name is taken by `InputFile.read`).
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// The C library's write(2) (the name is taken by `AtomicFile.write` inside the enum).
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// Whole-file reads with the system's reason on failure.
public enum InputFile {
    /// The bytes of the file at `path`. Throws `InputError` "PATH: cannot read WHAT (reason)" when it is missing,
    /// a folder or unreadable; `what` names the kind of file ("the calibration table").
    public static func read(_ path: String, what: String) throws(InputError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            throw InputError(path: path, problem: "cannot read \(what) (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw InputError(path: path, problem: "cannot read \(what): it is a folder")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InputError(path: path, problem: "cannot read \(what) (\(String(cString: strerror(errno))))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }
}
