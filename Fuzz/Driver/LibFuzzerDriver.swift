// LibFuzzerDriver.swift — hands a fuzz executable's `main` to libFuzzer's driver. Built only in a fuzz build
// (CONDSEG_FUZZ=1, `-sanitize=fuzzer`, scripts/fuzz.sh), which links the driver; a normal build never sees it.

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Runs libFuzzer's driver (command-line flags, corpus folders) with `callback` as the fuzzed function. Only a
/// fuzz build (`-sanitize=fuzzer`, scripts/fuzz.sh) links the driver; nothing else may call this.
public func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}
