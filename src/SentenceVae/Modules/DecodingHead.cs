using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// A vocabulary projection for decoding loops. The weight (V, C) is copied once, transposed to (C, V), so
/// that each step's product (B, C) × (C, V) reads the weights in memory order: for a few rows libtorch's
/// linear reads a (V, C) weight at about half the memory bandwidth (measured here, 50,272 × 768, one row:
/// 15 ms against 6.4 ms transposed). A loop makes its own head when it starts, so the copy can never
/// be stale; it costs one pass over the weight, repaid within the first step or two.
/// </summary>
public sealed class DecodingHead : IDisposable
{
    private readonly Tensor transposed;              // (C, V)
    private readonly Tensor? bias;                   // (V)
    private readonly DecodeLinear? kernel;

    /// <summary>
    /// A head for the projection <paramref name="weight"/> (V, C) [+ <paramref name="bias"/> (V)]; with
    /// <paramref name="weights"/>, steps of at most <see cref="KernelRows"/> rows on the CPU go
    /// through a <see cref="DecodeLinear"/> kernel holding the weights in that format.
    /// </summary>
    public DecodingHead(Tensor weight, Tensor? bias, WeightFormat? weights = null, int threads = 1)
    {
        using var noGrad = no_grad();
        transposed = weight.detach().t().contiguous().DetachFromDisposeScope();
        this.bias = bias?.detach().DetachFromDisposeScope();
        if (weights is { } format && weight.device.type == TorchSharp.DeviceType.CPU) kernel = new DecodeLinear(weight, bias, format, threads);
    }

    /// <summary>
    /// Most rows a step may have to go through the kernel: measured at 50,272 × 2,048 on this machine (2
    /// threads), the kernel takes 0.49× libtorch's time for one row and 0.51× for two, but 0.95× for four
    /// and 1.2× for eight (it is then bound by arithmetic, not memory), so larger steps stay on libtorch.
    /// </summary>
    public const int KernelRows = 2;

    /// <summary>The kernel's weight format, or null when libtorch computes every step.</summary>
    public WeightFormat? Weights => kernel?.Format;

    /// <summary>Logits (…, V) of hidden states (…, C), as the projection's linear gives them (up to float rounding).</summary>
    public Tensor Logits(Tensor hidden)
    {
        if (kernel is not null && hidden.device.type == TorchSharp.DeviceType.CPU && hidden.NumberOfElements / hidden.shape[^1] <= KernelRows)
            return kernel.Forward(hidden);
        return bias is null ? hidden.matmul(transposed) : hidden.matmul(transposed).add_(bias);
    }

    /// <summary>Frees the copy.</summary>
    public void Dispose()
    {
        transposed.Dispose();
        bias?.Dispose();
    }
}
