// BenchCommand.swift — `condseg bench`: latency of the network on this machine (median and p90 over
// iterations), throughput, and its share of references measured in the same run: the machine's ceilings (the
// register-only peaks of the fp32 FMA and of the int8 kernel's instruction sequence) and, for comparison, what a
// large GEMM reaches (OpenBLAS sgemm for float, the active int8 GEMM kernel for int8), with an optional per-module-group profile that also splits the convolution time into int8
// and float convolutions against those peaks. `--compare-float` times the int8 path
// and the fast float executor alternately in one run. `--train` times the trainer's optimisation step instead.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegRuntime
import CondSegTrain
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure inference speed on this machine, or with --train the training step's (random input; no files needed).",
        discussion: """
            Examples:
              condseg bench --threads 1                       float32, the fast executor
              condseg bench --calibration calibration/condseg-r18w64-kvasir.table.txt --compare-float --profile
              condseg bench --train --batch 8 --iterations 3     one training step (stage 2, every loss, Adam)
            Timings on a shared machine are noisy: compare runs made side by side, as ratios.
            Rates count the model's nominal multiply-adds (MACs) over the time taken. Two references are printed: \
            the register-only peaks (what the silicon does in an instruction loop with no memory traffic: fp32 FMA \
            and the int8 kernel's instruction sequence) are the machine's ceilings; the sgemm and int8 GEMM figures \
            are what the libraries' own best GEMM reaches, for comparison. A share above 100% of a GEMM figure is \
            possible: Winograd does fewer multiplies than the nominal MACs, int8 ops are compared with a float \
            sgemm in the whole-frame line, and the int8 GEMM figure is one fixed shape that the model's larger \
            convolutions can beat. In --json the GEMM figures keep their first names, sgemm_ceiling_gflops, \
            int8_ceiling_gops and the fraction_of_*_ceiling shares (scripts read them); the peaks are register_peaks; \
            samples_ms lists every timed frame (float.samples_ms those of --compare-float); for the fast int8 \
            executor, int8_winograd says which setting ran and how many convolutions ran each tile size (0 where \
            the kernels do not use Winograd).
            --profile adds: time, GMAC and GMAC/s per module group; the convolutions by precision (int8, float) \
            with their share of the register peaks; the other ops (attention, upsampling, pooling, ...) by kind. \
            On AVX2 without VNNI the int8 3×3 stride-1 convolutions run as exact Winograd F(4×4, 3×3) on maps \
            with at least 32 tiles, else F(2×2, 3×3), where the tiling keeps at least 3/4 of the outputs inside \
            the map (same results, up to 4× or 2.25× fewer multiplies; \
            CONDSEG_INT8_WINOGRAD=0 turns it off, =2 keeps it to F(2×2), to compare): they are listed apart, \
            with the multiplies they actually do against the register peak of their own instruction sequence, \
            and all int8 convolutions together by their nominal MACs against the int8 register peak \
            (int8_convolutions_all in --json).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, parsing: .unconditional, help: "Timed iterations after one warm-up.")
    var iterations: Int = 10

    @Option(name: .long, help: calibrationOptionHelp)
    var calibration: String?

    @Flag(name: .long, help: "With the int8 path: also time the float32 fast executor, alternating frame by frame, and print the ratio.")
    var compareFloat = false

    @Flag(name: .long, help: "Also print time and GMAC/s per module group, the convolutions by precision against the register peaks, and the other ops by kind.")
    var profile = false

    @Flag(name: .long, help: "Time training steps instead (forward, every loss, backward, Adam) on a random batch; --engine does not apply.")
    var train = false

    @Option(name: .long, parsing: .unconditional, help: "With --train: 1 or 2.")
    var stage: Int = 2

    @Option(name: .long, parsing: .unconditional, help: "With --train: images per batch.")
    var batch: Int = 8

    @Option(name: .long, help: "With --train: encoder resnet18|34|50 of a freshly initialised network instead of the model's.")
    var encoder: String?

    @Option(name: .long, parsing: .unconditional, help: "With --train: decoder width W of a freshly initialised network instead of the model's.")
    var width: Int?

    @Option(name: .long, parsing: .unconditional, help: "With --train: middle channels M of a freshly initialised network instead of the model's.")
    var mid: Int?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    mutating func run() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        if train { return try runTraining() }
        guard encoder == nil, width == nil, mid == nil else {
            throw ValidationError("--encoder/--width/--mid apply to --train; to time another configuration, make it with `condseg init`")
        }
        let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine,
                                                 size: sizeOptions.inputSize())
        let side = loaded.config.inputSize
        let engine = loaded.executor
        let isInt8 = loaded.name.hasPrefix("int8")
        if compareFloat && !isInt8 {
            throw ValidationError("--compare-float compares the int8 path with float: pass --calibration TABLE or a quantized --model")
        }
        var floatEngine: ProfiledEngine?
        if compareFloat {
            let file = try SafeTensorsFile(path: loaded.modelPath)
            let model: ConDSegModel
            if QuantizedModelFile.isQuantized(file) {
                throw ValidationError("--compare-float needs the float model: pass the float --model with --calibration TABLE")
            }
            model = try ConDSegModel(file: file, inputSize: side)
            floatEngine = try ExecutorKind.fast.float(model: model, threads: modelOptions.threads)
        }
        var input = [Float](repeating: 0, count: 3 * side * side)
        var state: UInt32 = 12345
        for i in 0..<input.count {
            state = state &* 1664525 &+ 1013904223
            input[i] = Float(state >> 8) / Float(1 << 24)
        }
        _ = try engine.predict(input: input, height: side, width: side)   // warm-up: plan, caches, threads
        _ = try floatEngine?.predict(input: input, height: side, width: side)
        engine.profiling = profile
        var samples: [Double] = [], floatSamples: [Double] = []
        for _ in 0..<iterations {
            samples.append(try Benchmark.milliseconds { _ = try engine.predict(input: input, height: side, width: side) })
            if let floatEngine {
                floatSamples.append(try Benchmark.milliseconds { _ = try floatEngine.predict(input: input, height: side, width: side) })
            }
        }
        let timing = TimingSummary(milliseconds: samples)
        let floatTiming = floatSamples.isEmpty ? nil : TimingSummary(milliseconds: floatSamples)
        let ceiling = Benchmark.sgemmCeiling(threads: modelOptions.threads)
        // The int8 kernel and sequence of this table's weight range (a float engine reports the 8-bit ones).
        let weightBits = (loaded.executor as? any Int8GraphExecutor)?.table.weightBits ?? 8
        let int8Ceiling = isInt8 ? Benchmark.int8Ceiling(threads: modelOptions.threads, weightBits: weightBits) : nil
        let peaks = Benchmark.registerPeaks(threads: modelOptions.threads, int8Variant: Benchmark.int8Variant(weightBits: weightBits))
        let macs = engine.graph.macs(inputSize: side)
        let gmac = Double(macs.reduce(0, +)) / 1e9
        let gmacPerSecond = gmac / (timing.median / 1000)
        let fraction = 2 * gmacPerSecond / ceiling

        // Profile: per module group, and the convolutions by precision (a fused convolution's time is on its add).
        var groups: [(String, Double, Double)] = []   // name, ms per frame, GMAC
        var convClasses: [String: (ms: Double, gmac: Double)] = [:]   // "int8", "int8_winograd", "float", "other"
        let fastInt8 = engine as? FastInt8Executor
        var winogradDone = 0.0   // GMAC the Winograd convolutions actually multiply ((m+2)² per m×m tile per channel pair)
        var otherKinds: [String: Double] = [:]   // the other ops' ms per frame by op kind
        if profile {
            let fused = engine.fusedConvolutionIDs, int8 = engine.int8ConvolutionIDs
            let winograd = Set(fastInt8?.int8WinogradNodeIDs ?? [])
            for node in engine.graph.nodes where engine.nodeSeconds.indices.contains(node.id) && !fused.contains(node.id) {
                let ms = engine.nodeSeconds[node.id] * 1000 / Double(iterations)
                var convID: ValueID?
                if case .conv = node.kind { convID = node.id }
                if case .add = node.kind, let first = node.inputs.first, fused.contains(first) { convID = first }
                // A convolution computed inside the add that reads it has its time on the add: its MACs go there too
                // (else the group's GMAC/s would count the time without the work).
                let fusedMacs = convID.map { $0 != node.id ? macs[$0] : 0 } ?? 0
                let g = Double(macs[node.id] + fusedMacs) / 1e9
                if let i = groups.firstIndex(where: { $0.0 == node.group }) { groups[i].1 += ms; groups[i].2 += g }
                else { groups.append((node.group, ms, g)) }
                let cls = convID.map { winograd.contains($0) ? "int8_winograd" : int8.contains($0) ? "int8" : "float" } ?? "other"
                if let id = convID, let done = fastInt8?.int8WinogradMultiplies(id) { winogradDone += Double(done) / 1e9 }
                let convMacs = convID.map { Double(macs[$0]) / 1e9 } ?? 0
                convClasses[cls, default: (0, 0)].ms += ms
                convClasses[cls, default: (0, 0)].gmac += convMacs
                if convID == nil { otherKinds[Self.kindLabel(node.kind), default: 0] += ms }
            }
        }
        func rate(_ c: (ms: Double, gmac: Double)) -> Double { c.ms > 0 ? c.gmac / (c.ms / 1000) : 0 }
        // The Winograd convolutions' multiplies run on another instruction sequence: its own register peak.
        let winogradPeak = convClasses["int8_winograd"] != nil ? Benchmark.winogradPeak(threads: modelOptions.threads) : nil
        func doneRate(_ c: (ms: Double, gmac: Double)) -> Double { c.ms > 0 ? winogradDone / (c.ms / 1000) : 0 }
        // Every int8 convolution together, by its nominal MACs (what the layer computes, however it is computed),
        // against the int8 register peak: the model-level figure.
        let int8Classes = ["int8", "int8_winograd"].compactMap { convClasses[$0] }
        let allInt8: (ms: Double, gmac: Double)? = int8Classes.isEmpty ? nil
            : (int8Classes.map(\.ms).reduce(0, +), int8Classes.map(\.gmac).reduce(0, +))
        if json {
            var object: [String: Any] = [
                "model_sha256": loaded.modelSHA256, "engine": loaded.name, "size": side,
                "trained_input_size": loaded.trainedInputSize, "threads": modelOptions.threads,
                "iterations": iterations, "median_ms": timing.median, "p90_ms": timing.p90, "min_ms": timing.min,
                "samples_ms": samples, "fps": 1000 / timing.median, "gmac_per_frame": gmac, "gmac_per_s": gmacPerSecond,
                "sgemm_ceiling_gflops": ceiling, "fraction_of_sgemm_ceiling": fraction,
                "peak_activation_bytes": engine.plannedBytes, "kernels": activeKernels,
            ]
            if let calibrated = loaded.calibratedInputSize { object["calibrated_input_size"] = calibrated }
            if let fastInt8 {
                // What the int8 Winograd did in this run: the setting in effect (CONDSEG_INT8_WINOGRAD as the executor
                // read it) and how many convolutions ran each tile size (none where the kernels do not use it).
                let tiles = fastInt8.int8WinogradNodeIDs.compactMap { fastInt8.int8WinogradTile($0) }
                object["int8_winograd"] = [
                    "setting": !fastInt8.int8Winograd ? "0" : fastInt8.int8WinogradLargestTile == 2 ? "2" : "1",
                    "f4x4_convolutions": tiles.filter { $0 == 4 }.count, "f2x2_convolutions": tiles.filter { $0 == 2 }.count,
                ] as [String: Any]
            }
            if let int8Ceiling { object["int8_ceiling_gops"] = int8Ceiling }
            object["register_peaks"] = ["fp32_fma_gmac_per_s": peaks.fp32GMACs, "int8_gmac_per_s": peaks.int8GMACs,
                                        "int8_sequence": peaks.int8Sequence, "threads": modelOptions.threads] as [String: Any]
            if let winogradPeak {
                var registerPeaks = object["register_peaks"] as! [String: Any]
                registerPeaks["winograd_gmac_per_s"] = winogradPeak
                registerPeaks["winograd_sequence"] = Benchmark.winogradSequence
                object["register_peaks"] = registerPeaks
            }
            if isInt8 { object["weight_bits"] = weightBits }
            if let floatTiming {
                object["float"] = ["median_ms": floatTiming.median, "p90_ms": floatTiming.p90, "min_ms": floatTiming.min,
                                   "samples_ms": floatSamples] as [String: Any]
                object["speedup_over_float"] = floatTiming.median / timing.median
            }
            if profile {
                object["profile"] = Dictionary(uniqueKeysWithValues: groups.map {
                    ($0.0, ["ms": $0.1, "gmac": $0.2, "gmac_per_s": $0.1 > 0 ? $0.2 / ($0.1 / 1000) : 0])
                })
                var convs: [String: Any] = [:]
                for (cls, c) in convClasses {
                    var entry: [String: Any] = ["ms": c.ms, "gmac": c.gmac, "gmac_per_s": rate(c)]
                    if cls == "int8", let int8Ceiling { entry["fraction_of_int8_ceiling"] = 2 * rate(c) / int8Ceiling }
                    if cls == "int8" { entry["share_of_int8_peak"] = Benchmark.share(rate(c), of: peaks.int8GMACs) }
                    if cls == "float" { entry["fraction_of_sgemm_ceiling"] = 2 * rate(c) / ceiling }
                    if cls == "float" { entry["share_of_fp32_peak"] = Benchmark.share(rate(c), of: peaks.fp32GMACs) }
                    if cls == "int8_winograd", let winogradPeak {
                        entry["done_gmac"] = winogradDone
                        entry["done_gmac_per_s"] = doneRate(c)
                        entry["share_of_winograd_peak"] = Benchmark.share(doneRate(c), of: winogradPeak)
                    }
                    convs[cls] = entry
                }
                object["convolutions"] = convs
                if let allInt8 {
                    object["int8_convolutions_all"] = ["ms": allInt8.ms, "gmac": allInt8.gmac, "gmac_per_s": rate(allInt8),
                                                       "share_of_int8_peak": Benchmark.share(rate(allInt8), of: peaks.int8GMACs)]
                }
                object["other_ops_ms"] = otherKinds
            }
            try printJSON(object)
        } else {
            print("model: \(loaded.modelPath) (\(loaded.config))")
            print("engine: \(loaded.name), \(threadsText(modelOptions.threads)), \(side)×\(side), \(iterations) iterations"
                  + (loaded.calibratedInputSize.map { " (calibrated at \($0)×\($0))" } ?? ""))
            let kernels = activeKernels
            print("kernels: int8 \(kernels["int8"]!), float \(kernels["float"]!) (sgemm: \(kernels["sgemm"]!))")
            print("latency: median \(fixed(timing.median, 1)) ms, p90 \(fixed(timing.p90, 1)) ms, min \(fixed(timing.min, 1)) ms  → \(fixed(1000 / timing.median, 2)) frames/s")
            if let floatTiming {
                print("float32 (fast executor, alternating in the same run): median \(fixed(floatTiming.median, 1)) ms, p90 \(fixed(floatTiming.p90, 1)) ms → int8 is \(fixed(floatTiming.median / timing.median, 2))× the float speed")
            }
            print("work: \(fixed(gmac, 2)) GMAC/frame → \(fixed(gmacPerSecond, 1)) GMAC/s = \(fixed(2 * gmacPerSecond, 1)) GOP/s")
            print("sgemm for comparison (OpenBLAS, same run, \(threadsText(modelOptions.threads))): \(fixed(ceiling, 1)) GFLOP/s → the whole frame runs at \(fixed(100 * fraction, 1))% of it" + (isInt8 ? " (int8 ops against a float GEMM)" : ""))
            if let int8Ceiling {
                print("int8 GEMM for comparison (same run, \(threadsText(modelOptions.threads)), \(Benchmark.int8Kernel), \(weightBits)-bit weights, one fixed shape): \(fixed(int8Ceiling, 1)) GOP/s")
            }
            print("ceilings, the register-only peaks (same run, \(threadsText(modelOptions.threads)) at once): fp32 FMA \(fixed(peaks.fp32GMACs, 1)) GMAC/s, int8 \(peaks.int8Sequence) \(fixed(peaks.int8GMACs, 1)) GMAC/s" + (isInt8 ? " (\(weightBits)-bit weights)" : ""))
            print("activation memory: \(engine.plannedBytes / 1_000_000) MB (planned once)")
            if profile {
                print("per module group (ms/frame, GMAC, GMAC/s):")
                for (name, ms, g) in groups.sorted(by: { $0.1 > $1.1 }) {
                    print("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(fixed(ms, 1).padding(toLength: 8, withPad: " ", startingAt: 0)) \(fixed(g, 3))  \(ms > 0 ? fixed(g / (ms / 1000), 1) : "-")")
                }
                print("by kind (ms/frame, GMAC, GMAC/s, share of the register peak and of the GEMM figure):")
                func kindRow(_ label: String, _ c: (ms: Double, gmac: Double), _ share: String) {
                    print("  \(label.padding(toLength: 20, withPad: " ", startingAt: 0)) \(fixed(c.ms, 1).padding(toLength: 8, withPad: " ", startingAt: 0)) \(fixed(c.gmac, 3))  \(fixed(rate(c), 1))\(share)")
                }
                for cls in ["int8", "int8_winograd", "float", "other"] {
                    guard let c = convClasses[cls] else { continue }
                    let label = cls == "other" ? "other ops" : cls == "int8_winograd" ? "int8 Winograd convs" : "\(cls) convolutions"
                    var share = ""
                    if cls == "int8", let int8Ceiling {
                        share = "  \(fixed(100 * Benchmark.share(rate(c), of: peaks.int8GMACs), 1))% of the int8 register peak, \(fixed(100 * 2 * rate(c) / int8Ceiling, 1))% of the int8 GEMM figure"
                    }
                    if cls == "float" {
                        share = "  \(fixed(100 * Benchmark.share(rate(c), of: peaks.fp32GMACs), 1))% of the fp32 FMA peak, \(fixed(100 * 2 * rate(c) / ceiling, 1))% of the sgemm figure"
                    }
                    if cls == "int8_winograd", let winogradPeak {
                        share = " (nominal); \(fixed(winogradDone, 3)) GMAC multiplied (\(fixed(c.gmac / max(winogradDone, 1e-12), 2))× fewer) at \(fixed(doneRate(c), 1)) GMAC/s, \(fixed(100 * Benchmark.share(doneRate(c), of: winogradPeak), 1))% of the \(Benchmark.winogradSequence) register peak (\(fixed(winogradPeak, 1)) GMAC/s)"
                    }
                    kindRow(label, c, share)
                }
                if let allInt8 {
                    kindRow("all int8 convs", allInt8, "  (nominal) \(fixed(100 * Benchmark.share(rate(allInt8), of: peaks.int8GMACs), 1))% of the int8 register peak")
                }
                print("other ops by kind (ms/frame):")
                for (kind, ms) in otherKinds.sorted(by: { $0.value > $1.value }) {
                    print("  \(kind.padding(toLength: 20, withPad: " ", startingAt: 0)) \(fixed(ms, 1))")
                }
            }
        }
    }

    /// The label `--profile` gives an op that is not a convolution (adds that compute a fused convolution count
    /// as convolutions).
    static func kindLabel(_ kind: OpKind) -> String {
        switch kind {
        case .input: return "input"
        case .conv: return "convolution"
        case .maxPool: return "max pooling"
        case .add: return "add"
        case .mul: return "mul"
        case .concat: return "concat"
        case .upsample: return "upsample"
        case .globalAvgPool, .globalMaxPool: return "global pooling"
        case .channelMeanMax: return "channel mean/max"
        case .sigmoid: return "sigmoid"
        case .windowAttention: return "window attention"
        }
    }

    /// `--train`: the median time of a training step of the model's configuration (its weights as the start,
    /// the auxiliary head freshly initialised) or of a fresh --encoder/--width/--mid network.
    func runTraining() throws {
        guard stage == 1 || stage == 2 else { throw ValidationError("--stage must be 1 or 2") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard calibration == nil, !compareFloat else {
            throw ValidationError("--train times the float trainer: drop --calibration and --compare-float")
        }
        let path = try modelOptions.modelPath()
        let file = try SafeTensorsFile(path: path)
        let fresh = encoder != nil || width != nil || mid != nil
        if !ModelConfig.hasConfigurationMetadata(file.metadata) && !fresh {
            printError("note: \((try ModelConfig(file: file)).inferenceNote(file: path))")
        }
        let config = try ModelConfig(file: file)
            .overridden(encoder: encoder, width: width, mid: mid, size: sizeOptions.inputSize())
        let bench = try TrainingBenchmark(config: config, stage: stage, batch: batch, threads: modelOptions.threads,
                                          initFiles: fresh ? [] : [path])
        if !json { writeStandardError("warm-up step…\n") }
        bench.step()
        bench.profiling = profile
        var samples: [Double] = []
        for i in 0..<iterations {
            samples.append(Benchmark.milliseconds { bench.step() })
            if !json { writeStandardError("step \(i + 1)/\(iterations): \(fixed(samples.last!, 0)) ms\n") }
        }
        let timing = TimingSummary(milliseconds: samples)
        let imagesPerSecond = Double(batch) / (timing.median / 1000)
        let profileMs = bench.profile.mapValues { $0 * 1000 / Double(iterations) }
        // Convolution work: forward MACs per image; the backward does about twice that (weight and input gradients).
        let macs = bench.graph.macs(inputSize: config.inputSize)
        var convMacs = 0
        for node in bench.graph.nodes { if case .conv = node.kind { convMacs += macs[node.id] } }
        let convGMAC = Double(convMacs) / 1e9
        let stepGMAC = 3 * convGMAC * Double(batch)
        if json {
            var object: [String: Any] = [
                "peer": "condseg", "mode": "train", "stage": stage, "batch": batch, "size": config.inputSize,
                "threads": modelOptions.threads, "config": "\(config)", "initialised_from": fresh ? "seed" : path,
                "step_ms": ["median": timing.median, "p90": timing.p90, "min": timing.min, "samples": samples],
                "images_per_second": imagesPerSecond, "conv_gmac_forward_per_image": convGMAC,
                "conv_gmac_per_step_estimate": stepGMAC,
            ]
            if profile { object["profile_ms_per_step"] = profileMs }
            try printJSON(object)
        } else {
            print("training step, stage \(stage): \(config), batch \(batch), \(threadsText(modelOptions.threads)), \(iterations) steps after one warm-up")
            print("weights: \(fresh ? "seeded initialisation" : path + " (missing tensors seeded)")")
            print("step: median \(fixed(timing.median, 0)) ms, p90 \(fixed(timing.p90, 0)) ms, min \(fixed(timing.min, 0)) ms → \(fixed(imagesPerSecond, 3)) images/s")
            print("convolutions: \(fixed(convGMAC, 2)) GMAC per image forward, about \(fixed(stepGMAC, 0)) GMAC per step with the backward → \(fixed(stepGMAC / (timing.median / 1000), 1)) GMAC/s overall")
            if profile {
                print("per op kind (ms/step):")
                for (name, ms) in profileMs.sorted(by: { $0.value > $1.value }) {
                    print("  \(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(fixed(ms, 0))")
                }
            }
        }
    }
}
