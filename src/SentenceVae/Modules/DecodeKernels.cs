using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// The decode kernels of one model: a <see cref="DecodeLinear"/> per projection, packed the first time a
/// decode step uses it. While an engine's step runs inside <see cref="Use"/>, the layers' projections of
/// at most <see cref="KernelRows"/> rows go through them (<see cref="Linear"/>, <see cref="Project"/>,
/// <see cref="Routed"/> for the vocabulary heads); everything else — training, evaluation, prefill, larger batches — stays on
/// libtorch, whose weights are left as they are.
/// </summary>
public sealed class DecodeKernels(WeightFormat format, int threads = 1)
{
    [ThreadStatic] private static DecodeKernels? current;
    private readonly Dictionary<(IntPtr Weight, int Part), DecodeLinear> packed = [];

    /// <summary>
    /// Most rows a step may have to go through the kernels: measured at 50,272 × 2,048 on this machine
    /// (<c>svae bench --kernel</c>), the kernel takes 0.4–0.7× libtorch's time for one or two rows but 0.69×
    /// for four and 1.27× for eight (it is then bound by arithmetic, not memory), so larger steps stay on libtorch.
    /// </summary>
    public const int KernelRows = 2;

    /// <summary>The weight format of every kernel.</summary>
    public WeightFormat Format => format;

    /// <summary>Bytes of the packed weights so far.</summary>
    public long PackedBytes => packed.Values.Sum(k => k.WeightBytes);

    /// <summary>Routes this thread's projections through these kernels until disposed.</summary>
    public IDisposable Use() => new Scope(this);

    /// <summary><paramref name="layer"/>(x), by a kernel inside a step that uses them and for few rows, else by libtorch.</summary>
    public static Tensor Linear(Linear layer, Tensor x) => current?.Forward(layer.weight!, layer.bias, -1, x) ?? layer.forward(x);

    /// <summary>x · Wᵀ + b by a kernel when this thread's step routes through kernels and x has few rows; else null.</summary>
    public static Tensor? Routed(Tensor weight, Tensor? bias, Tensor x) => current?.Forward(weight, bias, -1, x);

    /// <summary>
    /// x · W[part]ᵀ + b[part] for a fused projection (W split in <paramref name="parts"/> equal row blocks;
    /// <paramref name="part"/> −1: all of it), by a kernel or by libtorch.
    /// </summary>
    public static Tensor Project(Tensor weight, Tensor? bias, Tensor x, int part = -1, int parts = 1)
    {
        if (current?.Forward(weight, bias, part, x, parts) is { } y) return y;
        if (part < 0) return nn.functional.linear(x, weight, bias);
        return nn.functional.linear(x, weight.chunk(parts, 0)[part], bias?.chunk(parts, 0)[part]);
    }

    private Tensor? Forward(Tensor weight, Tensor? bias, int part, Tensor x, int parts = 3)
    {
        if (x.device.type != TorchSharp.DeviceType.CPU || x.NumberOfElements / x.shape[^1] > KernelRows) return null;
        var key = (weight.Handle, part);
        if (!packed.TryGetValue(key, out var kernel))
        {
            using var noGrad = no_grad();
            var w = part < 0 ? weight : weight.chunk(parts, 0)[part];
            var b = bias is null ? null : part < 0 ? bias : bias.chunk(parts, 0)[part];
            packed[key] = kernel = new DecodeLinear(w, b, format, threads);
        }
        return kernel.Forward(x);
    }

    private sealed class Scope : IDisposable
    {
        private readonly DecodeKernels? previous = current;

        public Scope(DecodeKernels kernels) => current = kernels;

        public void Dispose() => current = previous;
    }
}
