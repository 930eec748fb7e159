using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules.Kernels;

/// <summary>
/// The decode kernels of one model: a <see cref="DecodeLinear"/> per projection and an <see cref="OptLayerKernel"/>
/// per OPT layer, packed the first time a decode step uses them. While an engine's step runs inside
/// <see cref="Use"/>, steps of at most <see cref="KernelRows"/> rows go through them: the layer stacks' step
/// methods (<see cref="Layers"/>) wholly in C#, the vocabulary heads (<see cref="Routed"/>), and the projections
/// of a module the step passes the scope to as its <see cref="IProjection"/> (the Sentence Encoder's whole
/// pieces, the decoder memory); everything else — training, evaluation, prefill, larger batches — stays on
/// libtorch, whose weights are left as they are.
/// </summary>
/// <remarks>
/// From the first kernel call of a <see cref="Use"/> scope to its end, libtorch runs on one thread: its OpenMP
/// workers otherwise spin on the other core between ops, where the kernels' second thread wants to run
/// (measured on OPT-125M's token step: 20.6–22.0 ms with both on two threads, 16.6–17.3 ms so).
/// </remarks>
public sealed class DecodeKernels(WeightFormat format, int threads = 0)
{
    [ThreadStatic] private static Scope? current;
    private readonly Dictionary<(IntPtr Weight, int Part), DecodeLinear> packed = [];
    private readonly Dictionary<object, ILayerKernel> layers = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Most rows a step may have to go through the kernels (the serving regime): measured at 50,272 × 2,048 on this
    /// machine (<c>svae bench kernel</c>, <c>docs/bench/kernel-50272x2048.md</c>), fp32 kernels on two
    /// threads take 0.65×, 0.35×, 0.47× and 0.60× libtorch's time for 1, 2, 4 and 8 rows (bf16: 0.28–0.42×);
    /// larger steps stay on libtorch, whose blocked products win once arithmetic dominates.
    /// </summary>
    public const int KernelRows = 8;

    /// <summary>The weight format of every kernel.</summary>
    public WeightFormat Format => format;

    /// <summary>Threads each kernel splits its work over: as given, else as many as libtorch uses when the kernels are made.</summary>
    public int Threads { get; } = threads > 0 ? threads : Math.Max(1, get_num_threads());

    /// <summary>Bytes of weights the kernels made so far read per call (in their format).</summary>
    public long PackedBytes => packed.Values.Sum(k => k.WeightBytes) + layers.Values.Sum(l => l.WeightBytes);

    /// <summary>Bytes the kernels hold beside the model's weights: the bf16 copies (fp32 kernels read the model's own).</summary>
    public long CopiedBytes => packed.Values.Sum(k => k.CopiedBytes) + layers.Values.Sum(l => l.CopiedBytes);

    /// <summary>
    /// Routes this thread's projections through these kernels until disposed; with <paramref name="singleThreadedLibtorch"/>,
    /// libtorch runs on one thread from the start of the scope, not from its first kernel call (for a step whose
    /// libtorch work before the kernels would otherwise leave OpenMP workers spinning beside them).
    /// </summary>
    /// <param name="singleThreadedLibtorch">libtorch on one thread from the start</param>
    /// <param name="rows">most rows a product may have to go through the kernels (default <see cref="KernelRows"/>)</param>
    public Scope Use(bool singleThreadedLibtorch = false, int rows = KernelRows)
    {
        if (rows < 1 || rows > DecodeLinear.MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"1 to {DecodeLinear.MaxRows} rows");
        var scope = new Scope(this) { Rows = rows };
        if (singleThreadedLibtorch) scope.KernelCalled();
        return scope;
    }

    /// <summary>x · Wᵀ + b by a kernel when this thread's step routes through kernels and x has few rows; else null (the vocabulary heads of a step).</summary>
    public static Tensor? Routed(Tensor weight, Tensor? bias, Tensor x) => Forward(current, weight, bias, -1, x);

