// CorpusReplayTests.swift — runs every committed fuzz seed (Fuzz/corpus/<target>/) and every input a fuzz
// campaign once crashed on (Fuzz/regressions/<target>/) through the same harness the libFuzzer targets use.
// Seeds named ok-* must be accepted and bad-* refused with an error that names the input; a crash fails the
// whole test run, which is the point. The bounded libFuzzer runs themselves are in scripts/fuzz.sh.

import CondSegFuzzHarness
import CondSegTestSupport
import Foundation
import XCTest

final class CorpusReplayTests: XCTestCase {
    /// The files of one folder under Fuzz/, sorted; empty when the folder does not exist.
    private func inputs(_ folder: String) -> [URL] {
        let url = repositoryRoot.appendingPathComponent("Fuzz/\(folder)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.map { url.appendingPathComponent($0) }
    }

    func testEverySeedMeetsItsExpectation() throws {
        for target in FuzzTarget.allCases {
            let seeds = inputs("corpus/\(target.rawValue)")
            // A complete model is megabytes (the ResNet encoder alone), too big for a seed: the model target's
            // accepted case is the tiny fixture model, in testTheModelTargetAcceptsAWholeModel.
            if target != .model {
                XCTAssertGreaterThanOrEqual(seeds.filter { $0.lastPathComponent.hasPrefix("ok-") }.count, 1,
                                            "\(target.rawValue): no accepted seed committed")
            }
            XCTAssertGreaterThanOrEqual(seeds.filter { $0.lastPathComponent.hasPrefix("bad-") }.count, 1,
                                        "\(target.rawValue): no refused seed committed")
            for seed in seeds {
                let outcome = FuzzHarness.run(target, bytes: [UInt8](try Data(contentsOf: seed)))
                let name = seed.lastPathComponent
                if name.hasPrefix("ok-") {
                    XCTAssertEqual(outcome, .accepted, "\(target.rawValue)/\(name)")
                } else if name.hasPrefix("bad-") {
                    guard case .rejected(let message) = outcome else {
                        XCTFail("\(target.rawValue)/\(name) was accepted"); continue
                    }
                    XCTAssertFalse(message.isEmpty, "\(target.rawValue)/\(name): empty error")
                }
            }
        }
    }

    func testTheModelTargetAcceptsAWholeModel() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixturePath("reference/tiny-weights.safetensors"))))
        XCTAssertEqual(FuzzHarness.run(.model, bytes: bytes), .accepted)
        XCTAssertEqual(FuzzHarness.run(.safetensors, bytes: bytes), .accepted)
        // The same file cut short is refused, not misread.
        guard case .rejected = FuzzHarness.run(.model, bytes: Array(bytes.prefix(bytes.count - 1))) else {
            return XCTFail("a truncated model was accepted")
        }
    }

    func testEveryRecordedCrashInputIsHandled() throws {
        for target in FuzzTarget.allCases {
            for input in inputs("regressions/\(target.rawValue)") {
                // Reaching the next line at all is the check: these inputs once trapped or read out of bounds.
                let outcome = FuzzHarness.run(target, bytes: [UInt8](try Data(contentsOf: input)))
                if case .rejected(let message) = outcome {
                    XCTAssertFalse(message.isEmpty, "\(target.rawValue)/\(input.lastPathComponent): empty error")
                }
            }
        }
    }

    func testEveryTargetHasAnExecutableAndASeedFolder() {
        for target in FuzzTarget.allCases {
            let entry = repositoryRoot.appendingPathComponent("Fuzz/Targets/\(target.rawValue)/Fuzz.swift").path
            XCTAssertTrue(FileManager.default.fileExists(atPath: entry), "no libFuzzer entry point for \(target.rawValue)")
        }
    }
}
