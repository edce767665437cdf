// libFuzzer entry point for the checkpoint target (FuzzHarness in Sources/CondSegFuzzHarness); built by scripts/fuzz.sh.
import CondSegFuzzDriver
import CondSegFuzzHarness

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = FuzzHarness.run(.checkpoint, UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// SwiftPM links an executable's `main` to this symbol; it hands control to libFuzzer's driver.
@_cdecl("fuzz_checkpoint_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
