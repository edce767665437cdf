// AtomicFile.swift — the one way condseg writes a file: into a temporary file in the same folder, flushed, then
// renamed over the destination, so a reader (or a crash) never sees a half-written file and a failed write leaves
// the destination as it was. A symbolic link is written through (its target is replaced, the link stays); an
// existing destination that is not a regular file (a device such as /dev/null, a pipe, a socket) is refused, since
// the rename would replace it with a regular file. Failures are `OutputError`s naming the path and the reason in a
// few words.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Atomic whole-file writes and output-folder creation.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically (through a symbolic link: the file it points to is replaced). Throws
    /// `OutputError` when the folder is missing, not a folder or not writable, when `path` is a folder, a device,
    /// a pipe, a socket or a link to nothing, or when the disk refuses; `path` is then untouched and no temporary
    /// file is left behind.
    public static func write(_ bytes: [UInt8], to path: String) throws(OutputError) {
        let target = try checkWritable(path)
        let (folder, name) = split(target)
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
        if failure == 0 && rename(temporary, target) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw OutputError(path: path, problem: reason(failure, folder: folder))
        }
    }

    /// Writes `text` as UTF-8, atomically.
    public static func write(_ text: String, to path: String) throws(OutputError) {
        try write(Array(text.utf8), to: path)
    }

    /// Throws unless a file could be written at `path` now: `path` is new or a regular file (or a symbolic link to
    /// one), not a folder, device, pipe or socket, and the folder it is written in exists, is a folder and is
    /// writable. Returns the file a write replaces (`path`, or a link's target). Commands call this before long
    /// work so that a bad --out fails at once.
    @discardableResult
    public static func checkWritable(_ path: String) throws(OutputError) -> String {
        let (_, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw OutputError(path: path, problem: "names a folder; a file name is expected")
        }
        let target = try destination(path)
        try checkFolder(split(target).folder, for: path)
        return target
    }

    /// The file a write to `path` replaces: `path` itself when it is new or a regular file, the file a symbolic link
    /// points to (which must exist and be a regular file). Anything else is refused: the rename would put a
    /// regular file in the place of a device or pipe instead of writing to it.
    static func destination(_ path: String) throws(OutputError) -> String {
        var status = stat()
        guard lstat(path, &status) == 0 else { return path }
        var target = path
        if (status.st_mode & S_IFMT) == S_IFLNK {
            guard let resolved = realpath(path, nil) else {
                let text = String(cString: strerror(errno))
                throw OutputError(path: path, problem: "is a symbolic link that does not lead to a file (\(text.prefix(1).lowercased() + text.dropFirst()))")
            }
            target = String(cString: resolved)
            free(resolved)
            guard stat(target, &status) == 0 else {
                throw OutputError(path: path, problem: "is a symbolic link to \(target), which cannot be used")
            }
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return target
        case S_IFDIR: throw OutputError(path: path, problem: "is a folder; a file name is expected")
        default:
            throw OutputError(path: path, problem: "exists and is not a regular file (a device, pipe or socket); condseg writes whole files and would replace it, so give a file name")
        }
    }

    /// Creates `folder` and its missing parents (like `mkdir -p`) and returns the folders it created, outermost
    /// first (empty when `folder` already existed). Throws `OutputError` naming the folder when a part of it is a
    /// file, or the folder (or the parent it would be made in) does not take new files.
    @discardableResult
    public static func makeFolder(_ folder: String) throws(OutputError) -> [String] {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                throw OutputError(path: folder, problem: "exists and is not a folder")
            }
            if let problem = probeWrite(in: folder) { throw OutputError(path: folder, problem: problem) }
            return []
        }
        var created: [String] = []
        let trimmed = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        let (parent, _) = split(trimmed)
        if parent != trimmed {
            var parentStatus = stat()
            if stat(parent, &parentStatus) == 0 {
                guard (parentStatus.st_mode & S_IFMT) == S_IFDIR else {
                    throw OutputError(path: folder, problem: "cannot create the folder: \(parent) is not a folder")
                }
            } else {
                created = try makeFolder(parent)
            }
        }
        if mkdir(trimmed, 0o755) != 0 {
            if errno != EEXIST {
                let code = errno
                removeEmptyFolders(created)
                throw OutputError(path: folder, problem: "cannot create the folder (\(words(code)))")
            }
        } else {
            created.append(trimmed)
        }
        return created
    }

    /// Throws unless `folder` could be used as an output folder now, without creating anything: it exists, is a
    /// folder and takes new files, or it is missing and its nearest existing parent is a folder that takes new
    /// files. Commands call this before long work; the folder itself is made when the first file is written.
    public static func checkFolderUsable(_ folder: String) throws(OutputError) {
        var current = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        var status = stat()
        while stat(current, &status) != 0 {
            let code = errno
            guard code == ENOENT || code == ENOTDIR else {
                throw OutputError(path: folder, problem: "cannot use the folder (\(words(code)))")
            }
            let (parent, _) = split(current)
            if parent == current { throw OutputError(path: folder, problem: "cannot use the folder (no existing parent)") }
            current = parent
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError(path: folder, problem: current == folder ? "exists and is not a folder" : "cannot create the folder: \(current) is not a folder")
        }
        if let problem = probeWrite(in: current) { throw OutputError(path: folder, problem: problem) }
    }

    /// Removes the folders in `created` (as returned by `makeFolder`) that are empty, innermost first; used when a
    /// run fails before writing anything, so that it leaves no empty output folder behind.
    public static func removeEmptyFolders(_ created: [String]) {
        for folder in created.reversed() { rmdir(folder) }
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
        if let problem = probeWrite(in: folder) { throw OutputError(path: path, problem: problem) }
    }

    /// nil when a new file can be made in the existing folder `folder` now (tested by creating and removing an
    /// empty temporary file: permission bits do not tell for root, read-only mounts or /proc), else the reason,
    /// "cannot write in FOLDER: permission denied".
    static func probeWrite(in folder: String) -> String? {
        let probe = (folder == "/" ? "/" : folder + "/") + ".condseg-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 { return "cannot write in \(folder): \(words(errno))" }
        close(descriptor)
        unlink(probe)
        return nil
    }

    /// The system's reason for `code` in lower case ("permission denied", "read-only file system"); a folder
    /// that exists but refuses new files with ENOENT (such as /proc) "does not take new files".
    static func words(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "the folder does not take new files"
        case EACCES, EPERM: return "permission denied"
        case EROFS: return "read-only file system"
        default:
            let text = String(cString: strerror(code))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
    }

    /// Words for a failed create/write/rename.
    static func reason(_ code: Int32, folder: String) -> String {
        switch code {
        case ENOENT:
            var status = stat()
            if stat(folder, &status) == 0 { return "cannot write in \(folder): \(words(code))" }
            return "folder \(folder) does not exist"
        case ENOTDIR: return "\(folder) is not a folder"
        case EACCES, EPERM, EROFS: return "cannot write in \(folder): \(words(code))"
        case EISDIR: return "is a folder; a file name is expected"
        default: return "cannot write (\(words(code)))"
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
