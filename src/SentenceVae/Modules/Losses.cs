using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>The token losses of the paper: focal loss (its default) and plain cross entropy.</summary>
public static class Losses
{
    /// <summary>
    /// Focal loss, mean over rows: −(1 − p_t)^γ · log(p_t + ε), with p_t the softmax probability of the
    /// target. γ = 0 and ε = 0 give cross entropy. ε = 1e-6 as in the reference implementation.
    /// </summary>
    /// <param name="logits">(N, V)</param>
    /// <param name="targets">(N) ids</param>
    /// <param name="gamma">focusing exponent γ</param>
    /// <param name="eps">added inside the log, as the reference does</param>
    public static Tensor Focal(Tensor logits, Tensor targets, double gamma = 2.0, double eps = 1e-6)
    {
        var logProbs = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);   // (N)
        var p = logProbs.exp();
        var weight = gamma == 0 ? ones_like(p) : (1 - p).pow(gamma);
        var logP = eps == 0 ? logProbs : (p + eps).log();
        return -(weight * logP).mean();
    }

    /// <summary>Cross entropy, mean over rows.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets) => nn.functional.cross_entropy(logits, targets);
}
