// InspectCommand.swift — `condseg inspect`: what a weight file holds: configuration, SHA-256, parameters,
// multiply-accumulates per module group at an input size (the file's, or --size), and tensors missing or unexpected.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegRuntime
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model file: configuration, SHA-256, parameters, MACs per module, tensor problems.",
        discussion: """
        An int8 file written by `condseg quantize` is described too: its configuration, the float model it came \
        from and the calibration it carries. A file without condseg.* metadata has its configuration inferred \
        from the tensor shapes (the input size, channel order and scale then take the release values). \
        Exit status 4 when the file does not fit the network its configuration describes.
        """)

    @Option(name: .long, help: modelOptionHelp)
    var model: String?

    @OptionGroup var sizeOptions: SizeOptions

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    mutating func run() throws {
        let path = try model.map(BundledFiles.model) ?? defaultModelPath()
        let file = try SafeTensorsFile(path: path)
        let size = try sizeOptions.inputSize()
        if QuantizedModelFile.isQuantized(file) { return try describeQuantized(file, path: path, size: size) }
        let config = try ModelConfig(file: file)
        let inferred = !ModelConfig.hasConfigurationMetadata(file.metadata)
        if inferred { printError("note: \(config.inferenceNote(file: path))") }
        let side = size ?? config.inputSize
        let inference = Graph.conDSeg(config, auxiliaryHead: false)
        let full = Graph.conDSeg(config, auxiliaryHead: true)
        let audit = ConDSegModel.audit(file: file, config: config, graph: inference)
        let auxAudit = ConDSegModel.audit(file: file, config: config, graph: full)
        let hasAux = auxAudit.problems.count == audit.problems.count
        let unexpected = file.names.filter { full.parameters[$0] == nil && !$0.hasSuffix(".num_batches_tracked") }
        let macs = inference.macs(inputSize: side)
        var groups: [(String, Int)] = []
        for node in inference.nodes where macs[node.id] > 0 {
            if let i = groups.firstIndex(where: { $0.0 == node.group }) { groups[i].1 += macs[node.id] }
            else { groups.append((node.group, macs[node.id])) }
        }
        let totalMACs = macs.reduce(0, +)
        let parameters = ConDSegModel.parameterCount(inference)
        let auxParameters = ConDSegModel.parameterCount(full) - parameters
        if json {
            try printJSON([
                "file": path, "sha256": file.sha256, "configuration": config.metadata,
                "metadata_present": !inferred, "quantized": false,
                "parameters_inference": parameters, "parameters_training_only": auxParameters,
                "auxiliary_head": hasAux, "input_size": side, "trained_input_size": config.inputSize, "gmac_total": Double(totalMACs) / 1e9,
                "gmac_per_group": Dictionary(uniqueKeysWithValues: groups.map { ($0.0, Double($0.1) / 1e9) }),
                "missing": audit.missing, "problems": audit.problems.map { "\($0.0): \($0.1)" },
                "unexpected": unexpected, "tensors": file.names.count,
            ])
        } else {
            print("file:           \(path)")
            print("sha256:         \(file.sha256)")
            print("configuration:  \(config)\(inferred ? " (no condseg.* metadata: inferred from the tensor shapes)" : "")")
            print("input size:     trained for \(config.inputSize)×\(config.inputSize)\(inferred ? " (assumed)" : ""), run at \(side)×\(side)\(size == nil ? "" : " (--size)")")
            print("tensors:        \(file.names.count)")
            let trainingOnly = hasAux ? "\(auxParameters) more in the training-only auxiliary head and uncertainty branch (in this file)"
                                      : "a training run would add \(auxParameters) in the training-only auxiliary head and uncertainty branch"
            print("parameters:     \(parameters) for inference" + (auxParameters > 0 ? ", " + trainingOnly : ""))
            print("auxiliary head: \(hasAux ? "present" : "absent (not needed for inference)")")
            print("MACs at \(side)×\(side): \(fixed(Double(totalMACs) / 1e9, 2)) G (auxiliary head pruned)")
            for (group, count) in groups.sorted(by: { $0.1 > $1.1 }) {
                print("  \(group.padding(toLength: 16, withPad: " ", startingAt: 0)) \(fixed(Double(count) / 1e9, 3)) G  \(fixed(100 * Double(count) / Double(totalMACs), 1))%")
            }
            if audit.problems.isEmpty { print("tensors needed: all present with the right shapes") }
            for (name, problem) in audit.problems { print("problem: \(name): \(problem)") }
            for name in unexpected { print("unexpected tensor (ignored): \(name)") }
        }
        if !audit.problems.isEmpty {
            throw ProblemList(.input, problems: ["\(path): \(audit.problems.count) tensors missing or misshapen for \(config)"])
        }
    }

    /// The description of an int8 file from `condseg quantize`.
    func describeQuantized(_ file: SafeTensorsFile, path: String, size: Int?) throws {
        let summary = try QuantizedModelFile.summary(of: file)
        let side = size ?? summary.config.inputSize
        let graph = Graph.conDSeg(summary.config, auxiliaryHead: false)
        let macs = graph.macs(inputSize: side).reduce(0, +)
        let table = summary.table
        let int8Records = table.entries.filter { $0.precision == .int8 }.count
        if json {
            try printJSON([
                "file": path, "sha256": file.sha256, "quantized": true, "configuration": summary.config.metadata,
                "source_model_sha256": summary.sourceSHA256, "calibration_sha256": summary.calibrationSHA256,
                "calibration": ["method": table.method, "images": table.imageCount, "date": table.date,
                                "tool_version": table.toolVersion, "tensors": table.entries.count,
                                "int8_tensors": int8Records, "weight_bits": table.weightBits] as [String: Any],
                "int8_convolutions": summary.int8Convolutions, "convolutions": summary.convolutions,
                "input_size": side, "trained_input_size": summary.trainedInputSize,
                "calibrated_input_size": summary.config.inputSize,
                "gmac_total": Double(macs) / 1e9, "tensors": file.names.count,
            ])
        } else {
            print("file:           \(path)")
            print("sha256:         \(file.sha256)")
            print("format:         int8 (condseg quantize): \(summary.int8Convolutions) of \(summary.convolutions) convolutions int8, the rest float")
            print("configuration:  \(summary.config)")
            print("input size:     trained for \(summary.trainedInputSize)×\(summary.trainedInputSize), calibrated at \(summary.config.inputSize)×\(summary.config.inputSize), run at \(side)×\(side)\(size == nil ? "" : " (--size)")")
            print("quantized from: model with SHA-256 \(summary.sourceSHA256)")
            print("calibration:    \(table.method), \(table.imageCount) images, \(table.date), condseg \(table.toolVersion); \(table.entries.count) tensors (\(int8Records) int8); text SHA-256 \(summary.calibrationSHA256)")
            print("int8 weights:   \(table.weightBits) bits (±\(Int8ConvWeights.limit(bits: table.weightBits)) per output channel)")
            print("tensors:        \(file.names.count)")
            print("MACs at \(side)×\(side): \(fixed(Double(macs) / 1e9, 2)) G")
            print("tensors needed: all present with the right shapes")
        }
    }
}
