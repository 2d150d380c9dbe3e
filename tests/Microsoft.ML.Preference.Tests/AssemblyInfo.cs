// TorchSharp keeps process-wide state (the default generator, the thread count, the default dtype) that the
// trainer and several tests set; run test classes one at a time so that no test sees another's state.
// On a 2-core machine libtorch already uses both cores inside each test, so little is lost.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
