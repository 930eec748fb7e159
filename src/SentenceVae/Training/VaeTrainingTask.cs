using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>SentenceVAE training: reconstruct each piece from its own vector (focal or cross-entropy loss).</summary>
public sealed class VaeTrainingTask : ITrainingTask
{
    private readonly TrainConfig config;
    private readonly SentenceVaeModel model;
    private readonly ITextTokenizer tokenizer;
    private readonly PieceBatches batches;
    private readonly List<string> validPieces;
    private readonly SentenceCodec codec;
    private (int Epoch, List<List<int[]>> Batches)? current;

    /// <summary>Reads, splits and tokenizes the training data and builds the SentenceVAE of <paramref name="config"/>.</summary>
    public VaeTrainingTask(TrainConfig config)
    {
        this.config = config;
        tokenizer = TextTokenizers.Load(config.Tokenizer);
        var modelConfig = config.ModelConfig<SentenceVaeConfig>();
        if (modelConfig.VocabSize != tokenizer.VocabSize || modelConfig.BosId != tokenizer.BosId || modelConfig.EosId != tokenizer.EosId || modelConfig.PadId != tokenizer.PadId)
            throw new InvalidDataException($"model config (vocab {modelConfig.VocabSize}, bos {modelConfig.BosId}, eos {modelConfig.EosId}, pad {modelConfig.PadId}) does not match tokenizer {tokenizer}");
        model = new SentenceVaeModel(modelConfig);
        codec = new SentenceCodec(model, config.BatchSize);
        var splitter = modelConfig.Splitter(tokenizer);
        var train = CorpusReader.ReadTokenized(config.TrainData, tokenizer, splitter).SelectMany(d => d.PieceIds).ToList();
        batches = new PieceBatches(train, config.BatchSize, config.Seed, config.RandomSpans);
        validPieces = CorpusReader.ReadDocuments(config.ValidData).SelectMany(splitter.Split).ToList();
    }

    /// <inheritdoc/>
    public nn.Module Model => model;
    /// <inheritdoc/>
    public int BatchesPerEpoch => batches.BatchesPerEpoch;

    /// <inheritdoc/>
    public (Tensor Loss, long Tokens) Loss(int epoch, int index)
    {
        if (current?.Epoch != epoch) current = (epoch, batches.Epoch(epoch));
        var pieces = current.Value.Batches[index];
        var (ids, mask) = codec.Batch(pieces, Devices.DeviceOf(model));
        var output = model.forward(ids, mask, config.Loss == LossKind.Focal ? config.FocalGamma : 0);
        return (config.Loss == LossKind.Focal ? output.FocalLoss : output.CrossEntropy, pieces.Sum(p => p.Length + 1L));
    }

    /// <summary>Validation on an evenly spaced subset of the validation pieces (deterministic).</summary>
    public EvalResult Evaluate(int limit)
    {
        var subset = limit <= 0 || limit >= validPieces.Count ? validPieces
            : Enumerable.Range(0, limit).Select(i => validPieces[(int)((long)i * validPieces.Count / limit)]).ToList();
        return VaeEvaluator.Evaluate(model, tokenizer, subset, config.BatchSize);
    }

    /// <inheritdoc/>
    public void SaveModel(string directory, ScalarType dtype) => SentenceVaeCheckpoint.Save(model, directory, tokenizer, dtype);

    /// <inheritdoc/>
    public void Dispose() => model.Dispose();
}
