using SentenceVae.Evaluation;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>What the <see cref="Trainer"/> needs from a kind of model: its module, batches, loss, evaluation and export.</summary>
public interface ITrainingTask : IDisposable
{
    /// <summary>The model being trained.</summary>
    nn.Module Model { get; }
    /// <summary>Batches in one pass over the training data.</summary>
    int BatchesPerEpoch { get; }

    /// <summary>The loss of batch <paramref name="index"/> of <paramref name="epoch"/> (a scalar with gradient) and the number of target tokens in it.</summary>
    (Tensor Loss, long Tokens) Loss(int epoch, int index);

    /// <summary>Validation metrics; the best checkpoint is the one with the lowest <see cref="EvalResult.Loss"/>.</summary>
    EvalResult Evaluate(int limit);

    /// <summary>Writes a model directory (config, weights in <paramref name="dtype"/>, tokenizer).</summary>
    void SaveModel(string directory, ScalarType dtype);
}
