// FakeVideoDevice.swift: the capture tests' name for the library's simulated V4L2 device
// (Sources/CondSegCapture/SimulatedVideoDevice.swift), driven by scripted steps.
import CondSegCapture

typealias FakeVideoDevice = SimulatedVideoDevice
