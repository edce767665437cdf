// SystemdNotify.swift: the service manager's notification protocol for `condseg live` run as a systemd
// Type=notify service with a watchdog (scripts/install.sh installs such a unit; firmware-notes/service.md).
// Messages are "KEY=VALUE" lines sent as one datagram to the Unix socket named by $NOTIFY_SOCKET (a path, or
// "@name" for an abstract socket); without that variable nothing is sent. No libsystemd dependency.
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sends notifications to the service manager that started this process.
public final class SystemdNotifier {
    /// The socket address as given in $NOTIFY_SOCKET.
    public let socketName: String
    private var address = sockaddr_un()
    private let addressLength: socklen_t
    private let descriptor: Int32

    /// A notifier for $NOTIFY_SOCKET in `environment`; nil when it is unset, empty, too long or not a Unix socket
    /// address (then the process was not started as a notify service, and there is nothing to tell).
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let name = environment["NOTIFY_SOCKET"], name.hasPrefix("/") || name.hasPrefix("@") else { return nil }
        var bytes = Array(name.utf8)
        let abstract = bytes[0] == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // A path address counts its terminating zero; an abstract one is exactly its bytes.
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        socketName = name
    }

    deinit { close(descriptor) }

    /// Sends `message` (newline-separated KEY=VALUE assignments); returns false if the datagram was not sent.
    @discardableResult
    public func send(_ message: String) -> Bool {
        let bytes = Array(message.utf8)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength)
                }
            }
        }
        return sent == bytes.count
    }
}

/// A live sink that keeps a systemd watchdog fed while frames are being segmented: READY=1 with the first
/// segmented frame (so the unit becomes active once video really flows), WATCHDOG=1 at most every
/// `pingInterval` seconds while frames keep coming, a STATUS line when video is lost and when it is back,
/// STOPPING=1 at the end.
/// If capture or inference stalls, the pings stop and systemd restarts the service after WatchdogSec.
public final class SystemdWatchdogSink: LiveSink {
    let notifier: SystemdNotifier
    let pingInterval: Double
    private var ready = false
    private var videoIsLost = false
    private var lastPing: UInt64?

    /// `pingInterval`: the least time between two WATCHDOG=1 messages, in seconds.
    public init(notifier: SystemdNotifier, pingInterval: Double = 1) {
        self.notifier = notifier
        self.pingInterval = pingInterval
    }

    public func segmented(_ result: SegmentedResult) throws {
        let now = DispatchTime.now().uptimeNanoseconds
        if !ready {
            ready = true
            lastPing = now
            notifier.send("READY=1\nSTATUS=segmenting\nWATCHDOG=1")
            return
        }
        if videoIsLost {
            videoIsLost = false
            lastPing = now
            notifier.send("STATUS=segmenting\nWATCHDOG=1")
            return
        }
        if let lastPing, Double(now - lastPing) < pingInterval * 1e9 { return }
        lastPing = now
        notifier.send("WATCHDOG=1")
    }

    public func videoLost() {
        videoIsLost = true
        notifier.send("STATUS=no video (reopening the device)")
    }

    public func finish() throws {
        notifier.send("STOPPING=1")
    }
}
