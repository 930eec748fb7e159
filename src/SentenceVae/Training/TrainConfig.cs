using SentenceVae.Modules;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SentenceVae.Training;

/// <summary>
/// One training run, as a JSON file in <c>configs/</c>: which model (its config inline under "model"),
/// which data, and the optimisation schedule. Paths are relative to the working directory.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>"vae", "lm" or "sllm".</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "vae";
    /// <summary>The model's own config (SentenceVAE or OPT, Hugging Face names).</summary>
    [JsonPropertyName("model")] public JsonObject Model { get; init; } = new();
    /// <summary>"compact", "gpt2" or a tokenizer directory.</summary>
    [JsonPropertyName("tokenizer")] public string Tokenizer { get; init; } = "compact";
    /// <summary>Training corpus: UTF-8, one document per line.</summary>
    [JsonPropertyName("train_data")] public string TrainData { get; init; } = "data/austen-train.txt";
    /// <summary>Validation corpus, same format; the best checkpoint is chosen on it.</summary>
    [JsonPropertyName("valid_data")] public string ValidData { get; init; } = "data/austen-valid.txt";

    /// <summary>VAE: pieces per batch. LM: windows per batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 64;
    /// <summary>LM: tokens per training window.</summary>
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; } = 256;

    /// <summary>
    /// VAE: each epoch adds this many (as a fraction of the training pieces) random token spans of the
    /// training text, cut anywhere, with the length distribution of the pieces; 0: pieces only.
    /// </summary>
    [JsonPropertyName("random_spans")] public double RandomSpans { get; init; }

    /// <summary>SLLM: most pieces per training window (the backbone sees one more position: the start vector).</summary>
    [JsonPropertyName("window_pieces")] public int WindowPieces { get; init; } = 64;
    /// <summary>SLLM: a trained SentenceVAE model directory to start from (null: train it from scratch too).</summary>
    [JsonPropertyName("init_svae")] public string? InitSvae { get; init; }
    /// <summary>SLLM: a Hugging Face OPT directory whose layers and positions initialise the backbone (null: from scratch).</summary>
    [JsonPropertyName("init_backbone")] public string? InitBackbone { get; init; }
    /// <summary>
    /// A trained model directory to start from, trained on with this config's fresh schedule: a model of
    /// the run's own kind gives every weight (fine-tuning, continuing); a token model (ours or a Hugging
    /// Face OPT) for an SLLM run is the paper's conversion — its weights mapped as <c>conversion</c> says
    /// (see <see cref="Checkpoints.TokenModelConversion"/>). Null: from scratch.
    /// </summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }
    /// <summary>SLLM with init_from: which of the token model's weights the sentence-level model starts from.</summary>
    [JsonPropertyName("conversion")] public Checkpoints.ConversionMapping Conversion { get; init; } = Checkpoints.ConversionMapping.AllLayers;
    /// <summary>SLLM: keep the SentenceVAE fixed.</summary>
    [JsonPropertyName("freeze_svae")] public bool FreezeSvae { get; init; }
    /// <summary>SLLM: train only the first and last k backbone layers (the reference's finetune_layers); −1: all.</summary>
    [JsonPropertyName("finetune_layers")] public int FinetuneLayers { get; init; } = -1;

    /// <summary>Optimizer steps at most (the cosine schedule ends here unless max_minutes ends it first).</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 10_000;
    /// <summary>Stop (with a checkpoint) after this much training wall time in this and earlier sessions; 0: no limit.</summary>
    [JsonPropertyName("max_minutes")] public double MaxMinutes { get; init; }
    /// <summary>Peak learning rate.</summary>
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 1e-3;
    /// <summary>Learning rate at the end of the cosine decay.</summary>
    [JsonPropertyName("min_lr")] public double MinLearningRate { get; init; } = 1e-4;
    /// <summary>Steps of linear warmup.</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 200;
    /// <summary>AdamW weight decay of 2-D weights.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.01;
    /// <summary>AdamW β1.</summary>
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.98;
    /// <summary>Gradient-norm clipping threshold.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    /// <summary>"focal" (the paper's default) or "ce" (cross entropy; for the SLLM the summed NLL of tokens, EOS and stop decisions per token — what bits per byte measures).</summary>
    [JsonPropertyName("loss")] public LossKind Loss { get; init; } = LossKind.Focal;
    /// <summary>SLLM: weight of an added autoencoder loss (each piece decoded from its own sentence vector); 0: none.</summary>
    [JsonPropertyName("reconstruction_weight")] public double ReconstructionWeight { get; init; }
    /// <summary>γ of the focal loss.</summary>
    [JsonPropertyName("focal_gamma")] public double FocalGamma { get; init; } = 2.0;
    /// <summary>Exponential moving average of the weights (e.g. 0.999); null: off. Evaluation and the saved model use the average.</summary>
    [JsonPropertyName("ema_decay")] public double? EmaDecay { get; init; }

    /// <summary>Validate every this many steps.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 500;
    /// <summary>Validation subset used during training (pieces for the VAE, tokens for the LM); 0: all.</summary>
    [JsonPropertyName("eval_limit")] public int EvalLimit { get; init; } = 4000;
    /// <summary>Write a resumable checkpoint every this many steps.</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 250;
    /// <summary>Log training loss and speed every this many steps.</summary>
    [JsonPropertyName("log_every")] public int LogEvery { get; init; } = 50;
    /// <summary>Seed of initialisation, data order and dropout.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1234;
    /// <summary>Intra-op threads (1 each for two runs side by side on two cores).</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; } = 2;
    /// <summary>Weights dtype of the exported best model ("float32", "float16", "bfloat16"); loaded back as fp32.</summary>
    [JsonPropertyName("export_dtype")] public string ExportDtype { get; init; } = "float32";

    /// <summary>Checks the values; throws <see cref="InvalidDataException"/> listing every problem.</summary>
    public TrainConfig Validate()
    {
        var problems = new List<string>();
        if (Kind is not ("vae" or "lm" or "sllm")) problems.Add($"kind '{Kind}' is not one of vae, lm, sllm");
        if (!Enum.IsDefined(Loss)) problems.Add($"loss {Loss} is not one of focal, ce");
        if (ReconstructionWeight < 0) problems.Add($"reconstruction_weight must be ≥ 0 (is {ReconstructionWeight})");
        if (ExportDtype is not ("float32" or "float16" or "bfloat16")) problems.Add($"export_dtype '{ExportDtype}' is not one of float32, float16, bfloat16");
        foreach (var (name, value) in new[] { ("batch_size", BatchSize), ("seq_len", SeqLen), ("max_steps", MaxSteps), ("eval_every", EvalEvery),
                     ("checkpoint_every", CheckpointEvery), ("log_every", LogEvery), ("threads", Threads), ("window_pieces", WindowPieces) })
            if (value <= 0) problems.Add($"{name} must be positive (is {value})");
        if (LearningRate <= 0 || MinLearningRate < 0 || MinLearningRate > LearningRate) problems.Add("need 0 ≤ min_lr ≤ lr, lr > 0");
        if (InitFrom is not null && Kind == "vae") problems.Add("init_from takes a token model: it is for lm and sllm runs");
        if (InitFrom is not null && InitBackbone is not null) problems.Add("init_from and init_backbone both set: init_from already gives the backbone");
        if (RandomSpans < 0) problems.Add($"random_spans must be ≥ 0 (is {RandomSpans})");
        if (EmaDecay is <= 0 or >= 1) problems.Add($"ema_decay {EmaDecay} must be in (0, 1)");
        if ((long)BatchSize * Math.Max(SeqLen, WindowPieces) > 1 << 20) problems.Add($"batch_size × seq_len (or window_pieces) = {(long)BatchSize * Math.Max(SeqLen, WindowPieces):N0} exceeds {1 << 20:N0} per step");
        if (problems.Count == 0)
        {
            // The model block is checked here too (types, caps, memory), so a bad one fails before any data is read.
            try
            {
                if (Modules.ModelSizes.MemoryProblem("training this model (weights, gradients, Adam's moments, one step's activations)", TrainingBytes()) is { } memory)
                    problems.Add(memory);
            }
            catch (InvalidDataException e) { problems.Add(e.Message); }
        }
        if (problems.Count > 0) throw new InvalidDataException("invalid training config: " + string.Join("; ", problems));
        return this;
    }

    /// <summary>Reads and validates a training config.</summary>
    public static TrainConfig Load(string path) => JsonFile.Load<TrainConfig>(path, c => c.Validate());

    /// <summary>Writes the config as JSON.</summary>
    public void Save(string path) => JsonFile.Save(this, path);

    /// <summary>The "model" block as the model's config type; a value of the wrong type is one line naming its key.</summary>
    public T ModelConfig<T>()
    {
        try { return Model.Deserialize<T>() ?? throw new InvalidDataException("training config: \"model\" is empty"); }
        catch (JsonException e) { throw new InvalidDataException($"training config: model{e.Path?.TrimStart('$')}: {e.Message.Split('.', 2)[0]}"); }
    }

    /// <summary>About how many bytes a training step holds: parameters × 16 (weights, gradients, two Adam moments) and the activations of one batch. Validates the model block (throws <see cref="InvalidDataException"/> naming what is wrong).</summary>
    private double TrainingBytes()
    {
        var (parameters, width, layers, vocab, tokens) = Kind switch
        {
            "lm" => ModelConfig<Modules.OptConfig>().Validate() is var c ? (Modules.ModelSizes.Parameters(c), c.HiddenSize, c.NumHiddenLayers, c.VocabSize, (double)BatchSize * SeqLen) : default,
            "sllm" => ModelConfig<Modules.SentenceLlmConfig>().Validate() is var s ? (Modules.ModelSizes.Parameters(s), Math.Max(s.Svae.HiddenSize, s.Backbone.HiddenSize), s.Backbone.NumHiddenLayers + 2, s.Svae.VocabSize, (double)BatchSize * WindowPieces * s.Svae.MaxSeqLen) : default,
            "vae" => ModelConfig<Modules.SentenceVaeConfig>().Validate() is var v ? (Modules.ModelSizes.Parameters(v), v.HiddenSize, v.NumHiddenLayers + v.NumDecoderLayers, v.VocabSize, (double)BatchSize * v.MaxSeqLen) : default,
            _ => default,
        };
        return parameters * 16 + tokens * (layers * width * 24.0 + vocab * 12.0);
    }
}
