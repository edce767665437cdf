// VividVMTests.swift: runs scripts/vivid/run-vivid-tests.sh, which boots a QEMU VM with the kernel's vivid
// driver and runs `condseg capture` / `condseg live` against a real V4L2 device (two formats and sizes with
// a colour-bar content check, a DQBUF error-flagged buffer, a fatal EIO, unplug/replug, SIGTERM).
// It needs `apt-get install -y qemu-system-x86 busybox-static cpio kmod` (and python3 with numpy/opencv);
// without them the test fails and says so. When a release condseg with the `live` subcommand exists in the
// same build folder (`swift test -c release`, as CI runs), the VM uses it (the script copies its shared
// libraries); otherwise the script builds one (.build-vivid, minutes the first time). The VM part takes
// about 1.5 minutes.
import Foundation
import XCTest

final class VividVMTests: XCTestCase {
    func testCaptureAndFaultsAgainstVividInQEMU() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/vivid/run-vivid-tests.sh")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            return XCTFail("missing or not executable: \(script.path)")
        }
        let process = Process()
        process.executableURL = script
        var environment = ProcessInfo.processInfo.environment
        if environment["CONDSEG_BINARY"] == nil, let built = builtCondseg() { environment["CONDSEG_BINARY"] = built }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(text)
        switch process.terminationStatus {
        case 0:
            XCTAssertTrue(text.contains("vivid: all checks passed"), text)
        case 2:
            XCTFail("vivid VM tests could not run (see the setup message above; CI installs: apt-get install -y qemu-system-x86 busybox-static cpio kmod)")
        default:
            let failed = text.split(separator: "\n").filter { $0.hasPrefix("FAIL ") }.joined(separator: "\n")
            XCTFail("vivid VM checks failed (exit \(process.terminationStatus)):\n\(failed)")
        }
    }

    /// A release condseg built in this build folder, if it exists and has the live subcommand. Debug builds
    /// are not used: under software emulation they run too slowly for the VM's time budget.
    func builtCondseg() -> String? {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let buildRoot = folder.deletingLastPathComponent()
        let candidates = [folder.appendingPathComponent("condseg"), buildRoot.appendingPathComponent("release/condseg")]
            .map(\.path).filter { $0.contains("/release/") }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: path)
            probe.arguments = ["live", "--help"]
            probe.standardOutput = FileHandle.nullDevice
            probe.standardError = FileHandle.nullDevice
            guard (try? probe.run()) != nil else { continue }
            probe.waitUntilExit()
            if probe.terminationStatus == 0 { return path }
        }
        return nil
    }
}
