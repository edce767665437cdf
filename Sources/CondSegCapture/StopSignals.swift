// StopSignals.swift: turns SIGINT/SIGTERM into a call (normally `LivePipeline.requestStop`) on a dispatch
// queue, so a live run stops cleanly — streaming off, buffers unmapped, output files complete — instead
// of dying mid-write. Also ignores SIGPIPE so a closed stdout reader becomes a write error, not a kill.
import Dispatch
import Glibc

/// Handles stop signals while alive; `cancel()` restores the default actions.
public final class StopSignals {
    private var sources: [DispatchSourceSignal] = []
    private let signals: [Int32]

    /// Installs handlers for `signals` (default SIGINT and SIGTERM) calling `handler` with the signal number.
    public init(signals: [Int32] = [SIGINT, SIGTERM], handler: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        let queue = DispatchQueue(label: "condseg.signals")
        signal(SIGPIPE, SIG_IGN)
        for number in signals {
            signal(number, SIG_IGN)  // the dispatch source sees the signal; the default action must not run
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// Stops handling and restores the default signal actions.
    public func cancel() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for number in signals { signal(number, SIG_DFL) }
    }

    deinit { cancel() }
}
