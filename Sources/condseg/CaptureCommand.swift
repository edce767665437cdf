// CaptureCommand.swift — `condseg capture`: a device check for field engineers. Opens a V4L2 device through
// the same capture code as `condseg live`, negotiates a format, grabs N frames and writes them as PNG; it can
// also list and set the device's controls (e.g. exposure, or vivid's error-injection buttons in tests).

import ArgumentParser
import CondSegCapture
import CondSegIO
import CondSegImage
import Foundation

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture frames from a V4L2 device to PNG files (device check), and list or set its controls.",
        discussion: """
        Prints the device, the negotiated format and what happened to each frame; writes frame-000.png, … into --out.
        Examples:
          condseg capture --device /dev/video0 --format yuyv --capture-size 640x480 --frames 10 --out /tmp/frames
          condseg capture --device /dev/video0 --list-controls
          condseg capture --device /dev/video0 --set-ctrl "Exposure Time, Absolute=200" --frames 0
        The frame size is --capture-size WxH, as in `condseg live`; --size is the model's input size N in the other \
        commands (capture runs no model). The old spelling --size WxH still works here and prints a note.
        """)

    @Option(name: .long, help: "V4L2 capture device, e.g. /dev/video0.", transform: nonEmptyDevice)
    var device: String

    @Option(name: .long, help: "yuyv, uyvy, nv12, mjpeg or rgb24 (default: the best offered).")
    var format: String?

    @Option(name: .customLong("capture-size"), parsing: .unconditional, help: ArgumentHelp("Frame size WxH to capture (default: the device's current size).", valueName: "WxH"))
    var captureSize: String?

    /// The old name of --capture-size, kept for existing scripts (hidden from the help; a note says the new name).
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(visibility: .hidden))
    var size: String?

    /// The frame size asked for: --capture-size, or the old --size WxH; a usage error for a malformed value, for
    /// both together, and for a plain --size N (the model's input size elsewhere), pointing at --capture-size.
    func requestedFrameSize() throws -> (width: Int, height: Int)? {
        if let size {
            guard captureSize == nil else {
                throw ValidationError("give the frame size once: --capture-size (--size WxH is its old name)")
            }
            guard size.lowercased().contains("x") else {
                throw ValidationError("capture takes the frame size as --capture-size WxH, not --size \"\(size)\" (in the other commands --size N is the model's input size; capture runs no model)")
            }
            return try parseFrameSize(size, option: "--size")
        }
        return try captureSize.map { try parseFrameSize($0, option: "--capture-size") }
    }

    @Option(name: .long, parsing: .unconditional, help: "Frames to capture (default 10, or 0 with --list-controls/--set-ctrl).")
    var frames: Int?

    /// Frames to capture: --frames, else none when only handling controls, else 10.
    var frameCount: Int { frames ?? (listControls || !setControls.isEmpty ? 0 : 10) }

    @Option(name: .long, help: "Output folder for the PNG files (needed when --frames > 0).", transform: nonEmptyPath)
    var out: String?

    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "Give up on a frame after this many milliseconds (at least 10).")
    var timeoutMs: Int = 2000

    @Flag(name: .customLong("list-controls"), help: "Print the device's controls and their values.")
    var listControls = false

    @Option(name: .customLong("set-ctrl"), help: "Set a control by name before capturing: NAME=VALUE (repeatable; buttons take any value).")
    var setControls: [String] = []

    @Flag(name: .long, help: "Print a JSON summary on stdout.")
    var json = false

    func validate() throws {
        _ = try requestedFrameSize()
        guard frameCount >= 0 else { throw ValidationError("--frames must be 0 or more (got \(frameCount))") }
        guard timeoutMs >= 10 else { throw ValidationError("--timeout-ms must be at least 10 (got \(timeoutMs))") }
        if frameCount > 0 && out == nil { throw ValidationError("--out is needed to write the captured frames") }
        for setting in setControls where !setting.contains("=") {
            throw ValidationError("--set-ctrl wants NAME=VALUE (got \"\(setting)\")")
        }
    }

    mutating func run() throws {
        if let size { printError("note: capture's --size \(size) is now spelled --capture-size \(size)") }
        // The output folder must take files before the device is opened.
        if let out { try AtomicFile.checkFolderUsable(out) }
        if listControls || !setControls.isEmpty {
            let handle = LibV4L2Device(path: device)
            _ = try handle.open()
            defer { handle.close() }
            for setting in setControls {
                let name = String(setting[..<setting.firstIndex(of: "=")!])
                let valueText = String(setting[setting.index(after: setting.firstIndex(of: "=")!)...])
                guard let value = Int32(valueText) else { throw ValidationError("--set-ctrl \(name): value must be an integer") }
                try handle.setControl(named: name, value: value)
                printError("\(device): set \"\(name)\" = \(value)")
            }
            if listControls {
                for control in try handle.listControls() {
                    print("\(control.name) = \(control.value.map(String.init) ?? "(button)") [id 0x\(String(control.id, radix: 16))]")
                }
            }
        }
        let frames = frameCount
        guard frames > 0, let out else { return }

        let capture = V4L2Capture(device: LibV4L2Device(path: device), format: try parsePixelFormat(format),
                                  size: try requestedFrameSize())
        let negotiated = try capture.start()
        defer { capture.stop() }
        if let caps = capture.capabilities {
            printError("\(device): \(caps.driver) \"\(caps.card)\" (\(caps.busInfo)), capturing \(negotiated)")
        }
        if let wanted = capture.requestedSize, wanted != (negotiated.width, negotiated.height) {
            printError("\(device): note: the driver adjusted \(wanted.width)x\(wanted.height) to \(negotiated.width)x\(negotiated.height)")
        }
        try AtomicFile.makeFolder(out)
        var written = 0, timeouts = 0, corrupt = 0, skipped = 0
        var firstStamp: UInt64?, lastStamp: UInt64 = 0
        var attempts = 0
        while written < frames && attempts < frames * 4 + 10 {
            attempts += 1
            switch try capture.next(timeoutMilliseconds: timeoutMs) {
            case .frame(let frame, let dropped):
                skipped += dropped
                let image: Image8
                do { image = try FrameConversion.rgb(frame) } catch {
                    corrupt += 1
                    printError("frame \(frame.sequence): dropped (\(error))")
                    continue
                }
                try ImageCodec.writePNG(image, to: "\(out)/frame-\(String(format: "%03d", written)).png")
                firstStamp = firstStamp ?? frame.captureTimeNanos
                lastStamp = frame.captureTimeNanos
                written += 1
            case .timeout:
                timeouts += 1
                printError("\(device): no frame within \(timeoutMs) ms")
                if timeouts >= 3 { throw CaptureError.deviceLost(path: device, reason: "no frames (3 timeouts of \(timeoutMs) ms)") }
            case .corrupt(let reason):
                corrupt += 1
                printError("\(device): dropped frame: \(reason)")
            case .formatChanged(let changed):
                printError("\(device): source changed to \(changed)")
            case .endOfStream:
                break
            }
        }
        let seconds = Double(lastStamp &- (firstStamp ?? lastStamp)) / 1e9
        let rate = written > 1 && seconds > 0 ? Double(written - 1) / seconds : 0
        printError("\(device): wrote \(written) frames to \(out) (\(String(format: "%.1f", rate)) frames/s by buffer timestamps; \(skipped) skipped, \(corrupt) corrupt, \(timeouts) timeouts)")
        if json {
            try printJSON(["device": device, "format": negotiated.pixelFormat.rawValue, "width": negotiated.width,
                           "height": negotiated.height, "frames": written, "skipped": skipped, "corrupt": corrupt,
                           "timeouts": timeouts, "frames_per_second": (rate * 10).rounded() / 10])
        }
        if written < frames { throw CaptureError.deviceLost(path: device, reason: "captured only \(written) of \(frames) frames") }
    }
}
