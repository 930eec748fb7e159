using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>
/// The paper's stop-flag head: hidden (…, C) → logits (…, 2) for [stop, continue]. Its parameters are
/// named as the reference's <c>fc = nn.Linear(hidden, 2)</c> (<c>fc.weight</c>, <c>fc.bias</c>).
/// </summary>
public sealed class StopHead : nn.Module<Tensor, Tensor>
{
    /// <summary>The two classes of the head: the document ends here / another piece follows.</summary>
    public const int Stop = 0, Continue = 1;

    private readonly Parameter weight, bias;

    /// <summary>A head over <paramref name="hidden"/>-wide outputs, initialised as PyTorch's nn.Linear.</summary>
    public StopHead(int hidden) : base(nameof(StopHead))
    {
        using var linear = nn.Linear(hidden, 2);                    // PyTorch's default initialisation
        weight = new Parameter(linear.weight!.detach().clone());
        bias = new Parameter(linear.bias!.detach().clone());
        RegisterComponents();
    }

    /// <summary>Logits (…, 2) of hidden states (…, C).</summary>
    public override Tensor forward(Tensor hidden) => nn.functional.linear(hidden, weight, bias);   // (…, 2)
}
