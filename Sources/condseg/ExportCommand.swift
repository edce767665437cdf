// ExportCommand.swift — `condseg export --onnx OUT.onnx [--calibration TABLE]`: the model's graph as ONNX (opset
// 13), float32, or QDQ int8 with the calibration table's scales and zero points, for runtimes and NPU toolchains
// that take ONNX (ONNX Runtime, TensorRT, RKNN, …). CondSegInterop's ONNXExport does the work.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegInterop
import CondSegRuntime
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the model as ONNX (float32, or QDQ int8 with --calibration).",
        discussion: """
            Opset 13, batch 1 at the model's input size: input `image` (1×3×S×S float32, pixels in the model's \
            channel order times its scale), output `mask` (1×1×S×S probabilities). With --calibration, every \
            convolution the table runs in int8 gets QuantizeLinear/DequantizeLinear on its input (the table's \
            uint8 scale and zero point), per-channel int8 weights and an int32 bias; the rest stays float, as in \
            condseg's own int8 path.
            Example: condseg export --onnx model.onnx --calibration calibration/condseg-r18w64-kvasir.table.txt
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Output ONNX file.", transform: nonEmptyPath)
    var onnx: String

    @Option(name: .long, help: "Calibration table made for the model (a file, or a bundled table's NAME): export QDQ int8 with its scales.")
    var calibration: String?

    func run() throws {
        let modelPath = try modelOptions.modelPath()
        var plan = OutputPlan()
        plan.read(modelPath, as: "--model")
        let calibration = try self.calibration.map(BundledFiles.calibration)
        if let calibration { plan.read(calibration, as: "--calibration table") }
        plan.write(onnx, as: "ONNX model (--onnx)")
        try plan.check()
        try AtomicFile.checkWritable(onnx)
        if FileManager.default.fileExists(atPath: modelPath),
           let file = try? SafeTensorsFile(path: modelPath), QuantizedModelFile.isQuantized(file) {
            throw InputError(path: modelPath, problem: "a quantized (int8) model file; export the float model it was made from, with --calibration and its table")
        }
        let model = try modelOptions.loadModel()
        let table = try calibration.map { try CalibrationTable.load(path: $0) }
        let result = try ONNXExport.export(model: model, table: table, tableFile: calibration ?? "", producerVersion: condsegVersion)
        try AtomicFile.write(result.bytes, to: onnx)
        let kind = table == nil ? "float32" : "QDQ int8 (\(result.int8Convolutions) of \(result.convolutions) convolutions int8)"
        print("wrote \(onnx): \(kind), opset \(ONNXExport.opset), \(result.nodeCount) nodes, \(result.bytes.count) bytes")
    }
}
