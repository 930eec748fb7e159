using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// How a module's projections are computed when its caller says so: libtorch (<see cref="Libtorch"/>,
/// what training and every forward pass use by default), or the decode kernels of an engine's step
/// (<see cref="Kernels.DecodeKernels.Use"/> returns one). Passed explicitly by the step methods that want kernels.
/// </summary>
public interface IProjection
{
    /// <summary><paramref name="layer"/>(x).</summary>
    Tensor Linear(Linear layer, Tensor x);

    /// <summary>x · W[part]ᵀ + b[part] of a fused projection (W split in <paramref name="parts"/> equal row blocks; <paramref name="part"/> −1: all of it).</summary>
    Tensor Project(Tensor weight, Tensor? bias, Tensor x, int part = -1, int parts = 1);

    /// <summary>libtorch's linear: what every forward pass uses unless told otherwise.</summary>
    static IProjection Libtorch { get; } = new LibtorchProjection();

    private sealed class LibtorchProjection : IProjection
    {
        public Tensor Linear(Linear layer, Tensor x) => layer.forward(x);

        public Tensor Project(Tensor weight, Tensor? bias, Tensor x, int part = -1, int parts = 1) =>
            part < 0 ? nn.functional.linear(x, weight, bias) : nn.functional.linear(x, weight.chunk(parts, 0)[part], bias?.chunk(parts, 0)[part]);
    }
}
