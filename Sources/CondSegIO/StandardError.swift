// StandardError.swift — writing diagnostics to standard error without ever trapping. Foundation's
// FileHandle.write(_:) ends the process with a fatal error when the write fails; with SIGPIPE ignored (the live
// pipeline ignores it, so that a closed preview socket or pipe is an error it can handle) a log line written to a
// closed stderr pipe (`condseg live … 2>&1 | head -1`) became an illegal-instruction crash. A lost diagnostic is not
// worth a crash, so these writes give up silently on any error.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `text` to standard error (file descriptor 2), retrying short writes and EINTR; any other error drops the
/// rest of the text. Never traps.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
        }
    }
}
