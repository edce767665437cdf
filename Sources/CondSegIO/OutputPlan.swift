// OutputPlan.swift — the files a run will read and write, checked before any work starts: no output may replace
// an input or another output of the same run. Paths are compared as the files they resolve to (symbolic links,
// "..", "." and relative paths resolved; an existing file also by device and inode, which catches hard links).

import Foundation

/// The inputs and outputs of one run. Add every path, then call `check()`.
public struct OutputPlan: Sendable {
    /// A file the run reads, with words saying what it is ("the input image", "--model").
    struct Entry: Sendable {
        let path: String
        let role: String
        let key: String
        let inode: FileIdentity?
    }
    private var inputs: [Entry] = []
    private var outputs: [Entry] = []

    public init() {}

    /// A file the run reads; `role` says what it is, e.g. "input image" or "--model".
    public mutating func read(_ path: String, as role: String) {
        inputs.append(Entry(path: path, role: role, key: OutputPlan.resolved(path), inode: FileIdentity(path)))
    }

    /// A file the run writes; `role` says what it is, e.g. "mask of frame.jpg".
    public mutating func write(_ path: String, as role: String) {
        outputs.append(Entry(path: path, role: role, key: OutputPlan.resolved(path), inode: FileIdentity(path)))
    }

    /// One line per collision: an output that would replace an input, or two outputs with the same file.
    public var conflicts: [String] {
        var inputByKey: [String: Entry] = [:], inputByInode: [FileIdentity: Entry] = [:]
        for input in inputs {
            if inputByKey[input.key] == nil { inputByKey[input.key] = input }
            if let inode = input.inode, inputByInode[inode] == nil { inputByInode[inode] = input }
        }
        var outputByKey: [String: Entry] = [:], outputByInode: [FileIdentity: Entry] = [:]
        var lines: [String] = []
        for output in outputs {
            if let input = inputByKey[output.key] ?? output.inode.flatMap({ inputByInode[$0] }) {
                let other = input.path == output.path ? "" : " \(input.path)"
                lines.append("\(output.path): the \(output.role) would replace the \(input.role)\(other)")
            } else if let earlier = outputByKey[output.key] ?? output.inode.flatMap({ outputByInode[$0] }) {
                let other = earlier.path == output.path ? "" : " (\(earlier.path))"
                lines.append("\(output.path): written twice in this run, as the \(earlier.role)\(other) and as the \(output.role)")
            } else {
                outputByKey[output.key] = output
                if let inode = output.inode { outputByInode[inode] = output }
            }
        }
        return lines
    }

    /// Throws a `ProblemList` (exit status `output`) listing every collision, if any.
    public func check() throws {
        let lines = conflicts
        if !lines.isEmpty { throw ProblemList(.output, problems: lines) }
    }

    /// The absolute path `path` stands for: the longest existing leading part resolved by realpath (symbolic
    /// links followed), the rest appended with "." and ".." applied.
    public static func resolved(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var tail: [String] = []
        while true {
            let candidate = "/" + components.joined(separator: "/")
            if let real = realpath(candidate, nil) {
                var result = String(cString: real).split(separator: "/").map(String.init)
                free(real)
                for part in tail.reversed() {
                    switch part {
                    case ".": continue
                    case "..": if !result.isEmpty { result.removeLast() }
                    default: result.append(part)
                    }
                }
                return "/" + result.joined(separator: "/")
            }
            guard let last = components.popLast() else { return absolute }
            tail.append(last)
        }
    }
}

/// Device and inode of an existing file.
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(_ path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}
