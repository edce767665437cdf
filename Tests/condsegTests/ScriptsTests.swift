// ScriptsTests.swift — the Python tools under scripts/ and benchmarks/ say what to install before running them:
// every one that imports a third-party module has a "Needs: pip install …" line naming its pip package.

import CondSegTestSupport
import Foundation
import XCTest

final class ScriptsTests: XCTestCase {
    /// Third-party modules the tools use (import name → pip package); standard-library and local modules are not
    /// listed.
    let packages = ["cv2": "opencv-python-headless", "numpy": "numpy", "torch": "torch", "safetensors": "safetensors",
                    "onnxruntime": "onnxruntime", "onnx": "onnx", "openvino": "openvino", "nncf": "nncf", "jax": "jax",
                    "PIL": "pillow", "scipy": "scipy", "torchvision": "torchvision", "matplotlib": "matplotlib"]

    /// The top-level module names a Python file imports (`import a, b.c as d`, `from a.b import c`, also indented).
    func importedModules(_ text: String) -> Set<String> {
        var modules = Set<String>()
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("import ") {
                for part in line.dropFirst("import ".count).split(separator: ",") {
                    if let name = part.split(separator: " ").first?.split(separator: ".").first { modules.insert(String(name)) }
                }
            } else if line.hasPrefix("from "), line.contains(" import ") {
                let words = line.split(separator: " ")
                if words.count > 1, let name = words[1].split(separator: ".").first { modules.insert(String(name)) }
            }
        }
        return modules
    }

    func testEveryPythonToolNamesWhatItNeeds() throws {
        let root = repositoryRoot.path
        var checked = 0
        for folder in ["scripts", "benchmarks"] {
            let files = FileManager.default.enumerator(atPath: root + "/" + folder)?.compactMap { $0 as? String } ?? []
            for file in files.sorted() where file.hasSuffix(".py") {
                let path = "\(folder)/\(file)"
                let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
                let needed = Set(importedModules(text).compactMap { packages[$0] })
                guard !needed.isEmpty else { continue }
                checked += 1
                let line = text.split(separator: "\n").first { $0.contains("Needs: pip install ") }
                guard let line else { XCTFail("\(path) imports \(needed.sorted()) but has no \"Needs: pip install\" line"); continue }
                let listed = Set(line.components(separatedBy: "Needs: pip install ")[1]
                    .split(whereSeparator: { " ,.()".contains($0) }).map(String.init))
                XCTAssertTrue(needed.isSubset(of: listed), "\(path): \"\(line)\" lacks \(needed.subtracting(listed).sorted())")
            }
        }
        XCTAssertGreaterThan(checked, 5, "the tools were found")
    }
}
