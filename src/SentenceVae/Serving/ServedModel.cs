using System.Text.Json.Nodes;
using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Serving;

/// <summary>
/// A loaded model as the <see cref="GenerationService"/> serves it: how it reads a prompt (checked against
/// its positions before the request is queued), its decoding engine, and how what the engine writes
/// becomes a request's text. <see cref="ServedSentenceLlm"/> and <see cref="ServedTokenModel"/>.
/// </summary>
public abstract class ServedModel : IDisposable
{
    /// <summary>The name requests use (the directory's name unless given).</summary>
    public string Name { get; }
    /// <summary>The tokenizer text is written with.</summary>
    public ITextTokenizer Tokenizer { get; }
    /// <summary>The model's own generation defaults (its generation_config.json), applied to what a request leaves out; null: the API's defaults.</summary>
    public GenerationConfig? Defaults { get; init; }

    /// <summary>A served model of the given name and tokenizer.</summary>
    protected ServedModel(string name, ITextTokenizer tokenizer)
    {
        Name = name;
        Tokenizer = tokenizer;
    }

    /// <summary>A sentence-level LLM or a token model.</summary>
    public abstract ModelKind Kind { get; }
    /// <summary>The backbone's positions (pieces for a sentence-level model, tokens for a token model).</summary>
    public abstract int MaxPositions { get; }
    /// <summary>Set when the service ends every running completion (shutting down): rows end by length with what they wrote.</summary>
    internal volatile bool Ending;

    /// <summary>True when <see cref="GenerationService.EmbedAsync"/> can use this model (it has a Sentence Encoder).</summary>
    public virtual bool CanEmbed => false;

    /// <summary>Loads a model directory (config.json with model_type <c>sentence_llm</c> or <c>opt</c>, weights, tokenizer).</summary>
    public static ServedModel Load(string directory, string? name = null, Device? device = null, Modules.Kernels.WeightFormat? weights = null)
    {
        var kind = ModelDirectory.Kind(directory, "served", ModelKind.SentenceLlm, ModelKind.TokenModel);
        name ??= Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        var tokenizer = TextTokenizers.Load(directory);
        var defaults = GenerationConfig.Load(directory);
        return kind switch
        {
            ModelKind.SentenceLlm => new ServedSentenceLlm(name, SentenceLlmCheckpoint.Load(directory, device), tokenizer, weights) { Defaults = defaults },
            _ => new ServedTokenModel(name, HuggingFaceCheckpoint.LoadOpt(directory, device), tokenizer, weights) { Defaults = defaults },
        };
    }

    /// <summary>What a row whose probabilities stopped being finite ends with (its batch-mates go on).</summary>
    internal ServingException RowFailed() =>
        new(ServingError.ModelFault, $"model '{Name}' could not continue this request: its next-token probabilities were not finite", null, "model_error");

    /// <summary>Reads the prompt and checks it and the budget against the positions (throws <see cref="ServingException"/>); the request as a row its engine runs.</summary>
    internal ServedRow Prepare(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel)
    {
        var (row, promptTokens) = Read(request, defaultMaxTokens, cancel);
        return new ServedRow(request, this, row, promptTokens, cancel);
    }

    /// <summary>The engine's row for <paramref name="request"/> and the prompt's text tokens; throws <see cref="ServingException"/> when it does not fit.</summary>
    internal abstract (DecodeRow Row, int PromptTokens) Read(CompletionRequest request, int defaultMaxTokens, CancellationToken cancel);

    /// <summary>A decoding engine of <paramref name="capacity"/> rows (made and stepped on the worker thread).</summary>
    internal abstract IDecodeEngine NewEngine(int capacity);

    /// <summary>The text of what the engine wrote for <paramref name="row"/> in one step (a token or a piece).</summary>
    internal abstract string Text(ServedRow row, int[] ids);

    /// <summary>One vector per input (on the worker thread); stops between inputs once <paramref name="cancel"/> fires.</summary>
    internal virtual EmbeddingResult Embed(IReadOnlyList<string> inputs, CancellationToken cancel) => throw EmbedUnsupported();

    /// <summary>
    /// An embedding request's work: what can be done on the caller's thread (reading the inputs) is done
    /// here; the rest runs on the worker in slices (<see cref="EmbeddingJob.Step"/>) that take turns with
    /// decode steps. By default one slice: <see cref="Embed"/>.
    /// </summary>
    internal virtual EmbeddingJob PrepareEmbedding(IReadOnlyList<string> inputs, CancellationToken cancel) => new WholeEmbedding(this, inputs, cancel);

    private sealed class WholeEmbedding(ServedModel model, IReadOnlyList<string> inputs, CancellationToken cancel) : EmbeddingJob
    {
        public override bool Step()
        {
            Result = model.Embed(inputs, cancel);
            return true;
        }
    }

    internal ServingException EmbedUnsupported() =>
        ServingException.Invalid($"model '{Name}' ({Kind.ModelType()}) has no Sentence Encoder and cannot embed; use a sentence-level model", "model");

    /// <summary>Frees the weights.</summary>
    public abstract void Dispose();
}

/// <summary>An embedding request's work on the worker, in slices of bounded size.</summary>
internal abstract class EmbeddingJob
{
    /// <summary>Runs one slice (on the worker thread); true once <see cref="Result"/> is complete.</summary>
    public abstract bool Step();
    /// <summary>The vectors, once <see cref="Step"/> has returned true.</summary>
    public EmbeddingResult? Result { get; protected set; }
}
