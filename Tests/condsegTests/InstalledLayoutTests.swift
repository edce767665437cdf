// InstalledLayoutTests.swift: the built condseg executable run as an installed program (scripts/install.sh's
// layout PREFIX/bin/condseg + PREFIX/share/condseg/): it finds the default model relative to its own location,
// also when started through a symlink and from another folder, `--model NAME` and `--calibration NAME` find
// bundled files where the default model is looked for (and say where they looked when not), and `--version` names
// the commit and the kernels this CPU selects (judged from /proc/cpuinfo and git, independently of the program).
// The full install (a static release build, `ldd` of the result, a segmentation from another folder) is run by
// scripts/fresh-machine-check.sh, which is too slow for the suite.
import CondSegTestSupport
import Foundation
import XCTest

final class InstalledLayoutTests: XCTestCase {
    static let modelName = "condseg-r18w64-kvasir.safetensors"


    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("condseg-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Runs `executable` in `folder` without CONDSEG_MODEL; returns the exit status, stdout and stderr.
    func run(_ executable: String, _ arguments: [String], in folder: URL,
             environment extra: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        environment["CONDSEG_MODEL"] = nil
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// PREFIX/bin/condseg (a copy of the built one) and, if `withModel`, PREFIX/share/condseg/<model>.
    func makePrefix(withModel: Bool) throws -> URL {
        let prefix = try temporaryFolder()
        let bin = prefix.appendingPathComponent("bin"), share = prefix.appendingPathComponent("share/condseg")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: share, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try condsegExecutable(), toPath: bin.appendingPathComponent("condseg").path)
        if withModel {
            try FileManager.default.createSymbolicLink(
                atPath: share.appendingPathComponent(Self.modelName).path,
                withDestinationPath: repositoryRoot.appendingPathComponent("models/\(Self.modelName)").path)
        }
        return prefix
    }

    func testInstalledBinaryFindsTheModelInShare() throws {
        let prefix = try makePrefix(withModel: true)
        let elsewhere = try temporaryFolder()
        let result = try run(prefix.appendingPathComponent("bin/condseg").path, ["inspect", "--json"], in: elsewhere)
        XCTAssertEqual(result.status, 0, result.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any], result.out)
        XCTAssertEqual(json["file"] as? String, prefix.appendingPathComponent("share/condseg/\(Self.modelName)").path)
        XCTAssertEqual(json["sha256"] as? String, "951bc8ffe45a26ad0cfdbcb4f7906dc1dcdc2ca81a73a117aec828547348a080")

        // Started through a symlink in a folder without share/: the real location counts.
        let links = try temporaryFolder()
        let link = links.appendingPathComponent("condseg").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: prefix.appendingPathComponent("bin/condseg").path)
        let viaLink = try run(link, ["inspect", "--json"], in: elsewhere)
        XCTAssertEqual(viaLink.status, 0, viaLink.err)
        let linkJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(viaLink.out.utf8)) as? [String: Any], viaLink.out)
        XCTAssertEqual(linkJSON["file"] as? String, prefix.appendingPathComponent("share/condseg/\(Self.modelName)").path)
    }

    func testMissingModelNamesWhereItLooked() throws {
        let prefix = try makePrefix(withModel: false)
        let elsewhere = try temporaryFolder()
        let result = try run(prefix.appendingPathComponent("bin/condseg").path, ["inspect"], in: elsewhere)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("no default model found"), result.err)
        XCTAssertTrue(result.err.contains(prefix.appendingPathComponent("share/condseg/\(Self.modelName)").path), result.err)
        XCTAssertTrue(result.err.contains(elsewhere.appendingPathComponent("models/\(Self.modelName)").path), result.err)
    }

    /// A tiny model (made with `condseg init`) at `path`, and a calibration table for it at `table` if given.
    func makeTinyModel(at path: String, table: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        let made = try run(try condsegExecutable(), ["init", "--encoder", "resnet18", "--width", "16", "--mid", "16",
                                                     "--size", "32", "--out", path], in: repositoryRoot)
        XCTAssertEqual(made.status, 0, made.err)
        guard let table else { return }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: table).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        let calibrated = try run(try condsegExecutable(), ["calibrate", "--model", path, "--data", "samples", "--count", "2",
                                                           "--method", "minmax", "--out", table], in: repositoryRoot)
        XCTAssertEqual(calibrated.status, 0, calibrated.err)
    }

    func testModelAndTableByNameFromModelsBesideTheBinary() throws {
        // A build folder: the binary with models/ and calibration/ beside it, run from an unrelated folder.
        let build = try temporaryFolder()
        let binary = build.appendingPathComponent("condseg").path
        try FileManager.default.copyItem(atPath: try condsegExecutable(), toPath: binary)
        let model = build.appendingPathComponent("models/edge32.safetensors").path
        let table = build.appendingPathComponent("calibration/edge32.table.txt").path
        try makeTinyModel(at: model, table: table)
        let elsewhere = try temporaryFolder()
        for name in ["edge32", "edge32.safetensors"] {
            let result = try run(binary, ["inspect", "--model", name, "--json"], in: elsewhere)
            XCTAssertEqual(result.status, 0, result.err)
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any], result.out)
            XCTAssertEqual(json["file"] as? String, model, name)
        }
        // $CONDSEG_MODEL takes a name too; a name found nowhere says where the value came from.
        let fromEnvironment = try run(binary, ["inspect", "--json"], in: elsewhere, environment: ["CONDSEG_MODEL": "edge32"])
        XCTAssertEqual(fromEnvironment.status, 0, fromEnvironment.err)
        let environmentJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fromEnvironment.out.utf8)) as? [String: Any])
        XCTAssertEqual(environmentJSON["file"] as? String, model)
        let unknown = try run(binary, ["inspect"], in: elsewhere, environment: ["CONDSEG_MODEL": "nosuch"])
        XCTAssertEqual(unknown.status, 4, unknown.err)
        XCTAssertTrue(unknown.err.contains("nosuch (from $CONDSEG_MODEL): no such file"), unknown.err)
        try FileManager.default.copyItem(atPath: repositoryRoot.appendingPathComponent("samples/images/cju0s690hkp960855tjuaqvv0.jpg").path,
                                         toPath: elsewhere.appendingPathComponent("frame.jpg").path)
        let segmented = try run(binary, ["segment", "--model", "edge32", "--calibration", "edge32", "--json", "--out", "out", "frame.jpg"],
                                in: elsewhere)
        XCTAssertEqual(segmented.status, 0, segmented.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(segmented.out.utf8)) as? [String: Any], segmented.out)
        XCTAssertEqual(json["model"] as? String, model)
        XCTAssertEqual(json["engine"] as? String, "int8-fast")

        // A name found nowhere: exit status 4, naming every place looked in.
        let missing = try run(binary, ["segment", "--model", "edge32", "--calibration", "edge99", "--out", "out2", "frame.jpg"], in: elsewhere)
        XCTAssertEqual(missing.status, 4, missing.err)
        XCTAssertTrue(missing.err.hasPrefix("error: edge99: no such file, and no bundled calibration table of that name (looked in "), missing.err)
        XCTAssertTrue(missing.err.contains(build.appendingPathComponent("calibration/edge99.table.txt").path), missing.err)
        XCTAssertTrue(missing.err.contains(elsewhere.appendingPathComponent("calibration/edge99.table.txt").path), missing.err)
        let noModel = try run(binary, ["inspect", "--model", "edge99"], in: elsewhere)
        XCTAssertEqual(noModel.status, 4, noModel.err)
        XCTAssertTrue(noModel.err.contains("no bundled model of that name"), noModel.err)
        XCTAssertTrue(noModel.err.contains(build.deletingLastPathComponent().appendingPathComponent("share/condseg/edge99.safetensors").path), noModel.err)
        XCTAssertTrue(noModel.err.contains(build.appendingPathComponent("models/edge99.safetensors").path), noModel.err)
        // A value with a / is a path, never a name.
        let path = try run(binary, ["inspect", "--model", "./edge32"], in: elsewhere)
        XCTAssertEqual(path.status, 4, path.err)
        XCTAssertFalse(path.err.contains("bundled"), path.err)
    }

    func testModelAndTableByNameFromAnInstalledShare() throws {
        let prefix = try makePrefix(withModel: false)
        let share = prefix.appendingPathComponent("share/condseg")
        try makeTinyModel(at: share.appendingPathComponent("edge32.safetensors").path,
                          table: share.appendingPathComponent("edge32.table.txt").path)
        let elsewhere = try temporaryFolder()
        let result = try run(prefix.appendingPathComponent("bin/condseg").path,
                             ["bench", "--model", "edge32", "--calibration", "edge32", "--iterations", "1", "--json"], in: elsewhere)
        XCTAssertEqual(result.status, 0, result.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any], result.out)
        XCTAssertEqual(json["engine"] as? String, "int8-fast")
        XCTAssertEqual(json["size"] as? Int, 32)
    }

    func testVersionNamesCommitAndKernels() throws {
        let result = try run(try condsegExecutable(), ["--version"], in: repositoryRoot)
        XCTAssertEqual(result.status, 0, result.err)
        let lines = result.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, result.out)
        guard lines.count == 4 else { return }
        XCTAssertTrue(lines[0].hasPrefix("condseg "), lines[0])

        // The commit: what git says HEAD is (this build was made from it), or "unknown" outside a checkout.
        if FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent(".git").path) {
            let git = try run("/usr/bin/env", ["git", "-C", repositoryRoot.path, "rev-parse", "HEAD"], in: repositoryRoot)
            XCTAssertEqual(git.status, 0, git.err)
            XCTAssertEqual(lines[1], "commit " + git.out.trimmingCharacters(in: .whitespacesAndNewlines),
                           "the executable was built from another commit than HEAD: rebuild before testing")
        } else {
            XCTAssertEqual(lines[1], "commit unknown")
        }

        // The kernels, from the CPU's flags as the kernel reports them.
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagLine = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") || $0.hasPrefix("Features") } ?? ""
        let flags = Set(flagLine.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        let int8: String, float: String
        #if arch(x86_64)
        let vnni = ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(flags.contains)
        int8 = vnni ? "avx512vnni" : flags.contains("avx2") ? "avx2" : "generic"
        float = flags.contains("avx2") && flags.contains("fma") ? "avx2" : "generic"
        #elseif arch(arm64)
        int8 = flags.contains("asimddp") ? "neondot" : "neon"
        float = "generic"
        #else
        int8 = "generic"
        float = "generic"
        #endif
        XCTAssertEqual(lines[2], "int8 kernels: \(int8)")
        XCTAssertTrue(lines[3].hasPrefix("float kernels: \(float) (sgemm: OpenBLAS "), lines[3])
    }
}
