using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>Puts a module in eval mode without gradients until disposed, then restores its training flag.</summary>
internal sealed class EvaluationMode : IDisposable
{
    private readonly nn.Module module;
    private readonly bool wasTraining;
    private readonly IDisposable noGrad = no_grad();

    public EvaluationMode(nn.Module module)
    {
        this.module = module;
        wasTraining = module.training;
        module.eval();
    }

    public void Dispose()
    {
        noGrad.Dispose();
        if (wasTraining) module.train();
    }
}
