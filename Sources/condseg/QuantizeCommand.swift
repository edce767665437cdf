// QuantizeCommand.swift — `condseg quantize`: bake a float model and its calibration table into one int8 model
// file (int8 weights, per-channel scales, folded biases, the table, `condseg.*` metadata) that --model runs directly.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegRuntime
import Foundation

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a deployable int8 model file from a float model and a calibration table.",
        discussion: "Example: condseg quantize --calibration calibration/condseg-r18w64-kvasir.table.txt --out q.safetensors")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Calibration table made for the model: a file, or the NAME of a bundled table (calibration/NAME.table.txt or share/condseg/NAME.table.txt).")
    var calibration: String

    @Option(name: .long, help: "Output file (.safetensors).", transform: nonEmptyPath)
    var out: String

    mutating func run() throws {
        let modelPath = try modelOptions.modelPath()
        // A quantized model has no float weights left to quantize: say so before anything else.
        if FileManager.default.fileExists(atPath: modelPath),
           let file = try? SafeTensorsFile(path: modelPath), QuantizedModelFile.isQuantized(file) {
            throw InputError(path: modelPath, problem: "already quantized (int8); quantize takes the float model it was made from")
        }
        let calibration = try BundledFiles.calibration(self.calibration)
        var plan = OutputPlan()
        plan.read(modelPath, as: "--model")
        plan.read(calibration, as: "--calibration table")
        plan.write(out, as: "quantized model (--out)")
        try plan.check()
        try AtomicFile.checkWritable(out)
        let model = try modelOptions.loadModel()
        let table = try CalibrationTable.load(path: calibration)
        let bytes = try QuantizedModelFile.serialize(model: model, table: table, tableFile: calibration)
        try AtomicFile.write(bytes, to: out)
        let source = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
        print("wrote \(out): \(bytes.count) bytes (float model \(source) bytes, \(fixed(Double(source) / Double(max(bytes.count, 1)), 2))x smaller)")
    }
}
