// PreviewServer.swift: a browser preview of a live run for headless boxes: a small HTTP/1.1 server on POSIX
// sockets serving a page with the overlaid stream (MJPEG, multipart/x-mixed-replace), /snapshot.jpg, /stats
// (JSON) and /health. It sits beside the pipeline and never slows it: the output thread only swaps in the newest
// frame (latest wins); a separate thread encodes JPEG while viewers watch; every client has its own thread that
// sends the newest encoded frame and skips the ones it was too slow for; a client whose socket stays full for
// `sendTimeoutSeconds` is dropped, never buffered. Written on plain sockets rather than swift-nio/hummingbird:
// five fixed GET routes need no event loop, and a dependency tree of that size would add build time and
// surface to a medical runtime for nothing it uses.
import CondSegIO
import CondSegImage
import Foundation
import Glibc

/// The preview cannot serve on its address (in use, not local, not an address): an output that cannot be written.
public struct PreviewServerError: Error, CustomStringConvertible, StatusError {
    public let address: String
    public let problem: String
    public var description: String { "\(address): \(problem)" }
    public var exitStatus: ExitStatus { .output }
}

/// What the preview shows: the newest display frame and JPEG, counters, and the health state.
final class PreviewHub: @unchecked Sendable {
    let condition = NSCondition()
    var image: (pixels: Image8, sequence: UInt64)?
    var jpeg: (bytes: [UInt8], sequence: UInt64)?
    var lastDisplayNanos: UInt64 = 0
    var lastMaskNanos: UInt64 = 0
    var videoLost = true
    var viewers = 0
    var closed = false
}

/// A preview server; add `sink` to the live run's sinks, then `start()`.
public final class PreviewServer: @unchecked Sendable {
    /// How the server answers.
    public struct Settings: Sendable {
        /// Address to listen on (IPv4 dotted quad); loopback unless told otherwise.
        public var address = "127.0.0.1"
        /// Port; 0 picks a free one (see `port` after `start()`).
        public var port = 8080
        /// /health is 503 when no display frame came for this long, or no mask for `maskTimeoutSeconds`.
        public var videoTimeoutSeconds = 2.0
        public var maskTimeoutSeconds = 10.0
        /// A client whose socket takes no data for this long is dropped.
        public var sendTimeoutSeconds = 2.0
        /// Kernel send buffer per client, bytes: small, so that a stalled client is noticed within a frame or two.
        public var sendBufferBytes = 256 * 1024
        /// Connections served at once; more are answered 503 and closed.
        public var maximumClients = 16
        /// JPEG quality of the stream and snapshots.
        public var jpegQuality = 80
        public init() {}
    }

    public let settings: Settings
    /// The run's statistics as a JSON object (called for /stats).
    private let statistics: @Sendable () -> [String: Any]
    let hub = PreviewHub()
    private var listener: Int32 = -1
    /// Guards `listener` between the accept thread (which closes it) and `stop()` from any thread.
    private let listenerLock = NSLock()
    private let stopFlag = StopFlag()
    private let counters = Locked((clients: 0, dropped: 0, framesSent: 0, encoded: 0))
    private var threads: [Thread] = []
    /// The port actually bound.
    public private(set) var port = 0

    /// - Parameter statistics: the figures served by /stats (the live run's statistics, kernels, hashes).
    public init(settings: Settings = Settings(), statistics: @escaping @Sendable () -> [String: Any]) {
        self.settings = settings
        self.statistics = statistics
    }

    /// The sink that feeds the preview (display frames only; it never blocks).
    public lazy var sink: LiveSink = PreviewSink(hub: hub)

    /// Clients dropped because they did not take data in time; clients served so far; MJPEG parts sent; frames encoded.
    public var droppedClients: Int { counters.read().dropped }
    public var servedClients: Int { counters.read().clients }
    public var streamedFrames: Int { counters.read().framesSent }
    public var encodedFrames: Int { counters.read().encoded }

