using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using SentenceVae.Inference;
using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>
/// Timing the decoding engines (<see cref="IDecodeEngine"/>) — the code that serves — on rows whose
/// prompt is a context of random keys and values (<see cref="DecodeRow.RandomContext"/>: a step's cost
/// depends on the past's length, not its values), and the weight bytes each kind of step reads.
/// </summary>
public static class EngineTiming
{
    /// <summary>Rows join <paramref name="engine"/> (not timed); then the seconds until every one has ended.</summary>
    public static double Write(IDecodeEngine engine, IReadOnlyList<DecodeRow> rows)
    {
        foreach (var row in rows) engine.Add(row);
        TimingStarts.Value?.Invoke(engine);
        var clock = Stopwatch.StartNew();
        while (engine.Count > 0) engine.Step();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Called with the engine just before each timed region starts (tests read what the engine has done by then).</summary>
    internal static readonly AsyncLocal<Action<IDecodeEngine>?> TimingStarts = new();

    /// <summary>Steps a warm-up runs at the least: enough calls for .NET's tiered JIT to have optimised the step's code.</summary>
    public const int WarmUpSteps = 64;

    /// <summary>
    /// The one-time work of an engine, before anything is timed: rows of <paramref name="rows"/> run to their
    /// end until the engine has packed its kernels' weights (a weight format), at least <paramref name="steps"/>
    /// steps have run (first calls), and two rounds in a row took the same time per step within 5 % (the JIT
    /// promotes hot code in the background a while after its first calls; at most 20 rounds). Returns the
    /// seconds it took.
    /// </summary>
    public static double WarmUp(IDecodeEngine engine, Func<IReadOnlyList<DecodeRow>> rows, int steps = WarmUpSteps)
    {
        var clock = Stopwatch.StartNew();
        int done = 0, rounds = 0;
        double previous = double.NaN, perStep = double.NaN;
        do
        {
            previous = perStep;
            foreach (var row in rows()) engine.Add(row);
            var round = Stopwatch.StartNew();
            int before = done;
            for (; engine.Count > 0; done++) engine.Step();
            perStep = round.Elapsed.TotalSeconds / Math.Max(1, done - before);
            rounds++;
        }
        while ((done < steps || !(Math.Abs(perStep / previous - 1) < 0.05)) && rounds < 20);
        if (engine.UsesKernels && engine.KernelWeightBytes == 0) throw new InvalidOperationException("the warm-up ran no step through the decode kernels: their weights are not packed");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>A token model's row: a context of <paramref name="context"/> tokens (BOS included), then <paramref name="tokens"/> tokens (EOS ignored).</summary>
    public static TokenRow TokenRow(int context, int tokens) =>
        new(new int[Math.Max(1, context)]) { RandomContext = true, MaxTokens = tokens, Sampling = new GenerationOptions { StopAtEos = false } };

    /// <summary>A sentence-level model's row: a context of <paramref name="context"/> tokens in pieces of <paramref name="tokensPerPiece"/>, then <paramref name="tokens"/> tokens in such pieces (EOS and the stop head ignored).</summary>
    public static PieceRow PieceRow(int context, int tokens, int tokensPerPiece) =>
        new(Enumerable.Range(0, Pieces(context, tokensPerPiece)).Select(_ => new int[tokensPerPiece]).ToList())
        {
            RandomContext = true, MaxTokens = tokens, IgnoreStop = true, Sampling = new GenerationOptions { MaxNewTokens = tokensPerPiece, StopAtEos = false },
        };

    /// <summary>Pieces holding <paramref name="tokens"/> tokens.</summary>
    public static int Pieces(int tokens, int tokensPerPiece) => (tokens + tokensPerPiece - 1) / tokensPerPiece;

    /// <summary>Weight bytes one token step of a token model reads: the whole model (its weight matrices in <paramref name="weights"/>' size: the kernels compute every projection).</summary>
    public static long TokenStepBytes(OptForCausalLm model, WeightFormat? weights = null) => ParameterBytes(model.parameters(), weights);

    /// <summary>Weight bytes one token step of a sentence-level model reads: the Sentence Decoder (layers and vocabulary projection; the input embedding is read a row at a time).</summary>
    public static long DecoderStepBytes(SentenceLlm model, WeightFormat? weights = null) => ParameterBytes(model.Svae.Decoder.named_parameters()
        .Where(p => !(p.name == "embed_token.weight" && !model.Config.Svae.TieWordEmbeddings)).Select(p => p.parameter), weights);

    /// <summary>Weight bytes read once per piece: the Sentence Encoder (but its embedding; it encodes whole pieces, on libtorch) and the backbone (its matrices in <paramref name="weights"/>' size).</summary>
    public static long PieceStepBytes(SentenceLlm model, WeightFormat? weights = null) =>
        ParameterBytes(model.Svae.Encoder.named_parameters().Where(p => p.name != "embed_token.weight").Select(p => p.parameter))
        + ParameterBytes(model.parameters(), weights) - ParameterBytes(model.Svae.parameters(), weights);

    /// <summary>KV-cache bytes per context token: per position for a token model, per piece ÷ its tokens for a sentence-level model.</summary>
    public static double KvBytesPerToken(OptConfig config) => 2.0 * config.NumHiddenLayers * config.HiddenSize * sizeof(float);

    /// <inheritdoc cref="KvBytesPerToken(OptConfig)"/>
    public static double KvBytesPerToken(SentenceLlmConfig config, double tokensPerPiece) => KvBytesPerToken(config.Backbone) / tokensPerPiece;

    /// <summary>Bytes of a module's parameters, each storage once; with a weight format, matrices (two or more dimensions) at its bytes (<see cref="WeightFormats.Bytes"/>).</summary>
    public static long ParameterBytes(IEnumerable<Tensor> parameters, WeightFormat? weights = null) =>
        parameters.DistinctBy(Checkpoints.StateDicts.StorageKey).Sum(p => weights is { } format && p.dim() >= 2 ? WeightFormats.Bytes(format, p.numel() / p.shape[^1], p.shape[^1]) : p.numel() * p.ElementSize);
}
