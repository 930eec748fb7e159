// TorchSharp's default random generator (dropout, initialisation) and its thread count are process-wide:
// test classes running in parallel would draw from each other's random streams and make the
// exact-resume and seeded tests flaky. Run the classes one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