    /// Binds and starts listening; throws `PreviewServerError` naming the address when it cannot.
    public func start() throws {
        let where_ = "http://\(settings.address):\(settings.port)"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PreviewServerError(address: where_, problem: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(settings.port).bigEndian)
        guard inet_pton(AF_INET, settings.address, &address.sin_addr) == 1 else {
            close(fd)
            throw PreviewServerError(address: where_, problem: "not an IPv4 address: \(settings.address)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw PreviewServerError(address: where_, problem: "cannot listen: \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        let acceptThread = Thread { [self] in acceptLoop() }
        acceptThread.name = "condseg-http"
        let encoderThread = Thread { [self] in encodeLoop() }
        encoderThread.name = "condseg-http-jpeg"
        threads = [acceptThread, encoderThread]
        acceptThread.start()
        encoderThread.start()
    }

    /// Stops accepting, wakes every client thread (they close their sockets) and closes the listener.
    public func stop() {
        stopFlag.set()
        hub.condition.lock()
        hub.closed = true
        hub.condition.broadcast()
        hub.condition.unlock()
        listenerLock.lock()
        if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)) }
        listenerLock.unlock()
    }

    deinit {
        stop()
        listenerLock.lock()
        if listener >= 0 { close(listener) }
        listenerLock.unlock()
    }

    // MARK: threads

    private func acceptLoop() {
        while !stopFlag.isSet {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 200)
            if ready <= 0 { continue }
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: Int(settings.sendTimeoutSeconds),
                                  tv_usec: Int((settings.sendTimeoutSeconds - settings.sendTimeoutSeconds.rounded(.down)) * 1e6))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = Int32(settings.sendBufferBytes)
            setsockopt(client, SOL_SOCKET, SO_SNDBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
            var noSignal: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noSignal, socklen_t(MemoryLayout<Int32>.size))
            let admitted = counters.mutate { state -> Bool in
                guard state.clients < settings.maximumClients else { return false }
                state.clients += 1
                return true
            }
            guard admitted else {
                _ = sendAll(client, Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                close(client)
                continue
            }
            let thread = Thread { [self] in
                serve(client)
                close(client)
                counters.mutate { $0.clients -= 1 }
            }
            thread.name = "condseg-http-client"
            thread.start()
        }
        listenerLock.lock()
        close(listener)
        listener = -1
        listenerLock.unlock()
    }

    /// Encodes the newest frame whenever there is a viewer and it is newer than the last JPEG.
    private func encodeLoop() {
        var lastEncoded: UInt64?
        while true {
            hub.condition.lock()
            while !hub.closed && (hub.viewers == 0 || hub.image == nil || hub.image!.sequence == lastEncoded) {
                hub.condition.wait()
            }
            if hub.closed { hub.condition.unlock(); return }
            let (image, sequence) = hub.image!
            hub.condition.unlock()
            lastEncoded = sequence
            guard let bytes = try? ImageCodec.encodeJPEG(image, quality: settings.jpegQuality) else { continue }
            counters.mutate { $0.encoded += 1 }
            hub.condition.lock()
            hub.jpeg = (bytes, sequence)
            hub.condition.broadcast()
            hub.condition.unlock()
        }
    }

    /// Reads one request and answers it.
    private func serve(_ client: Int32) {
        guard let request = readRequest(client) else { return }
        let parts = request.split(separator: " ")
        guard parts.count >= 2 else { respond(client, status: "400 Bad Request", type: "text/plain", body: Array("bad request\n".utf8)); return }
        let method = String(parts[0]), target = String(parts[1]).split(separator: "?").first.map(String.init) ?? "/"
        guard method == "GET" || method == "HEAD" else {
            respond(client, status: "405 Method Not Allowed", type: "text/plain", body: Array("only GET and HEAD\n".utf8))
            return
        }
        let head = method == "HEAD"
        switch target {
        case "/", "/index.html":
            respond(client, status: "200 OK", type: "text/html; charset=utf-8", body: Array(PreviewServer.page.utf8), head: head)
        case "/stream.mjpg":
            if head { respond(client, status: "200 OK", type: "multipart/x-mixed-replace; boundary=condsegframe", body: [], head: true) }
            else { stream(client) }
        case "/snapshot.jpg":
            if let jpeg = snapshot() {
                respond(client, status: "200 OK", type: "image/jpeg", body: jpeg, head: head)
            } else {
                respond(client, status: "503 Service Unavailable", type: "text/plain", body: Array("no video\n".utf8), head: head)
            }
        case "/stats":
            var object = statistics()
            object["preview"] = ["clients": servedClients, "dropped_clients": droppedClients,
                                 "streamed_frames": streamedFrames, "encoded_frames": encodedFrames]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            respond(client, status: "200 OK", type: "application/json", body: [UInt8](data) + [10], head: head)
        case "/health":
            let (healthy, reason) = health()
            respond(client, status: healthy ? "200 OK" : "503 Service Unavailable", type: "text/plain",
                    body: Array((reason + "\n").utf8), head: head)
        default:
            respond(client, status: "404 Not Found", type: "text/plain", body: Array("not found\n".utf8), head: head)
        }
    }

    /// 200 while display frames and masks keep coming; otherwise 503 with the reason.
    func health() -> (Bool, String) {
        let now = monotonicNanos()
        hub.condition.lock(); defer { hub.condition.unlock() }
        if hub.videoLost || hub.lastDisplayNanos == 0 { return (false, "no video") }
        if Double(now - hub.lastDisplayNanos) / 1e9 > settings.videoTimeoutSeconds { return (false, "no video") }
        if hub.lastMaskNanos == 0 || Double(now - hub.lastMaskNanos) / 1e9 > settings.maskTimeoutSeconds { return (false, "no masks") }
        return (true, "ok")
    }

    /// The newest frame as JPEG (encoded here if the encoder has not caught up), or nil without video.
    private func snapshot() -> [UInt8]? {
        hub.condition.lock()
        let lost = hub.videoLost
        let image = hub.image, jpeg = hub.jpeg
        hub.condition.unlock()
        guard !lost, let image else { return nil }
        if let jpeg, jpeg.sequence == image.sequence { return jpeg.bytes }
        return try? ImageCodec.encodeJPEG(image.pixels, quality: settings.jpegQuality)
    }

    /// Sends the newest JPEG each time there is a newer one, until the client goes, is too slow, or the server stops.
    private func stream(_ client: Int32) {
        let header = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=condsegframe\r\n"
            + "Cache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n"
        guard sendAll(client, Array(header.utf8)) else { return }
        hub.condition.lock()
        hub.viewers += 1
        hub.condition.broadcast()
        hub.condition.unlock()
        defer {
            hub.condition.lock()
            hub.viewers -= 1
            hub.condition.unlock()
        }
        var lastSent: UInt64?
        while true {
            hub.condition.lock()
            while !hub.closed && (hub.jpeg == nil || hub.jpeg!.sequence == lastSent) {
                _ = hub.condition.wait(until: Date(timeIntervalSinceNow: 1))
                if peerClosed(client) { hub.condition.unlock(); return }
            }
            if hub.closed { hub.condition.unlock(); return }
            let (bytes, sequence) = hub.jpeg!
            hub.condition.unlock()
            lastSent = sequence
            let part = "--condsegframe\r\nContent-Type: image/jpeg\r\nContent-Length: \(bytes.count)\r\n\r\n"
            guard sendAll(client, Array(part.utf8)), sendAll(client, bytes), sendAll(client, Array("\r\n".utf8)) else {
                if errno == EAGAIN || errno == EWOULDBLOCK { counters.mutate { $0.dropped += 1 } }
                return
            }
            counters.mutate { $0.framesSent += 1 }
        }
    }

    /// True when the peer has closed its end (readable with no data).
    private func peerClosed(_ client: Int32) -> Bool {
        var poller = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return false }
        if poller.revents & Int16(POLLHUP | POLLERR) != 0 { return true }
        var byte: UInt8 = 0
        return recv(client, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// Reads the request head (up to 8 KiB) and returns its first line, or nil.
    private func readRequest(_ client: Int32) -> String? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        while data.count < 8192 {
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            data += chunk[0..<count]
            if let end = data.firstRange(of: [13, 10, 13, 10]) ?? data.firstRange(of: [10, 10]) {
                let text = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                return text.split(whereSeparator: \.isNewline).first.map { String($0).trimmingCharacters(in: .whitespaces) }
            }
        }
        return nil
    }

    private func respond(_ client: Int32, status: String, type: String, body: [UInt8], head: Bool = false) {
        let header = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\n"
            + "Cache-Control: no-cache, no-store\r\nConnection: close\r\n\r\n"
        if sendAll(client, Array(header.utf8)), !head { _ = sendAll(client, body) }
    }

    /// Sends everything, or fails (the send timeout ends a blocked write with EAGAIN).
    private func sendAll(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    static let page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>condseg live</title>
        <style>
        body { margin: 0; background: #111; color: #ddd; font: 14px sans-serif; }
        header { padding: 6px 10px; display: flex; gap: 16px; align-items: baseline; }
        #health { font-weight: bold; }
        img { display: block; max-width: 100vw; max-height: calc(100vh - 34px); margin: 0 auto; background: #000; }
        </style></head>
        <body>
        <header><span>condseg live</span><span id="health">…</span><span id="figures"></span></header>
        <img id="stream" src="stream.mjpg" alt="overlaid live video">
        <script>
        async function refresh() {
          try {
            const health = await fetch("health", {cache: "no-store"});
            const status = document.getElementById("health");
            status.textContent = health.ok ? "masks flowing" : (await health.text()).trim();
            status.style.color = health.ok ? "#6c6" : "#e66";
            const s = await (await fetch("stats", {cache: "no-store"})).json();
            const median = s.latency_ms && s.latency_ms.median !== null ? s.latency_ms.median.toFixed(0) + " ms" : "n/a";
            document.getElementById("figures").textContent =
              `${s.segmented_per_s.toFixed(2)} masks/s · latency ${median} · moved ${s.motion_compensated} hidden ${s.motion_hidden}`;
          } catch (e) {}
        }
        refresh(); setInterval(refresh, 1000);
        </script>
        </body></html>
        """
}

/// The sink half of the preview: keeps the newest display frame and notes masks and video loss.
final class PreviewSink: LiveSink {
    let hub: PreviewHub
    init(hub: PreviewHub) { self.hub = hub }
    var wantsDisplayFrames: Bool { true }
    var wantsSegmentedFrames: Bool { false }

    func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {
        hub.condition.lock()
        hub.image = (image, sequence)
        hub.lastDisplayNanos = monotonicNanos()
        hub.videoLost = false
        hub.condition.broadcast()
        hub.condition.unlock()
    }

    func maskProduced(sequence: UInt64) {
        hub.condition.lock()
        hub.lastMaskNanos = monotonicNanos()
        hub.condition.unlock()
    }

    func videoLost() {
        hub.condition.lock()
        hub.videoLost = true
        hub.image = nil
        hub.jpeg = nil
        hub.condition.broadcast()
        hub.condition.unlock()
    }

    func finish() throws {
        hub.condition.lock()
        hub.videoLost = true
        hub.condition.broadcast()
        hub.condition.unlock()
    }
}
