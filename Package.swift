// swift-tools-version:6.0
// condseg: train, quantize and run ConDSeg (medical image segmentation) on Linux, x86-64 and aarch64.
// Data flows one way: weights file -> network description (CondSegCore) -> executors -> masks.
// Calibration (CondSegQuant) and training (CondSegTrain) read the same description.
import PackageDescription

/// The libFuzzer executables have no `main` of their own (libFuzzer supplies it), so they exist only in a fuzz
/// build: `CONDSEG_FUZZ=1 swift build --sanitize=fuzzer …` (scripts/fuzz.sh).
let fuzzing = Context.environment["CONDSEG_FUZZ"] == "1"
let fuzzTargetNames = ["safetensors", "model", "calibration-table", "image", "y4m", "folder-replay", "frame-conversion", "zip", "checkpoint"]
let fuzzTargets: [Target] = fuzzing
    ? [.target(name: "CondSegFuzzDriver", path: "Fuzz/Driver")] + fuzzTargetNames.map { name in
        .executableTarget(name: "fuzz-\(name)", dependencies: ["CondSegFuzzHarness", "CondSegFuzzDriver"], path: "Fuzz/Targets/\(name)")
    }
    : []
/// Targets a fuzz build leaves out: nothing a fuzz executable links, so that one plain `swift build` in fuzz mode
/// compiles exactly the fuzz executables and the modules they need (no CLI, trainer, quantizer or tests).
let notFuzzed: Set<String> = ["condseg", "CondSegQuant", "CondSegTrain", "BuildCommitPlugin", "CondSegTestSupport"]

let package = Package(
    name: "condseg",
    products: fuzzing ? [] : [
        .executable(name: "condseg", targets: ["condseg"]),
        .library(name: "CondSegCore", targets: ["CondSegCore"]),
        .library(name: "CondSegRuntime", targets: ["CondSegRuntime"]),
    ],
    // The fuzz build needs no package from elsewhere (nothing to fetch on a fresh machine).
    dependencies: fuzzing ? [] : [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (pkg-config names as Debian ships them).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // Kernels that need intrinsics: one file per instruction set, chosen at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),

        // Files and failures: atomic writes, output collision checks, the exit-status contract.
        .target(name: "CondSegIO"),
        .target(name: "CondSegCore", dependencies: ["CondSegIO", "COpenBLAS"]),
        .target(name: "CondSegImage", dependencies: ["CondSegIO", "CPNG", "CTurboJPEG"]),
        .target(name: "CondSegQuant", dependencies: ["CondSegIO", "CondSegCore", "CondSegImage", "CondSegRuntime", "CKernels"]),
        .target(name: "CondSegRuntime", dependencies: ["CondSegIO", "CondSegCore", "CondSegImage", "CKernels", "COpenBLAS"]),
        .target(name: "CondSegCapture", dependencies: ["CondSegIO", "CondSegImage", "CV4L2", "CTurboJPEG"]),
        .target(name: "CondSegTrain", dependencies: ["CondSegIO", "CondSegCore", "CondSegImage", "CKernels", "COpenBLAS"]),
        // Bridges to other tools: PyTorch checkpoints in (a restricted unpickler), ONNX out (float and QDQ int8).
        .target(name: "CondSegInterop", dependencies: ["CondSegIO", "CondSegCore", "CondSegRuntime"]),
        .executableTarget(name: "condseg", dependencies: [
            "CondSegIO", "CondSegCore", "CondSegImage", "CondSegQuant", "CondSegRuntime", "CondSegCapture", "CondSegTrain",
            "CondSegInterop",
            "CKernels", "COpenBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], plugins: ["BuildCommitPlugin"]),
        // What each fuzz target feeds to the parsers; shared by the fuzz executables and the corpus replay tests.
        .target(name: "CondSegFuzzHarness", dependencies: ["CondSegCore", "CondSegImage", "CondSegCapture", "CondSegRuntime", "CondSegInterop"]),
        // Generates the `condsegBuildCommit` constant (`condseg --version`) from git at build time.
        .plugin(name: "BuildCommitPlugin", capability: .buildTool()),

        // Shared by the test targets: fixture lookup and comparisons.
        .target(name: "CondSegTestSupport", path: "Tests/Support"),
        .testTarget(name: "CondSegCoreTests", dependencies: ["CondSegCore", "CondSegIO", "CondSegImage", "CondSegTestSupport"]),
        .testTarget(name: "CondSegIOTests", dependencies: ["CondSegIO"]),
        .testTarget(name: "CondSegImageTests", dependencies: ["CondSegImage", "CTurboJPEG", "CondSegTestSupport"]),
        .testTarget(name: "CondSegQuantTests", dependencies: ["CondSegQuant", "CondSegCore", "CondSegRuntime", "CondSegTestSupport"]),
        .testTarget(name: "CondSegRuntimeTests", dependencies: ["CondSegRuntime", "CondSegCore", "CondSegIO", "CondSegQuant", "CondSegImage", "CKernels", "CondSegTestSupport"]),
        .testTarget(name: "CondSegCaptureTests", dependencies: ["CondSegCapture", "CondSegIO", "CondSegImage", "CondSegTestSupport"]),
        .testTarget(name: "CondSegTrainTests", dependencies: ["CondSegTrain", "CondSegCore", "CondSegIO", "CondSegImage", "CondSegTestSupport"]),
        .testTarget(name: "CondSegInteropTests", dependencies: ["CondSegInterop", "CondSegCore", "CondSegRuntime", "CondSegTestSupport"]),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "CondSegIO", "CondSegTestSupport"]),
        // Runs the built `condseg` binary: exit statuses, stderr lines, files left untouched, the installed
        // layout, --version.
        .testTarget(name: "CondSegFuzzHarnessTests", dependencies: ["CondSegFuzzHarness", "CondSegTestSupport"]),
        .testTarget(name: "condsegTests", dependencies: ["condseg", "CondSegImage", "CondSegTestSupport"]),
    ].filter { !fuzzing || ($0.type != .test && !notFuzzed.contains($0.name)) } + fuzzTargets,
    // Swift 5 mode: the kernels hand unsafe pointers to worker threads by design (each chunk writes its own rows).
    swiftLanguageModes: [.v5]
)
