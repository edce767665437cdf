// CommandRunner.swift — runs the built `condseg` binary (beside this test bundle) in a process and collects its
// exit status, stdout and stderr, so the tests check what a user or a script sees.

import CondSegImage
import CondSegTestSupport
import Foundation
import XCTest

/// What one run of `condseg` produced.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Non-empty stderr lines.
    var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
}

/// The `condseg` executable built with the tests, or $CONDSEG_TEST_BINARY (to run these tests against another
/// build, e.g. an older one to see which defects it has).
func condsegBinary() throws -> String { try condsegExecutable() }

/// Runs `condseg arguments` in `directory` (default: the repository root) with `environment` added.
func runCondseg(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try condsegBinary())
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory ?? repositoryRoot.path)
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "CONDSEG_MODEL")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Both pipes are drained at once so neither can fill up and stall the process.
    final class Collected: @unchecked Sendable { var data = Data() }
    let errData = Collected()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData.data = err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData.data, as: UTF8.self))
}

/// A fresh temporary folder removed after the test.
func temporaryFolder(_ test: XCTestCase) throws -> String {
    let folder = NSTemporaryDirectory() + "condseg-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
}

/// The first sample frame, as a small PNG written to `path` (a fast input for the model).
func writeSmallPNG(to path: String) throws {
    let image = try ImageCodec.decodeRGB(path: repositoryRoot.appendingPathComponent("samples/images/cju0s690hkp960855tjuaqvv0.jpg").path)
    try ImageCodec.writePNG(Resize.bilinear(image, width: 64, height: 48), to: path)
}

/// Asserts the stderr shape of the contract: every line "error: …" (or a "note: …"), no usage, no Foundation text.
func assertContractLines(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(result.errorLines.isEmpty, "no error line", file: file, line: line)
    for text in result.errorLines where !text.hasPrefix("note: ") && !text.hasPrefix("[condseg") {
        XCTAssertTrue(text.hasPrefix("error: "), "not an error line: \(text)", file: file, line: line)
    }
    XCTAssertFalse(result.stderr.contains("Usage:"), "usage printed: \(result.stderr)", file: file, line: line)
    XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain") || result.stderr.contains("Error Domain"), result.stderr, file: file, line: line)
    XCTAssertFalse(result.stderr.contains("Error:"), "capitalised prefix: \(result.stderr)", file: file, line: line)
}

/// File bytes, or nil when absent.
func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// Runs `condseg arguments` (in the repository root) with its stdout, its stderr or both connected to a pipe whose
/// reading end is already closed, as after `condseg … | head -1` once head has gone: every write there fails.
/// The status is the shell's: 128 + the signal's number when a signal ended the process (141 for SIGPIPE).
/// The other stream is collected as usual.
func runCondsegIntoClosedPipe(_ arguments: [String], closeStdout: Bool, closeStderr: Bool) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try condsegBinary())
    process.arguments = arguments
    process.currentDirectoryURL = repositoryRoot
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "CONDSEG_MODEL")
    process.environment = env
    let closed = Pipe()
    try closed.fileHandleForReading.close()
    let out = Pipe(), err = Pipe()
    process.standardOutput = closeStdout ? closed : out
    process.standardError = closeStderr ? closed : err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    try? closed.fileHandleForWriting.close()   // (Process may have closed the parent's copy already)
    final class Collected: @unchecked Sendable { var data = Data() }
    let errData = Collected(), outData = Collected()
    let group = DispatchGroup()
    if !closeStderr { DispatchQueue.global().async(group: group) { errData.data = err.fileHandleForReading.readDataToEndOfFile() } }
    if !closeStdout { DispatchQueue.global().async(group: group) { outData.data = out.fileHandleForReading.readDataToEndOfFile() } }
    group.wait()
    process.waitUntilExit()
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return CommandResult(status: status, stdout: String(decoding: outData.data, as: UTF8.self),
                         stderr: String(decoding: errData.data, as: UTF8.self))
}
