using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>Token-level baseline training: next-token prediction over windows of the document stream.</summary>
public sealed class LmTrainingTask : ITrainingTask
{
    private readonly TrainConfig config;
    private readonly OptForCausalLm model;
    private readonly ITextTokenizer tokenizer;
    private readonly TokenWindows windows;
    private readonly List<string> validDocuments;
    private (int Epoch, List<List<int[]>> Batches)? current;

    /// <summary>Reads and tokenizes the training data and builds the model of <paramref name="config"/>.</summary>
    public LmTrainingTask(TrainConfig config)
    {
        this.config = config;
        tokenizer = TextTokenizers.Load(config.Tokenizer);
        var modelConfig = config.ModelConfig<OptConfig>().Validate();
        if (config.SeqLen > modelConfig.MaxPositionEmbeddings) throw new InvalidDataException($"seq_len {config.SeqLen} exceeds max_position_embeddings {modelConfig.MaxPositionEmbeddings}");
        modelConfig = (modelConfig with { TrainedContext = config.SeqLen }).Validate();   // what evaluation and generation keep inside
        if (modelConfig.VocabSize < tokenizer.VocabSize || modelConfig.BosTokenId != tokenizer.BosId || modelConfig.EosTokenId != tokenizer.EosId || modelConfig.PadTokenId != tokenizer.PadId)
            throw new InvalidDataException($"model config (vocab {modelConfig.VocabSize}, bos {modelConfig.BosTokenId}, eos {modelConfig.EosTokenId}, pad {modelConfig.PadTokenId}) does not match tokenizer {tokenizer}");
        model = new OptForCausalLm(modelConfig);
        if (config.InitFrom is not null) InitFrom(config.InitFrom);
        var documents = CorpusReader.ReadDocuments(config.TrainData).Select(d => tokenizer.Encode(d).ToArray());
        windows = new TokenWindows(documents, tokenizer.BosId, tokenizer.EosId, config.SeqLen, config.BatchSize, config.Seed);
        validDocuments = CorpusReader.ReadDocuments(config.ValidData).ToList();
    }

    /// <summary>Starts from a trained token model of the same shape (every weight; dropout and trained context are this config's).</summary>
    private void InitFrom(string directory)
    {
        using var parent = HuggingFaceCheckpoint.LoadOpt(directory);
        var theirs = parent.Config with { Dropout = 0, AttentionDropout = 0, TrainedContext = null, InitStd = 0 };
        var ours = model.Config with { Dropout = 0, AttentionDropout = 0, TrainedContext = null, InitStd = 0 };
        if (theirs != ours) throw new InvalidDataException($"init_from {directory}: its config differs from this run's \"model\" block");
        StateDicts.LoadFrom(model, parent, directory);
    }

    /// <inheritdoc/>
    public nn.Module Model => model;
    /// <inheritdoc/>
    public int BatchesPerEpoch => windows.BatchesPerEpoch;

    /// <inheritdoc/>
    public (Tensor Loss, long Tokens) Loss(int epoch, int index)
    {
        if (current?.Epoch != epoch) current = (epoch, windows.Epoch(epoch));
        var batch = current.Value.Batches[index];
        int b = batch.Count, t = config.SeqLen;
        var device = Devices.DeviceOf(model);
        var all = tensor(batch.SelectMany(w => w.Select(i => (long)i)).ToArray(), new long[] { b, t + 1 }, device: device);
        var input = all.narrow(1, 0, t);                                         // (B, T)
        var targets = all.narrow(1, 1, t).reshape(-1);                           // (B·T)
        var logits = model.forward(input, ones_like(input)).reshape(b * t, -1);  // (B·T, V)
        var loss = config.Loss == LossKind.Focal ? Losses.Focal(logits, targets, config.FocalGamma) : Losses.CrossEntropy(logits, targets);
        return (loss, (long)b * t);
    }

    /// <summary>Validation bits per byte on the first documents, up to <paramref name="limit"/> tokens (0: all).</summary>
    public EvalResult Evaluate(int limit) => LmEvaluator.Evaluate(model, tokenizer, validDocuments, limit);

    /// <inheritdoc/>
    public void SaveModel(string directory, ScalarType dtype)
    {
        HuggingFaceCheckpoint.SaveOpt(model, directory, dtype);
        tokenizer.Save(directory);
    }

    /// <inheritdoc/>
    public void Dispose() => model.Dispose();
}
