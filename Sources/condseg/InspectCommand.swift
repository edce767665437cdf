// InspectCommand.swift — `condseg inspect`: what a weight file holds: configuration, SHA-256, parameters,
// multiply-accumulates per module group at an input size, and tensors missing or unexpected.

import ArgumentParser
import CondSegCore
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model file: configuration, SHA-256, parameters, MACs per module, tensor problems.")

    @Option(name: .long, help: "Weight file (.safetensors). Default: the bundled model.")
    var model: String?

    @Option(name: .long, help: "Input size for the MAC count (default: the model's own).")
    var size: Int?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    mutating func run() throws {
        let path = try model ?? DefaultModel.path()
        let file = try SafeTensorsFile(path: path)
        let config = try ModelConfig(metadata: file.metadata, file: path)
        let side = size ?? config.inputSize
        guard side > 0, side % 16 == 0 else { throw ValidationError("--size must be a positive multiple of 16") }
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
                "metadata_present": !file.metadata.keys.filter { $0.hasPrefix("condseg.") }.isEmpty,
                "parameters_inference": parameters, "parameters_training_only": auxParameters,
                "auxiliary_head": hasAux, "input_size": side, "gmac_total": Double(totalMACs) / 1e9,
                "gmac_per_group": Dictionary(uniqueKeysWithValues: groups.map { ($0.0, Double($0.1) / 1e9) }),
                "missing": audit.missing, "problems": audit.problems.map { "\($0.0): \($0.1)" },
                "unexpected": unexpected, "tensors": file.names.count,
            ])
        } else {
            print("file:           \(path)")
            print("sha256:         \(file.sha256)")
            print("configuration:  \(config)\(file.metadata["condseg.encoder"] == nil ? " (no condseg.* metadata: release configuration)" : "")")
            print("tensors:        \(file.names.count)")
            print("parameters:     \(parameters) for inference" + (auxParameters > 0 ? ", \(auxParameters) more in the training-only auxiliary head and uncertainty branch" : ""))
            print("auxiliary head: \(hasAux ? "present" : "absent (not needed for inference)")")
            print("MACs at \(side)×\(side): \(fixed(Double(totalMACs) / 1e9, 2)) G (auxiliary head pruned)")
            for (group, count) in groups.sorted(by: { $0.1 > $1.1 }) {
                print("  \(group.padding(toLength: 16, withPad: " ", startingAt: 0)) \(fixed(Double(count) / 1e9, 3)) G  \(fixed(100 * Double(count) / Double(totalMACs), 1))%")
            }
            if audit.problems.isEmpty { print("tensors needed: all present with the right shapes") }
            for (name, problem) in audit.problems { print("problem: \(name): \(problem)") }
            for name in unexpected { print("unexpected tensor (ignored): \(name)") }
        }
        if !audit.problems.isEmpty { throw ExitCode(1) }
    }
}