    /// <summary>
    /// A stack of layers' step of x (n, 1, C) wholly in C# (<see cref="OptLayerKernel"/>, <see cref="SentenceDecoderLayerKernel"/>)
    /// when this thread's step routes through kernels and n is at most the scope's rows; else null (the caller runs the layers).
    /// Layer i is <paramref name="stack"/>(i) of <paramref name="count"/>; its kernel is made by <paramref name="pack"/> the first
    /// time; <paramref name="run"/> steps it (x, rows, layer index).
    /// </summary>
    internal static Tensor? Layers<TLayer, TKernel>(int count, Func<int, TLayer> stack, Tensor x, SlotKvCache.SlotStep step,
        Func<TLayer, WeightFormat, int, TKernel> pack, Action<TKernel, float[], int, int> run)
        where TLayer : class where TKernel : class, ILayerKernel
    {
        if (current is not { } scope || !scope.Takes(x) || !step.InHostMemory) return null;
        scope.KernelCalled();
        var kernels = scope.Kernels;
        int rows = (int)(x.NumberOfElements / x.shape[^1]);
        var h = x.contiguous().data<float>().ToArray();                     // (n·C), updated in place layer by layer
        for (int i = 0; i < count; i++)
        {
            var module = stack(i);
            if (!kernels.layers.TryGetValue(module, out var layer))
                kernels.layers[module] = layer = pack(module, kernels.Format, kernels.Threads);
            run((TKernel)layer, h, rows, i);
        }
        return tensor(h, x.shape);                                          // (n, 1, C)
    }

    private static Tensor? Forward(Scope? scope, Tensor weight, Tensor? bias, int part, Tensor x, int parts = 3)
    {
        if (scope is null || !scope.Takes(x)) return null;
        scope.KernelCalled();
        var kernels = scope.Kernels;
        var key = (weight.Handle, part);
        if (!kernels.packed.TryGetValue(key, out var kernel))
        {
            using var noGrad = no_grad();
            var w = part < 0 ? weight : weight.chunk(parts, 0)[part];
            var b = bias is null ? null : part < 0 ? bias : bias.chunk(parts, 0)[part];
            kernels.packed[key] = kernel = new DecodeLinear(w, b, kernels.Format, kernels.Threads);
        }
        return kernel.Forward(x);
    }

    /// <summary>
    /// A step's use of the kernels (<see cref="Use"/>): routes the thread's layer stacks and heads until disposed, and is the
    /// <see cref="IProjection"/> a step passes to modules whose projections it wants on the kernels (few rows: a kernel; else libtorch).
    /// </summary>
    public sealed class Scope : IDisposable, IProjection
    {
        private readonly Scope? previous = current;
        private int torchThreads;                                       // libtorch's threads before this scope's first kernel call (0: none yet)

        internal Scope(DecodeKernels kernels)
        {
            Kernels = kernels;
            current = this;
        }

        /// <summary>The kernels this scope uses.</summary>
        public DecodeKernels Kernels { get; }

        /// <summary>Most rows a product may have to go through the kernels.</summary>
        public int Rows { get; init; } = KernelRows;

        /// <inheritdoc/>
        public Tensor Linear(Linear layer, Tensor x) => Forward(this, layer.weight!, layer.bias, -1, x) ?? layer.forward(x);

        /// <inheritdoc/>
        public Tensor Project(Tensor weight, Tensor? bias, Tensor x, int part = -1, int parts = 1) =>
            Forward(this, weight, bias, part, x, parts) ?? IProjection.Libtorch.Project(weight, bias, x, part, parts);

        internal bool Takes(Tensor x) =>
            x.device.type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && x.NumberOfElements / x.shape[^1] <= Rows;

        // From the first kernel call on, libtorch runs on one thread (see the class remarks).
        internal void KernelCalled()
        {
            if (torchThreads != 0) return;
            torchThreads = get_num_threads();
            if (torchThreads > 1) set_num_threads(1);
        }

        /// <summary>Ends the scope: the thread's previous scope (or none) routes again, libtorch gets its threads back.</summary>
        public void Dispose()
        {
            current = previous;
            if (torchThreads > 1) set_num_threads(torchThreads);
        }
    }
}
