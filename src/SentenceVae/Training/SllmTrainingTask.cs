using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Training;

/// <summary>
/// Sentence-level LLM training: windows of up to N pieces per document, scored by <see cref="SentenceLlm.forward"/>:
/// with "ce", the summed NLL of every next piece's tokens + EOS and of every stop decision per token
/// (what <c>svae eval sllm</c> measures); with "focal", the paper's decoder + stop-flag focal losses.
/// Trained end to end from scratch, or from a trained VAE (optionally frozen) and a Hugging Face OPT
/// backbone (optionally all but the first and last k layers frozen), or converted from a trained token
/// model (init_from: the paper's recipe).
/// </summary>
public sealed class SllmTrainingTask : ITrainingTask
{
    private readonly TrainConfig config;
    private readonly SentenceLlm model;
    private readonly ITextTokenizer tokenizer;
    private readonly PieceWindows windows;
    private readonly List<string> validDocuments;
    private readonly SentenceCodec codec;
    private (int Epoch, List<List<PieceWindow>> Batches)? current;

    /// <summary>Reads, splits and tokenizes the training data, builds the model of <paramref name="config"/> and applies its initialisation and freezing.</summary>
    public SllmTrainingTask(TrainConfig config)
    {
        this.config = config;
        tokenizer = TextTokenizers.Load(config.Tokenizer);
        var modelConfig = config.ModelConfig<SentenceLlmConfig>().Validate();
        var svae = modelConfig.Svae;
        if (svae.VocabSize != tokenizer.VocabSize || svae.BosId != tokenizer.BosId || svae.EosId != tokenizer.EosId || svae.PadId != tokenizer.PadId)
            throw new InvalidDataException($"SentenceVAE config (vocab {svae.VocabSize}, bos {svae.BosId}, eos {svae.EosId}, pad {svae.PadId}) does not match tokenizer {tokenizer}");
        if (config.WindowPieces + 1 > modelConfig.MaxPositions) throw new InvalidDataException($"window_pieces {config.WindowPieces} + start vector exceed the backbone's {modelConfig.MaxPositions} positions");
        modelConfig = (modelConfig with { TrainedContext = config.WindowPieces }).Validate();   // what evaluation and generation keep inside
        model = config.InitFrom is null ? new SentenceLlm(modelConfig)
            : ModelDirectory.Kind(config.InitFrom) == ModelKind.SentenceLlm ? Continued(config.InitFrom, modelConfig)
            : TokenModelConversion.Convert(config.InitFrom, modelConfig, config.Conversion);
        if (config.InitSvae is not null) InitSvae(config.InitSvae);
        if (config.InitBackbone is not null) InitBackbone(config.InitBackbone);
        model.Freeze(config.FreezeSvae, config.FinetuneLayers);
        codec = new SentenceCodec(model.Svae);

        var documents = CorpusReader.ReadTokenized(config.TrainData, tokenizer, svae.Splitter(tokenizer)).Select(d => d.PieceIds);
        windows = new PieceWindows(documents, config.WindowPieces, config.BatchSize, config.Seed);
        validDocuments = CorpusReader.ReadDocuments(config.ValidData).ToList();
    }

    /// <summary>A model of <paramref name="modelConfig"/> with every weight of the sentence-level model in <paramref name="directory"/> (fine-tuning it).</summary>
    private static SentenceLlm Continued(string directory, SentenceLlmConfig modelConfig)
    {
        using var trained = SentenceLlmCheckpoint.Load(directory);
        static SentenceLlmConfig Shape(SentenceLlmConfig c) => c with
        {
            TrainedContext = null, SvaePath = null, VectorNoise = 0,
            Svae = c.Svae with { Dropout = 0 }, Backbone = c.Backbone with { Dropout = 0, AttentionDropout = 0, TrainedContext = null, InitStd = 0 },
        };
        if (Shape(trained.Config) != Shape(modelConfig)) throw new InvalidDataException($"init_from {directory}: its config differs from this run's \"model\" block");
        var model = new SentenceLlm(modelConfig);
        StateDicts.LoadFrom(model, trained, directory);
        return model;
    }

    private void InitSvae(string directory)
    {
        using var vae = SentenceVaeCheckpoint.Load(directory);
        if (vae.Config with { Dropout = 0 } != model.Config.Svae with { Dropout = 0 })
            throw new InvalidDataException($"{directory}: its SentenceVAE config differs from the SLLM's \"svae\" config");
        using var noGrad = no_grad();
        StateDicts.LoadStrict(model.Svae, vae.state_dict(), directory);
    }

    private void InitBackbone(string directory)
    {
        using var opt = HuggingFaceCheckpoint.LoadOpt(directory);
        var source = opt.state_dict();
        var mapped = new Dictionary<string, Tensor> { ["llm_pe.weight"] = source["model.decoder.embed_positions.weight"] };
        foreach (var (key, value) in source)
            if (key.StartsWith("model.decoder.layers.", StringComparison.Ordinal)) mapped["llm_layers." + key["model.decoder.layers.".Length..]] = value;
        var keep = model.state_dict().Where(kv => !mapped.ContainsKey(kv.Key)).ToDictionary();
        StateDicts.LoadStrict(model, mapped.Concat(keep).ToDictionary(), directory);
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
        var (ids, mask) = codec.Windows(batch.Select(w => w.Pieces).ToList(), Devices.DeviceOf(model));   // (B, S, T)
        var layout = batch.Select(w => new PieceWindowLayout(w.Pieces.Count, w.StartsDocument, w.EndsDocument)).ToList();
        var loss = model.forward(ids, mask, layout, config.Loss, config.FocalGamma, config.ReconstructionWeight);
        return (loss.Objective, loss.Tokens);
    }

    /// <inheritdoc/>
    public EvalResult Evaluate(int limit) => SllmEvaluator.Evaluate(model, tokenizer, validDocuments, limit);

    /// <inheritdoc/>
    public void SaveModel(string directory, ScalarType dtype) => SentenceLlmCheckpoint.Save(model, directory, tokenizer, dtype);

    /// <inheritdoc/>
    public void Dispose() => model.Dispose();
}
