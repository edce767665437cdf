// InteropCommandTests.swift — `condseg import` and `condseg export` as a user runs them: a torch-saved checkpoint
// becomes a model `inspect` describes; a checkpoint whose pickle would run a command, or names a foreign global,
// is refused with the input-error status and the command never runs; the ONNX export writes a file.

import CondSegTestSupport
import Foundation
import XCTest

final class InteropCommandTests: XCTestCase {
    func testImportWritesAModelInspectDescribes() throws {
        let folder = try temporaryFolder(self)
        let out = folder + "/imported.safetensors"
        let checkpoint = try fixturePath("interop/condseg-r18w32-strided.pth")
        let result = try runCondseg(["import", checkpoint, "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("note: \(checkpoint): the state_dict is under the key 'state_dict'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("kept 99 BatchNorm num_batches_tracked counters"), result.stderr)
        XCTAssertTrue(result.stderr.contains("dropped 96 tensors of the auxiliary head"), result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("wrote \(out): "), result.stdout)
        let inspect = try runCondseg(["inspect", "--model", out])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("resnet18, width 32, mid 16, heads 4"), inspect.stdout)
        XCTAssertFalse(inspect.stderr.contains("no condseg.* metadata"), inspect.stderr)   // written as metadata
    }

    func testMaliciousCheckpointIsRefusedAndItsCommandNeverRuns() throws {
        let folder = try temporaryFolder(self)
        let checkpoint = try fixturePath("interop/malicious-reduce.pth")
        // The payload would run `touch condseg-payload-ran` in the current folder: run import there.
        let result = try runCondseg(["import", checkpoint, "--out", folder + "/m.safetensors"], in: folder)
        XCTAssertEqual(result.status, 4, result.stderr)
        assertContractLines(result)
        XCTAssertTrue(result.stderr.contains("error: \(checkpoint): "), result.stderr)
        XCTAssertTrue(result.stderr.contains("refused global posix.system"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/condseg-payload-ran"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/m.safetensors"))
    }

    func testForeignGlobalIsRefused() throws {
        let folder = try temporaryFolder(self)
        let checkpoint = try fixturePath("interop/foreign-global.pth")
        let result = try runCondseg(["import", checkpoint, "--out", folder + "/f.safetensors"], in: folder)
        XCTAssertEqual(result.status, 4, result.stderr)
        assertContractLines(result)
        XCTAssertTrue(result.stderr.contains("refused global argparse.Namespace"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/f.safetensors"))
    }

    func testImportOfAMissingFileAndOverTheInput() throws {
        let folder = try temporaryFolder(self)
        let missing = try runCondseg(["import", folder + "/absent.pth", "--out", folder + "/x.safetensors"])
        XCTAssertEqual(missing.status, 4, missing.stderr)
        XCTAssertEqual(missing.errorLines, ["error: \(folder)/absent.pth: no such file"])
        let checkpoint = try fixturePath("interop/condseg-r18w32-strided.pth")
        let same = try runCondseg(["import", checkpoint, "--out", checkpoint])
        XCTAssertEqual(same.status, 5, same.stderr)
    }

    func testImportNamesTheInputSizeLimit() throws {
        let folder = try temporaryFolder(self)
        let checkpoint = try fixturePath("interop/tiny-mixed.pth")
        let result = try runCondseg(["import", "--input-size", "4112", checkpoint, "--out", folder + "/x.safetensors"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("error: --input-size must be a multiple of 16 from 16 to 4096 (got 4112)"), result.stderr)
        XCTAssertFalse(result.stderr.contains(checkpoint), "the file is not blamed: \(result.stderr)")
    }

    func testImportOfAFileInNeitherFormatSaysSo() throws {
        let folder = try temporaryFolder(self)
        let png = folder + "/frame.png", text = folder + "/notes.txt"
        try writeSmallPNG(to: png)
        try "just some notes, long enough to look like something\n".write(toFile: text, atomically: true, encoding: .utf8)
        for path in [png, text] {
            let result = try runCondseg(["import", path, "--out", folder + "/x.safetensors"])
            XCTAssertEqual(result.status, 4, result.stderr)
            XCTAssertEqual(result.errorLines, ["error: \(path): not a PyTorch checkpoint (a torch.save zip archive) or a safetensors file"])
        }
    }

    func testExportWritesFloatAndQDQModels() throws {
        let folder = try temporaryFolder(self)
        let float = try runCondseg(["export", "--onnx", folder + "/f.onnx"])
        XCTAssertEqual(float.status, 0, float.stderr)
        XCTAssertTrue(float.stdout.contains("float32, opset 13"), float.stdout)
        let qdq = try runCondseg(["export", "--onnx", folder + "/q.onnx", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt"])
        XCTAssertEqual(qdq.status, 0, qdq.stderr)
        XCTAssertTrue(qdq.stdout.contains("QDQ int8"), qdq.stdout)
        // A table made for another model is refused before anything is written.
        let other = folder + "/other.safetensors"
        XCTAssertEqual(try runCondseg(["import", try fixturePath("interop/condseg-r18w32-strided.pth"), "--out", other]).status, 0)
        let wrong = try runCondseg(["export", "--model", other, "--onnx", folder + "/w.onnx", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt"])
        XCTAssertEqual(wrong.status, 4, wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/w.onnx"))
    }
}
