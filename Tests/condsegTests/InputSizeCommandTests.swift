// InputSizeCommandTests.swift — `--size N` on the commands that run a model (segment, eval, bench, calibrate,
// compare, live, inspect): the same usage error for a size off the network's stride on each, the output really
// computed at N×N, tables recording the size they were calibrated at and the warning when one runs at another, and
// live's `--size WxH` pointing at `--capture-size`. A tiny model made with `condseg init` keeps each run short.

import CondSegImage
import CondSegTestSupport
import Foundation
import XCTest

final class InputSizeCommandTests: XCTestCase {
    /// A fresh ResNet-18, W 16, M 16 model made for 64×64 in `folder` (a fraction of a second per image).
    func tinyModel(in folder: String, name: String = "tiny") throws -> String {
        let path = folder + "/\(name).safetensors"
        let made = try runCondseg(["init", "--encoder", "resnet18", "--width", "16", "--mid", "16", "--size", "64",
                                   "--out", path])
        XCTAssertEqual(made.status, 0, made.stderr)
        return path
    }

    func json(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                             result.stdout, file: file, line: line)
    }

    /// The smallest arguments each model-running command needs besides --size.
    func minimalArguments(folder: String, model: String,
                          table: String = "calibration/condseg-r18w64-kvasir.table.txt") -> [(String, [String])] {
        [("segment", ["--model", model, "--out", folder + "/out", "samples/images"]),
         ("eval", ["--model", model, "--data", "samples"]),
         ("bench", ["--model", model, "--iterations", "1"]),
         ("calibrate", ["--model", model, "--data", "samples", "--count", "2", "--out", folder + "/t.txt"]),
         ("compare", ["--model", model, "--calibration", table, "--data", "samples", "--count", "2", "--layer-images", "1"]),
         ("live", ["--model", model, "--source", "samples/images", "--no-pace", "--frames", "1"]),
         ("inspect", ["--model", model])]
    }

    func testEveryCommandRefusesASizeOffTheStrideTheSameWay() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let rule = "must be a positive multiple of 16 (the network's stride) and at most 4096"
        for (command, arguments) in minimalArguments(folder: folder, model: model) {
            for value in ["100", "0", "-32", "4112", "99999999999999999999", "-99999999999999999999"] {
                // As typed: `--size -32` must reach the rule, not ArgumentParser's "missing value".
                let result = try runCondseg([command] + arguments + ["--size", value])
                XCTAssertEqual(result.status, 2, "\(command) --size \(value): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("--size \(value) \(rule)"), "\(command) --size \(value): \(result.stderr)")
            }
            let word = try runCondseg([command] + arguments + ["--size", "big"])
            XCTAssertEqual(word.status, 2, "\(command): \(word.stderr)")
            XCTAssertTrue(word.stderr.contains("--size must be a whole number N (the model runs at N×N), not \"big\""), "\(command): \(word.stderr)")
            // Nothing was written by a refused run.
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out"), command)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/t.txt"), command)
        }
        // train and init keep their own --size (the size a model is made for) under the same rule.
        let initResult = try runCondseg(["init", "--size", "100", "--out", folder + "/x.safetensors"])
        XCTAssertEqual(initResult.status, 2, initResult.stderr)
        XCTAssertTrue(initResult.stderr.contains("--size 100 \(rule)"), initResult.stderr)
    }

    func testTrainAndInitNameTheSizeRuleForAnyBadValue() throws {
        let folder = try temporaryFolder(self)
        let rule = "must be a positive multiple of 16 (the network's stride) and at most 4096"
        let commands: [(String, [String])] = [
            ("init", ["init", "--out", folder + "/m.safetensors"]),
            ("train", ["train", "--data", "samples", "--epochs", "1", "--out", folder + "/m.safetensors"]),
        ]
        for (command, arguments) in commands {
            for value in ["100", "0", "-32"] {
                let result = try runCondseg(arguments + ["--size", value])
                XCTAssertEqual(result.status, 2, "\(command) --size \(value): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("error: --size \(value) \(rule)"), "\(command) --size \(value): \(result.stderr)")
            }
            let word = try runCondseg(arguments + ["--size", "abc"])
            XCTAssertEqual(word.status, 2, "\(command): \(word.stderr)")
            XCTAssertTrue(word.stderr.contains("error: --size must be a whole number N (the model is made for N×N), not \"abc\""), "\(command): \(word.stderr)")
            let pair = try runCondseg(arguments + ["--size", "64x64"])
            XCTAssertEqual(pair.status, 2, "\(command): \(pair.stderr)")
            XCTAssertTrue(pair.stderr.contains("error: --size takes one number N (the model is made for N×N), not \"64x64\"\n"), "\(command): \(pair.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/m.safetensors"), command)
            let help = try runCondseg([command, "--help"]).stdout
            XCTAssertTrue(help.contains("--size <N>"), help)
        }
    }

    func testEveryCommandAcceptsASizeOnTheStride() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let table = folder + "/tiny.table.txt"
        XCTAssertEqual(try runCondseg(["calibrate", "--model", model, "--data", "samples", "--count", "2", "--method", "minmax",
                                       "--out", table]).status, 0)
        for (command, arguments) in minimalArguments(folder: folder, model: model, table: table) {
            let result = try runCondseg([command] + arguments + ["--size", "32"])
            XCTAssertEqual(result.status, 0, "\(command): \(result.stderr)")
        }
    }

    func testSegmentComputesAtTheAskedSize() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        try writeSmallPNG(to: folder + "/frame.png")
        for (arguments, side) in [([String](), 64), (["--size", "48"], 48), (["--size", "96"], 96)] {
            let out = folder + "/out\(side)"
            let object = try json(try runCondseg(["segment", "--model", model, "--probabilities", "--json", "--out", out,
                                                  folder + "/frame.png"] + arguments))
            XCTAssertEqual(object["input_size"] as? Int, side)
            XCTAssertEqual(object["trained_input_size"] as? Int, 64)
            let probabilities = try NPY.read(path: out + "/frame.npy")
            XCTAssertEqual(probabilities.shape, [side, side])
            // The mask is still at the image's own size (64×48).
            let mask = try ImageCodec.decodeGray(path: out + "/frame.png")
            XCTAssertEqual([mask.width, mask.height], [64, 48])
        }
    }

    func testEvalBenchAndInspectReportTheRunSize() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let eval = try json(try runCondseg(["eval", "--model", model, "--data", "samples", "--size", "32", "--json"]))
        XCTAssertEqual(eval["input_size"] as? Int, 32)
        XCTAssertEqual(eval["trained_input_size"] as? Int, 64)
        XCTAssertEqual(eval["images"] as? Int, 6)

        let bench = try json(try runCondseg(["bench", "--model", model, "--size", "48", "--iterations", "1", "--json"]))
        XCTAssertEqual(bench["size"] as? Int, 48)
        XCTAssertEqual(bench["trained_input_size"] as? Int, 64)

        let own = try json(try runCondseg(["inspect", "--model", model, "--json"]))
        let run = try json(try runCondseg(["inspect", "--model", model, "--size", "128", "--json"]))
        XCTAssertEqual(own["trained_input_size"] as? Int, 64)
        XCTAssertEqual(own["input_size"] as? Int, 64)
        XCTAssertEqual(run["trained_input_size"] as? Int, 64)
        XCTAssertEqual(run["input_size"] as? Int, 128)
        // Every feature map has (128/64)² = 4× the pixels; only the 1×1 channel-attention vectors do not grow.
        let ratio = try XCTUnwrap(run["gmac_total"] as? Double) / XCTUnwrap(own["gmac_total"] as? Double)
        XCTAssertGreaterThan(ratio, 3.9)
        XCTAssertLessThanOrEqual(ratio, 4.0)
        let text = try runCondseg(["inspect", "--model", model, "--size", "128"])
        XCTAssertTrue(text.stdout.contains("input size:     trained for 64×64, run at 128×128 (--size)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("MACs at 128×128"), text.stdout)
    }

    func testTablesRecordTheirSizeAndWarnWhenRunAtAnother() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let table = folder + "/t32.table.txt"
        let calibrated = try runCondseg(["calibrate", "--model", model, "--data", "samples", "--count", "2", "--size", "32",
                                         "--method", "minmax", "--out", table])
        XCTAssertEqual(calibrated.status, 0, calibrated.stderr)
        let text = try String(contentsOfFile: table, encoding: .utf8)
        XCTAssertTrue(text.split(separator: "\n").contains("# input_size: 32"), text)

        // At the calibrated size: no warning. At the model's own 64: one warning line, and the run still succeeds.
        let same = try runCondseg(["segment", "--model", model, "--calibration", table, "--size", "32", "--out", folder + "/a", "samples/images"])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertFalse(same.stderr.contains("warning"), same.stderr)
        let other = try runCondseg(["segment", "--model", model, "--calibration", table, "--out", folder + "/b", "samples/images"])
        XCTAssertEqual(other.status, 0, other.stderr)
        let warnings = other.errorLines.filter { $0.hasPrefix("warning: ") }
        XCTAssertEqual(warnings, ["warning: \(table): calibrated at 32×32 but running at 64×64: its activation ranges may not fit (calibrate at this size with condseg calibrate --size 64)"], other.stderr)

        // compare states both sizes in text and JSON, and in its HTML report.
        let compared = try json(try runCondseg(["compare", "--model", model, "--calibration", table, "--data", "samples", "--count", "2",
                                                "--layer-images", "0", "--size", "48", "--json", "--report", folder + "/report"]))
        XCTAssertEqual(compared["input_size"] as? Int, 48)
        XCTAssertEqual(compared["calibrated_input_size"] as? Int, 32)
        XCTAssertEqual(compared["trained_input_size"] as? Int, 64)
        let html = try String(contentsOfFile: folder + "/report/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("input size: 48×48 (the table was calibrated at 32×32"), html)
        let compareText = try runCondseg(["compare", "--model", model, "--calibration", table, "--data", "samples", "--count", "1",
                                          "--layer-images", "0", "--size", "32"])
        XCTAssertEqual(compareText.status, 0, compareText.stderr)
        XCTAssertTrue(compareText.stdout.contains("input size: 32×32\n"), compareText.stdout)
        XCTAssertFalse(compareText.stderr.contains("warning"), compareText.stderr)
    }

    func testTheShippedTableWithoutASizeLineMeansTheModelsSize() throws {
        let table = "calibration/condseg-r18w64-kvasir.table.txt"
        XCTAssertFalse(try String(contentsOfFile: repositoryRoot.path + "/" + table, encoding: .utf8).contains("input_size"))
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/frame.png")
        let native = try runCondseg(["segment", "--calibration", table, "--out", folder + "/a", folder + "/frame.png"])
        XCTAssertEqual(native.status, 0, native.stderr)
        XCTAssertFalse(native.stderr.contains("warning"), native.stderr)
        let smaller = try runCondseg(["segment", "--calibration", table, "--size", "64", "--out", folder + "/b", folder + "/frame.png"])
        XCTAssertEqual(smaller.status, 0, smaller.stderr)
        XCTAssertTrue(smaller.stderr.contains("warning: \(table): calibrated at 256×256 but running at 64×64"), smaller.stderr)
    }

    func testAQuantizedFileRunsAtItsTablesSize() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let table = folder + "/t32.table.txt", quantized = folder + "/q.safetensors"
        XCTAssertEqual(try runCondseg(["calibrate", "--model", model, "--data", "samples", "--count", "2", "--size", "32",
                                       "--method", "minmax", "--out", table]).status, 0)
        let made = try runCondseg(["quantize", "--model", model, "--calibration", table, "--out", quantized])
        XCTAssertEqual(made.status, 0, made.stderr)
        let inspected = try json(try runCondseg(["inspect", "--model", quantized, "--json"]))
        XCTAssertEqual(inspected["trained_input_size"] as? Int, 64)
        XCTAssertEqual(inspected["calibrated_input_size"] as? Int, 32)
        XCTAssertEqual(inspected["input_size"] as? Int, 32)
        try writeSmallPNG(to: folder + "/frame.png")
        let run = try runCondseg(["segment", "--model", quantized, "--probabilities", "--out", folder + "/a", folder + "/frame.png"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stderr.contains("warning"), run.stderr)
        XCTAssertEqual(try NPY.read(path: folder + "/a/frame.npy").shape, [32, 32])
        let other = try runCondseg(["segment", "--model", quantized, "--size", "64", "--probabilities", "--out", folder + "/b", folder + "/frame.png"])
        XCTAssertEqual(other.status, 0, other.stderr)
        // Only the quantized file at hand: the advice is its own size or quantizing again, not calibrating the file.
        XCTAssertTrue(other.errorLines.contains("warning: \(quantized) (embedded calibration): calibrated at 32×32 but running at 64×64: its activation ranges may not fit; run this file at its own size (without --size, or --size 32), or quantize the float model again from a table calibrated at 64 (condseg calibrate --size 64, then condseg quantize)"), other.stderr)
        XCTAssertEqual(try NPY.read(path: folder + "/b/frame.npy").shape, [64, 64])
    }

    func testLiveSizeIsTheModelsAndCaptureSizeIsTheCameras() throws {
        let folder = try temporaryFolder(self)
        let model = try tinyModel(in: folder)
        let run = try runCondseg(["live", "--model", model, "--size", "32", "--source", "samples/images", "--no-pace",
                                  "--frames", "1", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("input 32x32"), run.stderr)

        let old = try runCondseg(["live", "--device", "/dev/video0", "--size", "640x480", "--fake-segmenter"])
        XCTAssertEqual(old.status, 2, old.stderr)
        XCTAssertTrue(old.stderr.contains("--size takes one number N (the model runs at N×N), not \"640x480\"; the size of captured video is --capture-size WxH"), old.stderr)

        let replay = try runCondseg(["live", "--source", "samples/images", "--capture-size", "640x480", "--fake-segmenter"])
        XCTAssertEqual(replay.status, 2, replay.stderr)
        XCTAssertTrue(replay.stderr.contains("--format/--capture-size apply to --device only"), replay.stderr)
        let badCapture = try runCondseg(["live", "--device", "/dev/video0", "--capture-size", "640", "--fake-segmenter"])
        XCTAssertEqual(badCapture.status, 2, badCapture.stderr)
        XCTAssertTrue(badCapture.stderr.contains("--capture-size must look like 1280x720 (two whole numbers, no sign), not \"640\""), badCapture.stderr)

        let help = try runCondseg(["live", "--help"]).stdout
        XCTAssertTrue(help.contains("--capture-size <WxH>"), help)
        XCTAssertTrue(help.contains("--size <N>"), help)
    }
}
