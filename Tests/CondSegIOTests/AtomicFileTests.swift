// AtomicFileTests.swift — the one atomic writer: it replaces files whole, leaves nothing behind on failure and
// says in one line which folder is missing, which path is a folder or what the system refused.

import CondSegIO
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    func makeFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "condseg-io-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        return folder
    }

    func testWritesAndReplacesWholeFilesLeavingNoTemporaryFile() throws {
        let folder = try makeFolder()
        let path = folder + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data([1, 2, 3]))
        try AtomicFile.write("replaced", to: path)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("replaced".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["out.bin"])
    }

    func testMissingFolderIsNamed() throws {
        let folder = try makeFolder()
        let path = folder + "/missing/out.png"
        XCTAssertThrowsError(try AtomicFile.write([0], to: path)) { error in
            XCTAssertEqual(error as? OutputError, OutputError(path: path, problem: "folder \(folder)/missing does not exist"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/missing"))
    }

    func testFolderGivenWhereAFileIsExpected() throws {
        let folder = try makeFolder()
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: false)
        for path in [folder + "/sub", folder + "/sub/"] {
            XCTAssertThrowsError(try AtomicFile.write([0], to: path)) { error in
                XCTAssertEqual(ErrorReport.status(for: error), .output)
                XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
                XCTAssertTrue("\(error)".contains("folder"), "\(error)")
            }
        }
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/sub", isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    /// A pipe (like a device such as /dev/null) would be replaced by a regular file by the rename: refused, and it
    /// stays a pipe; so is a symbolic link to one, or to nothing.
    func testADestinationThatIsNotARegularFileIsRefusedAndKept() throws {
        let folder = try makeFolder()
        let fifo = folder + "/fifo", toFifo = folder + "/to-fifo", dangling = folder + "/dangling"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: toFifo, withDestinationPath: "fifo")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "nowhere/file")
        for path in [fifo, toFifo, dangling] {
            XCTAssertThrowsError(try AtomicFile.checkWritable(path), path)
            XCTAssertThrowsError(try AtomicFile.write([1, 2], to: path)) { error in
                XCTAssertEqual(ErrorReport.status(for: error), .output)
                XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
                XCTAssertTrue("\(error)".contains(path == dangling ? "symbolic link" : "not a regular file"), "\(error)")
            }
        }
        var status = stat()
        XCTAssertEqual(lstat(fifo, &status), 0)
        XCTAssertEqual(status.st_mode & S_IFMT, S_IFIFO, "still a pipe")
        for link in [toFifo, dangling] {
            XCTAssertEqual(lstat(link, &status), 0)
            XCTAssertEqual(status.st_mode & S_IFMT, S_IFLNK, "still a link")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), ["dangling", "fifo", "to-fifo"])
    }

    /// Through a symbolic link the file it points to is replaced (atomically, in its own folder); the link stays.
    func testASymbolicLinkIsWrittenThrough() throws {
        let folder = try makeFolder()
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: false)
        try AtomicFile.write("old", to: folder + "/real/target.txt")
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.txt", withDestinationPath: "real/target.txt")
        XCTAssertEqual(try AtomicFile.checkWritable(folder + "/link.txt"),
                       URL(fileURLWithPath: folder + "/real/target.txt").resolvingSymlinksInPath().path)
        try AtomicFile.write("new", to: folder + "/link.txt")
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/real/target.txt"), Data("new".utf8))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: folder + "/link.txt"), "real/target.txt")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), ["link.txt", "real"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/real"), ["target.txt"])
    }

    func testAFileUsedAsAFolder() throws {
        let folder = try makeFolder()
        try AtomicFile.write([7], to: folder + "/plain")
        XCTAssertThrowsError(try AtomicFile.write([0], to: folder + "/plain/out.png")) { error in
            XCTAssertEqual(error as? OutputError, OutputError(path: folder + "/plain/out.png", problem: "\(folder)/plain is not a folder"))
        }
        XCTAssertThrowsError(try AtomicFile.makeFolder(folder + "/plain")) { error in
            XCTAssertEqual(error as? OutputError, OutputError(path: folder + "/plain", problem: "exists and is not a folder"))
        }
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/plain"), Data([7]), "left as it was")
    }

    func testMakeFolderCreatesParents() throws {
        let folder = try makeFolder()
        try AtomicFile.makeFolder(folder + "/a/b/c/")
        try AtomicFile.write([1], to: folder + "/a/b/c/x")
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/a/b/c/x"), Data([1]))
    }

    func testFolderTheSystemRefuses() throws {
        // /proc takes no new files, not even for root.
        XCTAssertThrowsError(try AtomicFile.makeFolder("/proc/condseg-test-\(getpid())")) { error in
            XCTAssertEqual(ErrorReport.status(for: error), .output)
            XCTAssertTrue("\(error)".hasPrefix("/proc/condseg-test-\(getpid()): cannot create the folder ("), "\(error)")
        }
        XCTAssertThrowsError(try AtomicFile.write([0], to: "/proc/condseg-test.png")) { error in
            XCTAssertEqual(ErrorReport.status(for: error), .output)
            XCTAssertTrue("\(error)".hasPrefix("/proc/condseg-test.png: "), "\(error)")
        }
    }

    /// The two reasons the system can give for refusing a new file in /sys.
    static func sysRefusals(path: String) -> [OutputError?] {
        ["permission denied", "read-only file system"].map { OutputError(path: path, problem: "cannot write in /sys: \($0)") }
    }

    func testCheckWritableTriesTheFolderAndGivesTheSystemsReason() throws {
        // Root passes access(2) for /proc and /sys, yet neither takes a new file: the check must try one.
        XCTAssertThrowsError(try AtomicFile.checkWritable("/proc/t.txt")) { error in
            XCTAssertEqual(error as? OutputError,
                           OutputError(path: "/proc/t.txt", problem: "cannot write in /proc: the folder does not take new files"))
        }
        // /sys refuses with EACCES on a host and EROFS where it is mounted read-only (a chroot, a container).
        XCTAssertThrowsError(try AtomicFile.checkWritable("/sys/t.txt")) { error in
            XCTAssertTrue(Self.sysRefusals(path: "/sys/t.txt").contains(error as? OutputError), "\(error)")
        }
        let folder = try makeFolder()
        try AtomicFile.checkWritable(folder + "/fine.txt")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "the probe file is removed")
    }

    func testCheckFolderUsableCreatesNothing() throws {
        let folder = try makeFolder()
        try AtomicFile.checkFolderUsable(folder + "/new/deeper")
        try AtomicFile.checkFolderUsable(folder)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
        XCTAssertThrowsError(try AtomicFile.checkFolderUsable("/proc")) { error in
            XCTAssertEqual(error as? OutputError, OutputError(path: "/proc", problem: "cannot write in /proc: the folder does not take new files"))
        }
        XCTAssertThrowsError(try AtomicFile.checkFolderUsable("/sys/new/deeper")) { error in
            XCTAssertTrue(Self.sysRefusals(path: "/sys/new/deeper").contains(error as? OutputError), "\(error)")
        }
        try AtomicFile.write([7], to: folder + "/plain")
        XCTAssertThrowsError(try AtomicFile.checkFolderUsable(folder + "/plain/sub")) { error in
            XCTAssertEqual(ErrorReport.status(for: error), .output)
        }
    }

    func testMakeFolderReportsWhatItCreatedSoAnEmptyRunCanRemoveIt() throws {
        let folder = try makeFolder()
        XCTAssertEqual(try AtomicFile.makeFolder(folder + "/a/b/"), [folder + "/a", folder + "/a/b"])
        XCTAssertEqual(try AtomicFile.makeFolder(folder + "/a/b"), [])
        AtomicFile.removeEmptyFolders([folder + "/a", folder + "/a/b"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
        let created = try AtomicFile.makeFolder(folder + "/c/d")
        try AtomicFile.write([1], to: folder + "/c/d/x")
        AtomicFile.removeEmptyFolders(created)
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/c/d/x"), Data([1]), "a folder holding a file stays")
    }

    func testInputFileReadsOrSaysWhy() throws {
        let folder = try makeFolder()
        try AtomicFile.write("abc", to: folder + "/t.txt")
        XCTAssertEqual(try InputFile.read(folder + "/t.txt", what: "the table"), Array("abc".utf8))
        XCTAssertThrowsError(try InputFile.read(folder + "/none.txt", what: "the table")) { error in
            XCTAssertEqual("\(error)", "\(folder)/none.txt: cannot read the table (No such file or directory)")
            XCTAssertEqual(ErrorReport.status(for: error), .input)
        }
        XCTAssertThrowsError(try InputFile.read(folder, what: "the table")) { error in
            XCTAssertEqual("\(error)", "\(folder): cannot read the table: it is a folder")
        }
    }
}
