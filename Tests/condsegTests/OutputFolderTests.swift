// OutputFolderTests.swift — every command that writes files checks, before any work, that the folder of each
// output takes a new file (tried, since root passes the permission bits of /proc and /sys), names the true reason
// and exits 5; a --model that does not exist proves the check comes before the model is loaded.

import CondSegTestSupport
import Foundation
import XCTest

final class OutputFolderTests: XCTestCase {
    let table = "calibration/condseg-r18w64-kvasir.table.txt"
    let refused = "cannot write in /proc: the folder does not take new files"

    func testEveryCommandRefusesAnUnwritableOutputFolderBeforeLoadingTheModel() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        let missingModel = folder + "/no-such-model.safetensors"
        let runs: [(arguments: [String], line: String)] = [
            (["segment", "--model", missingModel, "--out", "/proc", folder + "/in.png"], "error: /proc: \(refused)"),
            (["segment", "--model", missingModel, "--out", "/proc/sub/out", folder + "/in.png"], "error: /proc/sub/out: \(refused)"),
            (["calibrate", "--model", missingModel, "--data", "samples", "--count", "1", "--out", "/proc/t.txt"],
             "error: /proc/t.txt: \(refused)"),
            (["quantize", "--model", missingModel, "--calibration", table, "--out", "/proc/q.safetensors"],
             "error: /proc/q.safetensors: \(refused)"),
            (["compare", "--model", missingModel, "--calibration", table, "--data", "samples", "--report", "/proc/report"],
             "error: /proc/report: \(refused)"),
            (["live", "--model", missingModel, "--source", "samples/images", "--no-pace", "--overlay-out", "/proc/o"],
             "error: /proc/o: \(refused)"),
            (["live", "--model", missingModel, "--source", "samples/images", "--no-pace", "--masks-out", "/proc/m"],
             "error: /proc/m: \(refused)"),
            (["train", "--data", "samples", "--out", "/proc/m.safetensors"], "error: /proc/m.safetensors: \(refused)"),
            (["init", "--out", "/proc/m.safetensors"], "error: /proc/m.safetensors: \(refused)"),
            (["import", missingModel, "--out", "/proc/m.safetensors"], "error: /proc/m.safetensors: \(refused)"),
            (["export", "--model", missingModel, "--onnx", "/proc/m.onnx"], "error: /proc/m.onnx: \(refused)"),
            (["capture", "--device", "/dev/video-condseg-test-missing", "--out", "/proc/frames"], "error: /proc/frames: \(refused)"),
        ]
        for run in runs {
            let result = try runCondseg(run.arguments)
            XCTAssertEqual(result.status, 5, "\(run.arguments): \(result.stderr)")
            // (calibrate --count 1 warns about the small count first; only the error lines are compared)
            XCTAssertEqual(result.errorLines.filter { !$0.hasPrefix("warning: ") }, [run.line], "\(run.arguments)")
            XCTAssertFalse(result.stderr.contains("Usage:"), result.stderr)
        }
        // /sys refuses with EACCES on a host and EROFS where it is mounted read-only (a chroot, a container).
        let sys = try runCondseg(["init", "--out", "/sys/m.safetensors"])
        XCTAssertEqual(sys.status, 5, sys.stderr)
        XCTAssertTrue(["permission denied", "read-only file system"]
                        .map { ["error: /sys/m.safetensors: cannot write in /sys: \($0)"] }.contains(sys.errorLines), sys.stderr)
    }

    func testEmptyDataAndOutputPathsAreUsageErrors() throws {
        // An unset shell variable (`--out "$DIR"`) gives an empty path, which would otherwise mean the current folder.
        let runs: [[String]] = [
            ["segment", "--out", "", "samples/images"],
            ["eval", "--data", ""],
            ["calibrate", "--data", "", "--out", "t.txt"],
            ["calibrate", "--data", "samples", "--out", ""],
            ["quantize", "--calibration", table, "--out", ""],
            ["compare", "--calibration", table, "--data", ""],
            ["compare", "--calibration", table, "--data", "samples", "--report", ""],
            ["train", "--data", ""],
            ["init", "--out", ""],
            ["live", "--source", "samples/images", "--masks-out", ""],
            ["live", "--source", "samples/images", "--overlay-out", ""],
        ]
        for arguments in runs {
            let result = try runCondseg(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("the path is empty: give a file or folder"), "\(arguments): \(result.stderr)")
        }
        let zero = try runCondseg(["live", "--device", "/dev/video0", "--capture-size", "0x0", "--fake-segmenter"])
        XCTAssertEqual(zero.status, 2, zero.stderr)
        XCTAssertTrue(zero.stderr.contains("--capture-size 0x0: width and height must be at least 1 pixel"), zero.stderr)
    }
}
