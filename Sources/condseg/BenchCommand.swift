// BenchCommand.swift — `condseg bench`: latency of the network on this machine (median and p90 over
// iterations), throughput, and the fraction of the machine's float ceiling (OpenBLAS sgemm, measured in the
// same run), with an optional per-module-group profile.

import ArgumentParser
import CondSegCore
import CondSegRuntime
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure inference speed on this machine (random input; no files needed).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Input size (square, multiple of 16; default: the model's).")
    var size: Int?

    @Option(name: .long, help: "Timed iterations after one warm-up (default 10).")
    var iterations: Int = 10

    @Option(name: .long, help: "Calibration table: run the int8 path (a quantized --model needs none).")
    var calibration: String?

    @Flag(name: .long, help: "Also print time and GMAC/s per module group.")
    var profile = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    mutating func run() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        let loaded = try modelOptions.loadEngine(calibration: calibration)
        let side = size ?? loaded.config.inputSize
        guard side > 0, side % 16 == 0 else { throw ValidationError("--size must be a positive multiple of 16") }
        let engine = loaded.executor
        let engineName = loaded.name
        var input = [Float](repeating: 0, count: 3 * side * side)
        var state: UInt32 = 12345
        for i in 0..<input.count {
            state = state &* 1664525 &+ 1013904223
            input[i] = Float(state >> 8) / Float(1 << 24)
        }
        _ = try engine.predict(input: input, height: side, width: side)   // warm-up: plan, caches, threads
        engine.profiling = profile
        var samples: [Double] = []
        for _ in 0..<iterations {
            samples.append(try Benchmark.milliseconds { _ = try engine.predict(input: input, height: side, width: side) })
        }
        let timing = TimingSummary(milliseconds: samples)
        let ceiling = Benchmark.sgemmCeiling(threads: modelOptions.threads)
        let macs = engine.graph.macs(inputSize: side)
        let gmac = Double(macs.reduce(0, +)) / 1e9
        let gmacPerSecond = gmac / (timing.median / 1000)
        let fraction = 2 * gmacPerSecond / ceiling
        var groups: [(String, Double, Double)] = []   // name, ms per frame, GMAC
        if profile {
            for node in engine.graph.nodes where engine.nodeSeconds.indices.contains(node.id) {
                let ms = engine.nodeSeconds[node.id] * 1000 / Double(iterations)
                let g = Double(macs[node.id]) / 1e9
                if let i = groups.firstIndex(where: { $0.0 == node.group }) { groups[i].1 += ms; groups[i].2 += g }
                else { groups.append((node.group, ms, g)) }
            }
        }
        if json {
            var object: [String: Any] = [
                "model_sha256": loaded.modelSHA256, "engine": engineName, "size": side, "threads": modelOptions.threads,
                "iterations": iterations, "median_ms": timing.median, "p90_ms": timing.p90, "min_ms": timing.min,
                "fps": 1000 / timing.median, "gmac_per_frame": gmac, "gmac_per_s": gmacPerSecond,
                "sgemm_ceiling_gflops": ceiling, "fraction_of_sgemm_ceiling": fraction,
                "peak_activation_bytes": engine.plannedBytes,
            ]
            if profile {
                object["profile"] = Dictionary(uniqueKeysWithValues: groups.map {
                    ($0.0, ["ms": $0.1, "gmac": $0.2, "gmac_per_s": $0.1 > 0 ? $0.2 / ($0.1 / 1000) : 0])
                })
            }
            try printJSON(object)
        } else {
            print("model: \(loaded.modelPath) (\(loaded.config))")
            print("engine: \(engineName), \(modelOptions.threads) threads, \(side)×\(side), \(iterations) iterations")
            print("latency: median \(fixed(timing.median, 1)) ms, p90 \(fixed(timing.p90, 1)) ms, min \(fixed(timing.min, 1)) ms  → \(fixed(1000 / timing.median, 2)) frames/s")
            print("work: \(fixed(gmac, 2)) GMAC/frame → \(fixed(gmacPerSecond, 1)) GMAC/s = \(fixed(2 * gmacPerSecond, 1)) GFLOP/s")
            print("sgemm ceiling (same run, \(modelOptions.threads) threads): \(fixed(ceiling, 1)) GFLOP/s → \(fixed(100 * fraction, 1))% of it")
            print("activation memory: \(engine.plannedBytes / 1_000_000) MB (planned once)")
            if profile {
                print("per module group (ms/frame, GMAC, GMAC/s):")
                for (name, ms, g) in groups.sorted(by: { $0.1 > $1.1 }) {
                    print("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(fixed(ms, 1).padding(toLength: 8, withPad: " ", startingAt: 0)) \(fixed(g, 3))  \(ms > 0 ? fixed(g / (ms / 1000), 1) : "-")")
                }
            }
        }
    }
}

