// StandardOutput.swift — whether a command's result reached standard output. Every condseg command ignores
// SIGPIPE (so that a closed pipe cannot kill it half-way through writing its files), and Swift's `print` then drops
// text that cannot be written without a word: C stdio only remembers the failure. The command line asks here, once
// at the end, so that a result that was lost (a closed pipe, a full disk) is not reported as a success.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Flushes C stdio's standard output (where `print` writes) and returns nil when everything printed so far was
/// written, else the reason it was not (the system's words for the error when the flush itself failed, e.g.
/// "Broken pipe"; "a write failed" when an earlier write did). Never traps.
public func standardOutputFailure() -> String? {
    errno = 0
    let flushed = fflush(stdout)
    let code = errno
    if flushed == 0 && ferror(stdout) == 0 { return nil }
    if flushed != 0 && code != 0 { return String(cString: strerror(code)) }
    return "a write failed"
}
